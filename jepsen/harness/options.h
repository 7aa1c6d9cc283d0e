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

enum class Workload { kRegister, kSet, kLock, kBank, kAppend };
// kill -9 / SIGSTOP a node; partition: isolate a node, the leader, or a minority holding the
// leader; ring and bridge: overlapping majorities (topology.h); loss: drop a fraction of peer
// packets; delay: tc netem on peer packets.
enum class FaultKind { kKill, kPause, kPartition, kRing, kBridge, kLoss, kDelay };
const char* WorkloadName(Workload w);
const char* FaultName(FaultKind f);
// Faults made with iptables (Partitioner), and with tc (Netem).
bool UsesIptables(FaultKind f);
bool UsesTc(FaultKind f);
// Faults that target the leader first and so must show a leader change (kill, pause, partition);
// ring, bridge, loss and delay leave the leader a majority.
bool TargetsLeader(FaultKind f);

struct Options {
  int nodes = 3;
  // Data shards (kvd --shards, with --replication 3; with one shard, --replication = nodes).
  // Above 1, "the leader" a nemesis targets is the node leading the most shards, and the
  // register workload keeps at least 2 keys per shard in use.
  int shards = 1;
  Workload workload = Workload::kRegister;
  std::vector<FaultKind> nemeses;  // empty: no faults
  // The crash nemesis (crash_watch.h): every node runs with KVD_CRASH_AT=crash_at and
  // KVD_CRASH_ONE_IN=crash_one_in, and a node that exits on its own is restarted. Requested by
  // `crash` in --nemesis or by --crash-at; needs crash_at.
  bool crash = false;
  std::string crash_at;
  int crash_one_in = 10;
  double time_s = 30;  // length of the faulty phase
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
  double loss_probability = 0.2;  // loss: each peer packet is dropped with this probability
  int delay_ms = 100;             // delay: each peer packet waits this long, ± half of it
  // Exit 0 only if an anomaly is found: proves a planted-bug build of kvd is caught.
  bool expect_anomaly = false;
  std::vector<std::string> kvd_args;  // extra flags for every kvd
  // Node started with extra flags after the shared ones (0: none), e.g. --vnodes=101: a node
  // whose configuration disagrees with the rest's.
  int misconfigure_node = 0;
  std::vector<std::string> misconfigure_args;
  // lock (lock_workload.h): locks contended for, each guarding one key; the lease; how long an
  // acquire waits for a held lock; the fraction of critical sections that sleep 2 x TTL before
  // writing; the lock in another shard than its key (needs --shards 2 or more).
  int lock_count = 2;
  int lock_ttl_ms = 1000;
  int lock_wait_ms = 2000;
  double lock_stall_probability = 0.1;
  bool lock_other_shard = false;
  // bank (bank_workload.h): accounts, spread over the shards; the fraction of operations that
  // read every account.
  int accounts = 8;
  double read_all_fraction = 0.25;
  // append (append_workload.h): keys in use at a time, spread over the shards; micro-ops per
  // key before it is retired and a fresh one takes its place.
  int txn_keys = 8;
  int txn_ops_per_key = 64;
};

// The workloads made of transactions (POST /v1/txn).
inline bool IsTxnWorkload(Workload w) { return w == Workload::kBank || w == Workload::kAppend; }

// The crash points a test build of kvd may stop at (kv/node_core.cc CrashPointName).
bool IsCrashPoint(const std::string& name);

// Parses argv; on --help or an error prints and returns nullopt with *exit_code set.
std::optional<Options> ParseOptions(int argc, char** argv, int* exit_code);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_OPTIONS_H_
