// datadriven: a tiny reader and rewriter of golden scenario scripts, in the style of
// cockroachdb/datadriven as used by etcd-io/raft's testdata/*.txt.
//
// A script is a sequence of blocks separated by blank lines; lines starting with '#' between
// blocks are comments. A block is one command line, a "----" line, then the expected output up to
// the next blank line:
//
//   command posarg key=value key=(1,2,3) (4 5)
//   ----
//   expected output
//
// Output that itself contains blank lines is fenced by a doubled separator:
//
//   command
//   ----
//   ----
//   output with
//
//   a blank line
//   ----
//   ----
//
// Rewrite() regenerates the file with new outputs, keeping commands and comments byte for byte.
// Not thread-safe; one test owns one Script.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvd::datadriven {

// One argument: "key" (vals empty), "key=v", "key=(a,b)", or a positional group "(a b)" (key
// empty). Values inside parentheses may be separated by commas or spaces.
struct CmdArg {
  std::string key;
  std::vector<std::string> vals;
};

struct TestData {
  std::string pos;  // "file:line" of the command, for failure messages
  std::string cmd;
  std::vector<CmdArg> args;
  std::string expected;
};

class Script {
 public:
  // Reads and parses 'path'. On a syntax error returns false and sets *error.
  bool Load(const std::string& path, std::string* error);

  std::vector<TestData>& blocks() { return blocks_; }

  // Writes the script back with 'outputs' (one per block) as the expected outputs.
  bool Rewrite(const std::vector<std::string>& outputs, std::string* error) const;

 private:
  std::string path_;
  std::vector<TestData> blocks_;
  std::vector<std::string> prefixes_;  // raw text before each block's output (incl. "----")
  std::string trailer_;                // raw text after the last output
};

// Parses one command line into *td (cmd and args). Returns false on unbalanced parentheses.
bool ParseCommandLine(const std::string& line, TestData* td);

// Formats an output for the file: ensures a final newline and fences it if it has blank lines.
std::string FormatOutput(const std::string& output);

}  // namespace kvd::datadriven
