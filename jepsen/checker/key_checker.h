// Copyright (c) kvd authors.
//
// The per-key half of Check() (checker.h): drops operations without information, interns the
// rest into a Model, and runs the Wing-Gong-Lowe search with Lowe's memoization over them.
// When the key is not linearizable it reruns the (deterministic) search up to the first moment
// it reached its greatest depth and reports that configuration: the linearized prefix, the
// model state, and the pending operations, none of which can be linearized next.
//
// Internal to kvd_lincheck. CheckKey() borrows `ops` and `options`; it shares no state with
// other calls, so keys may be checked on different threads.

#ifndef KVD_JEPSEN_CHECKER_KEY_CHECKER_H_
#define KVD_JEPSEN_CHECKER_KEY_CHECKER_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "jepsen/checker/checker.h"
#include "jepsen/checker/operation.h"

namespace kvd::lincheck {

struct KeyCheck {
  KeyResult result;
  bool out_of_states = false;  // Gave up at `max_states`: a larger allowance may finish.
};

// Searches with `max_states` in place of options.max_states (0 = unlimited).
// Preconditions: every op has key == `key`; options.clock is set.
KeyCheck CheckKey(const std::string& key, const std::vector<const Operation*>& ops,
                  const CheckOptions& options, uint64_t max_states,
                  std::optional<std::chrono::steady_clock::time_point> deadline);

}  // namespace kvd::lincheck

#endif  // KVD_JEPSEN_CHECKER_KEY_CHECKER_H_
