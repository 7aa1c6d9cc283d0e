// Copyright (c) kvd authors.
//
// Operation: one client operation on one key, as recorded by a test harness (jepsen/, tests/sim)
// and consumed by the linearizability checker (checker.h).
//
// An Operation is a plain value type; it owns its strings. Functions here are pure and
// thread-safe.

#ifndef KVD_JEPSEN_CHECKER_OPERATION_H_
#define KVD_JEPSEN_CHECKER_OPERATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvd::lincheck {

enum class OpType { kRead, kWrite, kCas, kDelete, kAppend };

enum class Outcome {
  kOk,       // Took effect, with the recorded result.
  kFail,     // Definitely did not take effect (for kCas: the comparison failed).
  kUnknown,  // May have taken effect at any point after `call`, or never (a timeout, a crash).
};

struct Operation {
  int64_t process = 0;  // Client/process id; only used in reports.
  std::string key{};
  OpType type = OpType::kRead;
  // kWrite/kAppend: the argument (required). kCas: the new value (nullopt = delete the key).
  std::optional<std::string> value{};
  // kCas: the value compared against (nullopt = the key is absent).
  std::optional<std::string> expected{};
  Outcome outcome = Outcome::kOk;
  // kRead with kOk: the value read (nullopt = absent).
  std::optional<std::string> result{};
  int64_t call = 0;  // Invocation time, any monotonic unit.
  int64_t ret = 0;   // Completion time, >= call. Ignored for kUnknown (treated as +infinity).
};

std::string_view OpTypeName(OpType type);       // "read", "write", "cas", "delete", "append".
std::string_view OutcomeName(Outcome outcome);  // "ok", "fail", "unknown".

// A value as it appears in reports: quoted with C escapes, or `nil` for nullopt.
std::string FormatValue(const std::optional<std::string>& value);

// One line, no trailing newline, e.g.
//   p3 cas key="x" expected="1" value="4" fail call=12 ret=15
//   p0 read key="x" -> nil ok call=3 ret=9
//   p7 write key="x" value="2" unknown call=20 ret=inf
std::string FormatOperation(const Operation& op);

}  // namespace kvd::lincheck

#endif  // KVD_JEPSEN_CHECKER_OPERATION_H_
