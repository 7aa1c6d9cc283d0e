// Copyright (c) kvd authors.
//
// One Jepsen run: start the cluster, run the workload under the nemesis, heal, read everything,
// check, and write the output directory (history.jsonl, nemesis.log, summary.json, report.html).
//
// Exit codes: 0 pass; 1 anomaly (the checker found the history invalid, or could not decide);
// 2 setup error (bad flags, a requested nemesis unavailable, the cluster did not start);
// 3 vacuous or not live (no throughput before faults, a fault that did not visibly act, final
// operations that did not succeed); 130 interrupted.

#ifndef KVD_JEPSEN_HARNESS_RUN_H_
#define KVD_JEPSEN_HARNESS_RUN_H_

#include <atomic>
#include <functional>

#include "jepsen/harness/options.h"

namespace kvd::jepsen {

// Set by the signal-handling thread on SIGINT/SIGTERM; the run then heals, cleans up and ends.
extern std::atomic<bool> g_interrupted;

// Called by the signal-handling thread on a second signal, just before it exits the process:
// removes iptables rules and kills the kvd processes. Run() installs and clears it.
void EmergencyCleanup();

int Run(const Options& options);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_RUN_H_
