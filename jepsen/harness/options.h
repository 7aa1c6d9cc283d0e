// Copyright (c) kvd authors.
//
// Options of one kvd_jepsen run (flags documented in jepsen/README.md).

#ifndef KVD_JEPSEN_HARNESS_OPTIONS_H_
#define KVD_JEPSEN_HARNESS_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kvd::jepsen {

enum class Workload { kRegister, kSet };
enum class FaultKind { kKill, kPause, kPartition };
const char* WorkloadName(Workload w);
const char* FaultName(FaultKind f);

struct Options {
  int nodes = 3;
  Workload workload = Workload::kRegister;
  std::vector<FaultKind> nemeses;  // empty: no faults
  double time_s = 30;              // length of the faulty phase
  int concurrency = 10;
  uint64_t seed = 0;  // 0: pick one from the clock (printed, so a run can be repeated)
  std::string out_dir;
  std::string kvd_path;
  int active_keys = 3;     // register: keys in use at a time
  int ops_per_key = 200;   // register: then the key is retired and a fresh one starts
  double warmup_s = 3;     // fault-free time at the start (measures ops/s before faults)
  double fault_min_s = 5;  // a fault every fault_min_s..fault_max_s
  double fault_max_s = 10;
  int client_timeout_ms = 3000;  // per HTTP attempt; an op with no answer is unknown
  int kvd_request_timeout_ms = 1500;
  int tick_ms = 50;
  bool skip_unavailable = false;  // run without a nemesis that cannot run here (reported)
  double checker_budget_s = 120;
  // Planted bug, to prove the harness has teeth: reads ask for ?consistency=stale from one node
  // per worker (local state, no ReadIndex) but are recorded and checked as linearizable reads.
  bool expect_anomaly = false;
  std::vector<std::string> kvd_args;  // extra flags for every kvd (e.g. a planted-bug switch)  //
                                      // exit 0 only if the checker finds an anomaly (for the above)
};

// Parses argv; on --help or an error prints and returns nullopt with *exit_code set.
std::optional<Options> ParseOptions(int argc, char** argv, int* exit_code);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_OPTIONS_H_
