// Copyright (c) kvd authors.
//
// Parsers for the labelled histories of the Porcupine project (jepsen/checker/testdata/porcupine,
// formats described in its README.md), used as ground truth for the checker.
//
// ParseJepsenRegisterLog: test_data/jepsen/etcd_NNN.log, Jepsen log lines such as
//   INFO  jepsen.util - 3	:invoke	:cas	[1 4]
// for one register (every op gets key kJepsenRegisterKey; values stay the numbers' text).
// `:info` completions and invocations never completed are kUnknown; `:fail` is kFail (for a
// cas: the comparison failed). Lines without "jepsen.util - " and nemesis lines are skipped.
//
// ParseKvLog: test_data/kv/cNN-{ok,bad}.txt, one Clojure map per line such as
//   {:process 0, :type :ok, :f :get, :key "4", :value "x 0 1 y"}
// with :f one of :get (kRead), :put (kWrite), :append (kAppend), for ModelKind::kAppendString.
// Invocations never completed are kUnknown.
//
// Both use logical time: an event's call/ret is its 1-based line number. Operations come out
// in invocation order. Pure functions of their input; thread-safe. Errors are returned, never
// thrown: the first malformed line is reported as "line N: reason".

#ifndef KVD_JEPSEN_CHECKER_PORCUPINE_FORMAT_H_
#define KVD_JEPSEN_CHECKER_PORCUPINE_FORMAT_H_

#include <string>
#include <string_view>
#include <vector>

#include "jepsen/checker/operation.h"

namespace kvd::lincheck {

inline constexpr std::string_view kJepsenRegisterKey = "register";

struct ParsedHistory {
  std::vector<Operation> history{};
  std::string error{};  // Empty on success; `history` is empty on failure.
  bool ok() const { return error.empty(); }
};

[[nodiscard]] ParsedHistory ParseJepsenRegisterLog(std::string_view text);
[[nodiscard]] ParsedHistory ParseKvLog(std::string_view text);

}  // namespace kvd::lincheck

#endif  // KVD_JEPSEN_CHECKER_PORCUPINE_FORMAT_H_
