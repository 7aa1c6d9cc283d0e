// kvctl: the command-line client for kvd (HTTP API v1, docs/api.md). This is the testable body
// of the tool; kvctl_main.cc only wires it to the process (argv, std streams, environment).
//
// Exit codes (also in `kvctl --help`):
//   0  success
//   1  not found, or a precondition failed (version mismatch, conflict): nothing was changed;
//      `txn --require-success`: the compares did not hold (the else ops ran)
//   2  usage error (bad flags or arguments)
//   3  unavailable: no endpoint could be reached, or the cluster answered 503/429 (nothing applied)
//   4  outcome unknown: no answer in time or 504; a write may or may not have been applied
//   5  any other error (server error, malformed response, unreadable input)
//   6  `lock run`: the lock was lost while CMD ran (fenced, or no keepalive succeeded in time);
//      CMD was terminated. Otherwise `lock run` exits with CMD's own status.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>

namespace kvd::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitNotFound = 1,  // also: precondition failed
  kExitUsage = 2,
  kExitUnavailable = 3,
  kExitUnknownOutcome = 4,
  kExitError = 5,
  kExitLockLost = 6,  // lock run: the lock was lost and CMD terminated
};

// Default endpoint when neither --endpoints nor KVCTL_ENDPOINTS is given.
inline constexpr const char* kDefaultEndpoint = "127.0.0.1:8080";

// Everything kvctl touches outside its arguments, so tests can substitute it.
struct KvctlEnv {
  std::istream& in;                      // values for `put KEY -`
  std::ostream& out;                     // results
  std::ostream& err;                     // one-line errors
  std::optional<std::string> endpoints;  // $KVCTL_ENDPOINTS
  bool out_is_terminal = false;          // `get` adds a newline to the value only on a terminal
};

// Parses argv, runs one command, returns the exit code. Never throws.
int RunKvctl(int argc, const char* const* argv, KvctlEnv& env);

}  // namespace kvd::cli
