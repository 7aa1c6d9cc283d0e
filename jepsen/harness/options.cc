// Copyright (c) kvd authors.

#include "jepsen/harness/options.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <sstream>

namespace kvd::jepsen {

const char* WorkloadName(Workload w) {
  switch (w) {
    case Workload::kRegister:
      return "register";
    case Workload::kSet:
      return "set";
    case Workload::kLock:
      return "lock";
    case Workload::kBank:
      return "bank";
    case Workload::kAppend:
      return "append";
  }
  return "?";
}

const char* FaultName(FaultKind f) {
  switch (f) {
    case FaultKind::kKill:
      return "kill";
    case FaultKind::kPause:
      return "pause";
    case FaultKind::kPartition:
      return "partition";
    case FaultKind::kRing:
      return "ring";
    case FaultKind::kBridge:
      return "bridge";
    case FaultKind::kLoss:
      return "loss";
    case FaultKind::kDelay:
      return "delay";
  }
  return "?";
}

bool UsesIptables(FaultKind f) {
  return f == FaultKind::kPartition || f == FaultKind::kRing || f == FaultKind::kBridge ||
         f == FaultKind::kLoss;
}

bool UsesTc(FaultKind f) { return f == FaultKind::kDelay; }

bool TargetsLeader(FaultKind f) {
  return f == FaultKind::kKill || f == FaultKind::kPause || f == FaultKind::kPartition;
}

bool IsCrashPoint(const std::string& name) {
  for (const char* p :
       {"after-snapshot-install", "after-log-write", "after-apply", "after-compaction-sync",
        "after-compaction", "after-boot", "open-failed", "txn-after-record", "txn-after-prepare",
        "txn-after-decide-proposed", "txn-after-commit"}) {
    if (name == p) return true;
  }
  return false;
}

std::optional<Options> ParseOptions(int argc, char** argv, int* exit_code) {
  Options o;
  std::string workload = "register", nemesis = "none";
  CLI::App app{"kvd_jepsen: linearizability testing of a real kvd cluster under faults"};
  app.add_option("--nodes", o.nodes, "Cluster size")
      ->check(CLI::IsMember({3, 5}))
      ->capture_default_str();
  app.add_option("--shards", o.shards,
                 "Data shards (kvd --shards; --replication 3, or every node with one shard)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--workload", workload, "register | set | lock | bank | append")
      ->check(CLI::IsMember({"register", "set", "lock", "bank", "append"}))
      ->capture_default_str();
  app.add_option("--nemesis", nemesis,
                 "none, or a comma-separated subset of kill,pause,partition,ring,bridge,loss,delay,"
                 "crash")
      ->capture_default_str();
  app.add_option("--crash-at", o.crash_at,
                 "crash nemesis: the crash point every node gets as KVD_CRASH_AT (e.g. "
                 "txn-after-commit; implies --nemesis crash)");
  app.add_option("--crash-one-in", o.crash_one_in,
                 "crash nemesis: a node dies at one in this many visits of the point")
      ->check(CLI::Range(1, 1000000000))
      ->capture_default_str();
  app.add_option("--time", o.time_s, "Seconds of workload under faults")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
  app.add_option("--concurrency", o.concurrency, "Client workers")
      ->check(CLI::Range(1, 200))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Random seed (0: from the clock)");
  app.add_option("--out", o.out_dir, "Output directory (default: jepsen-out/<time>)");
  app.add_option("--kvd", o.kvd_path, "Path of the kvd binary")->required();
  app.add_option("--active-keys", o.active_keys, "Register keys in use at a time")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--ops-per-key", o.ops_per_key, "Operations per register key")
      ->check(CLI::Range(10, 100000))
      ->capture_default_str();
  app.add_option("--warmup", o.warmup_s, "Fault-free seconds before the first fault")
      ->capture_default_str();
  app.add_option("--fault-min", o.fault_min_s, "Shortest gap between fault starts (s)")
      ->capture_default_str();
  app.add_option("--fault-max", o.fault_max_s, "Longest gap between fault starts (s)")
      ->capture_default_str();
  app.add_option("--client-timeout-ms", o.client_timeout_ms, "Client timeout per attempt")
      ->capture_default_str();
  app.add_option("--skip-unavailable", o.skip_unavailable,
                 "Run without nemeses that cannot work here (e.g. partition without iptables); "
                 "the summary says so")
      ->capture_default_str();
  app.add_option("--loss-probability", o.loss_probability,
                 "loss: probability that a peer packet is dropped")
      ->check(CLI::Range(0.01, 1.0))
      ->capture_default_str();
  app.add_option("--delay-ms", o.delay_ms, "delay: added to every peer packet (jitter: half)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_flag("--expect-anomaly", o.expect_anomaly,
               "Invert the verdict: exit 0 only if an anomaly is found (planted-bug tests)");
  app.add_option("--kvd-arg", o.kvd_args,
                 "Extra flag for every kvd, repeatable (e.g. --kvd-arg=--compact-every=50)")
      ->allow_extra_args(false);
  app.add_option("--misconfigure-node", o.misconfigure_node,
                 "Start this node (1..nodes) with the --misconfigure-arg flags too");
  app.add_option("--misconfigure-arg", o.misconfigure_args,
                 "Extra flag for the --misconfigure-node only, repeatable "
                 "(e.g. --misconfigure-arg=--vnodes=101)")
      ->allow_extra_args(false);
  app.add_option("--checker-budget", o.checker_budget_s, "Checker time budget (s)")
      ->capture_default_str();
  app.add_option("--locks", o.lock_count, "lock: locks contended for, each guarding one key")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--lock-ttl-ms", o.lock_ttl_ms, "lock: the lease (ttl_ms of every acquire)")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
  app.add_option("--lock-wait-ms", o.lock_wait_ms, "lock: wait_ms of every acquire")
      ->check(CLI::Range(0, 300000))
      ->capture_default_str();
  app.add_option("--lock-stall-probability", o.lock_stall_probability,
                 "lock: fraction of critical sections that sleep 2 x TTL before writing")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--lock-other-shard", o.lock_other_shard,
                 "lock: 1 = each lock in another shard than its key (needs --shards >= 2)")
      ->capture_default_str();
  app.add_option("--accounts", o.accounts, "bank: accounts, spread over the shards")
      ->check(CLI::Range(2, 100))
      ->capture_default_str();
  app.add_option("--read-all-fraction", o.read_all_fraction,
                 "bank: fraction of operations that read every account (the rest transfer)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--txn-keys", o.txn_keys, "append: keys in use at a time, spread over the shards")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--txn-ops-per-key", o.txn_ops_per_key,
                 "append: micro-ops per key before a fresh key replaces it")
      ->check(CLI::Range(2, 100000))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return std::nullopt;
  }
  for (Workload w :
       {Workload::kRegister, Workload::kSet, Workload::kLock, Workload::kBank, Workload::kAppend}) {
    if (workload == WorkloadName(w)) o.workload = w;
  }
  if (o.lock_other_shard && o.shards < 2) {
    std::fprintf(stderr, "--lock-other-shard needs --shards 2 or more\n");
    *exit_code = 2;
    return std::nullopt;
  }
  std::stringstream in(nemesis);
  for (std::string part; std::getline(in, part, ',');) {
    if (part == "none" || part.empty()) continue;
    if (part == "crash") {
      o.crash = true;
      continue;
    }
    std::optional<FaultKind> f;
    for (FaultKind k :
         {FaultKind::kKill, FaultKind::kPause, FaultKind::kPartition, FaultKind::kRing,
          FaultKind::kBridge, FaultKind::kLoss, FaultKind::kDelay}) {
      if (part == FaultName(k)) f = k;
    }
    if (!f) {
      std::fprintf(stderr, "--nemesis: unknown fault '%s'\n", part.c_str());
      *exit_code = 2;
      return std::nullopt;
    }
    o.nemeses.push_back(*f);
  }
  o.crash = o.crash || !o.crash_at.empty();
  if (o.crash && !IsCrashPoint(o.crash_at)) {
    std::fprintf(stderr,
                 "--nemesis crash needs --crash-at POINT, one of txn-after-record, "
                 "txn-after-prepare, txn-after-decide-proposed, txn-after-commit, "
                 "after-log-write, after-apply, ... (kv/node_core.cc)\n");
    *exit_code = 2;
    return std::nullopt;
  }
  if (o.fault_max_s < o.fault_min_s || o.fault_min_s < 1) {
    std::fprintf(stderr, "--fault-min/--fault-max: need 1 <= min <= max\n");
    *exit_code = 2;
    return std::nullopt;
  }
  if (o.misconfigure_node < 0 || o.misconfigure_node > o.nodes ||
      (o.misconfigure_node == 0) != o.misconfigure_args.empty()) {
    std::fprintf(stderr, "--misconfigure-node N (1..--nodes) and --misconfigure-arg go together\n");
    *exit_code = 2;
    return std::nullopt;
  }
  if (o.seed == 0) {
    o.seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  }
  return o;
}

}  // namespace kvd::jepsen
