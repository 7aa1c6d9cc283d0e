#include "tests/scenario/datadriven.h"

#include <fstream>
#include <sstream>

namespace kvd::datadriven {
namespace {

const char kSeparator[] = "----";

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// Splits "a,b c" into {"a", "b", "c"}.
std::vector<std::string> SplitValues(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',' || c == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

bool ParseCommandLine(const std::string& line, TestData* td) {
  // Tokens are separated by spaces, except inside parentheses.
  std::vector<std::string> tokens;
  std::string cur;
  int depth = 0;
  for (char c : line) {
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0) return false;
    if (c == ' ' && depth == 0) {
      if (!cur.empty()) tokens.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (depth != 0) return false;
  if (!cur.empty()) tokens.push_back(cur);
  if (tokens.empty()) return false;
  td->cmd = tokens[0];
  td->args.clear();
  for (size_t i = 1; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    CmdArg arg;
    std::string value;
    const size_t eq = t.find('=');
    if (t.front() == '(') {
      value = t;
    } else if (eq == std::string::npos) {
      arg.key = t;
    } else {
      arg.key = t.substr(0, eq);
      value = t.substr(eq + 1);
    }
    if (!value.empty() && value.front() == '(') {
      if (value.back() != ')') return false;
      arg.vals = SplitValues(value.substr(1, value.size() - 2));
    } else if (eq != std::string::npos) {
      arg.vals.push_back(value);
    }
    td->args.push_back(std::move(arg));
  }
  return true;
}

bool Script::Load(const std::string& path, std::string* error) {
  path_ = path;
  std::ifstream in(path);
  if (!in) {
    *error = "cannot open " + path;
    return false;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const std::vector<std::string> lines = SplitLines(buf.str());
  std::string pending;
  size_t i = 0;
  while (i < lines.size()) {
    const std::string& line = lines[i];
    if (line.empty() || line[0] == '#') {
      pending += line + "\n";
      ++i;
      continue;
    }
    TestData td;
    td.pos = path + ":" + std::to_string(i + 1);
    if (!ParseCommandLine(line, &td)) {
      *error = td.pos + ": cannot parse command: " + line;
      return false;
    }
    pending += line + "\n";
    if (++i >= lines.size() || lines[i] != kSeparator) {
      *error = td.pos + ": expected " + kSeparator + " after the command";
      return false;
    }
    pending += lines[i++] + "\n";
    prefixes_.push_back(std::move(pending));
    pending.clear();
    if (i < lines.size() && lines[i] == kSeparator) {
      // Fenced output: up to a doubled separator.
      ++i;
      while (i + 1 < lines.size() && !(lines[i] == kSeparator && lines[i + 1] == kSeparator)) {
        td.expected += lines[i++] + "\n";
      }
      if (i + 1 >= lines.size()) {
        *error = td.pos + ": unterminated fenced output";
        return false;
      }
      i += 2;
    } else {
      while (i < lines.size() && !lines[i].empty()) td.expected += lines[i++] + "\n";
    }
    blocks_.push_back(std::move(td));
  }
  trailer_ = std::move(pending);
  return true;
}

std::string FormatOutput(const std::string& output) {
  if (output.empty()) return output;
  std::string out = output;
  if (out.back() != '\n') out += '\n';
  if (out.front() == '\n' || out.find("\n\n") != std::string::npos) {
    return std::string(kSeparator) + "\n" + out + kSeparator + "\n" + kSeparator + "\n";
  }
  return out;
}

bool Script::Rewrite(const std::vector<std::string>& outputs, std::string* error) const {
  if (outputs.size() != blocks_.size()) {
    *error = "output count does not match the block count";
    return false;
  }
  std::string text;
  for (size_t k = 0; k < blocks_.size(); ++k) text += prefixes_[k] + FormatOutput(outputs[k]);
  text += trailer_;
  std::ofstream out(path_, std::ios::trunc);
  out << text;
  if (!out) {
    *error = "cannot write " + path_;
    return false;
  }
  return true;
}

}  // namespace kvd::datadriven
