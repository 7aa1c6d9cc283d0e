// Copyright (c) kvd authors.
//
// The set workload's final check. After healing, one linearizable scan of "set/" must contain
// every acknowledged add (none lost) and nothing that was never attempted or definitely failed
// (nothing from nowhere); adds with an unknown outcome may be present or not. Then every node's
// stale scan must converge (within a timeout) to contain every acknowledged add.

#ifndef KVD_JEPSEN_HARNESS_SET_CHECK_H_
#define KVD_JEPSEN_HARNESS_SET_CHECK_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "jepsen/harness/history.h"
#include "jepsen/harness/workload.h"

namespace kvd::jepsen {

struct SetCheckResult {
  bool final_read_ok = false;  // the linearizable scan succeeded
  size_t attempted = 0, acknowledged = 0, failed = 0, unknown = 0;
  size_t present = 0;
  size_t unknown_present = 0;           // unknown adds that did take effect
  std::vector<std::string> lost;        // acknowledged, absent
  std::vector<std::string> unexpected;  // present, never attempted or definitely failed
  std::vector<int> nodes_not_converged;
  double elapsed_ms = 0;
  bool valid() const {
    return final_read_ok && lost.empty() && unexpected.empty() && nodes_not_converged.empty();
  }
};

// `node_endpoints[i]` is node i+1's HTTP address. Records the linearizable scan in `history`.
SetCheckResult CheckSet(const std::vector<std::string>& node_endpoints, History& history,
                        Clock::time_point start, std::chrono::seconds timeout);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_SET_CHECK_H_
