// Copyright (c) kvd authors.

#include "jepsen/harness/run.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "jepsen/harness/crash_watch.h"
#include "jepsen/harness/local_cluster.h"
#include "jepsen/harness/lock_check.h"
#include "jepsen/harness/lock_workload.h"
#include "jepsen/harness/nemesis.h"
#include "jepsen/harness/netem.h"
#include "jepsen/harness/partitioner.h"
#include "jepsen/harness/report.h"
#include "jepsen/harness/set_check.h"
#include "jepsen/harness/shard_check.h"
#include "jepsen/harness/summary.h"
#include "jepsen/harness/txn_run.h"
#include "jepsen/harness/workload.h"

namespace kvd::jepsen {

std::atomic<bool> g_interrupted{false};

namespace {

std::mutex g_emergency_mu;
LocalCluster* g_cluster = nullptr;     // GUARDED_BY(g_emergency_mu)
Partitioner* g_partitioner = nullptr;  // GUARDED_BY(g_emergency_mu)
Netem* g_netem = nullptr;              // GUARDED_BY(g_emergency_mu)

// Registers the run's cluster and network faults for EmergencyCleanup() while in scope.
class EmergencyScope {
 public:
  EmergencyScope(LocalCluster* cluster, Partitioner* partitioner, Netem* netem) {
    std::lock_guard<std::mutex> lock(g_emergency_mu);
    g_cluster = cluster;
    g_partitioner = partitioner;
    g_netem = netem;
  }
  ~EmergencyScope() {
    std::lock_guard<std::mutex> lock(g_emergency_mu);
    g_cluster = nullptr;
    g_partitioner = nullptr;
    g_netem = nullptr;
  }
};

// Sets up the network-fault tool T (Partitioner or Netem) if any of `kinds` needs it. If it
// cannot work here, either fails the run (*fatal) or, with --skip-unavailable, drops those kinds
// and notes why in the summary; returns null then.
template <typename T>
std::unique_ptr<T> SetUpTool(const char* what, bool (*needs)(FaultKind), const Options& o,
                             const std::vector<uint16_t>& peer_ports, std::vector<FaultKind>& kinds,
                             Summary& summary, bool* fatal) {
  if (std::none_of(kinds.begin(), kinds.end(), needs)) return nullptr;
  auto tool = std::make_unique<T>(peer_ports);
  std::string error;
  if (tool->Setup(&error)) return tool;
  std::cerr << "kvd_jepsen: " << what << " unavailable: " << error << std::endl;
  *fatal = !o.skip_unavailable;
  for (FaultKind f : kinds) {
    if (needs(f)) summary.unavailable.push_back(std::string(FaultName(f)) + ": " + error);
  }
  kinds.erase(std::remove_if(kinds.begin(), kinds.end(), needs), kinds.end());
  return nullptr;
}

std::string DefaultOutDir() {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::gmtime(&now));
  return std::string("jepsen-out/") + stamp;
}

// Replicas per data shard: 3 when there are several shards; with one, every node (the group
// whose leader the nemeses chase then spans the cluster, as the topologies assume).
int Replication(const Options& o) { return o.shards > 1 ? 3 : o.nodes; }

// Polls `node` for the committed directory (a node answers 503 until its meta shard applied
// one), up to `seconds` or an interruption.
rpc::DirectoryResult WaitDirectory(const LocalCluster& cluster, int node, double seconds) {
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  rpc::DirectoryResult d = cluster.Directory(node);
  while (!(d.ok() && d.version > 0) && !g_interrupted && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    d = cluster.Directory(node);
  }
  return d;
}

// Sleeps up to `seconds`, waking early when interrupted.
void Wait(double seconds) {
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  while (!g_interrupted && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

void EmergencyCleanup() {
  std::unique_lock<std::mutex> lock(g_emergency_mu, std::try_to_lock);
  if (!lock.owns_lock()) return;
  if (g_partitioner != nullptr) g_partitioner->Teardown();
  if (g_netem != nullptr) g_netem->Teardown();
  if (g_cluster != nullptr) g_cluster->StopAll();
}

int Run(const Options& o) {
  Summary summary;
  summary.options = &o;
  summary.out_dir = o.out_dir.empty() ? DefaultOutDir() : o.out_dir;
  const std::string& dir = summary.out_dir;
  std::filesystem::create_directories(dir);
  for (int i = 1; i <= 5; ++i) {  // a fresh cluster, also when the directory is reused
    std::filesystem::remove_all(dir + "/node" + std::to_string(i));
    std::filesystem::remove(dir + "/node" + std::to_string(i) + ".log");
  }
  std::string misconfigured;
  for (const std::string& arg : o.misconfigure_args) misconfigured += " " + arg;
  std::cout << "kvd_jepsen: " << WorkloadName(o.workload) << " on " << o.nodes << " nodes, "
            << o.shards << (o.shards == 1 ? " shard" : " shards")
            << (o.misconfigure_node != 0
                    ? ", n" + std::to_string(o.misconfigure_node) + " with" + misconfigured
                    : "")
            << ", seed " << o.seed << ", output " << dir << std::endl;

  std::vector<std::string> kvd_flags = {"--tick-ms",
                                        std::to_string(o.tick_ms),
                                        "--election-ticks",
                                        "10",
                                        "--request-timeout-ms",
                                        std::to_string(o.kvd_request_timeout_ms),
                                        "--shards",
                                        std::to_string(o.shards),
                                        "--replication",
                                        std::to_string(Replication(o))};
  kvd_flags.insert(kvd_flags.end(), o.kvd_args.begin(), o.kvd_args.end());
  std::map<int, std::vector<std::string>> node_flags;
  if (o.misconfigure_node != 0) node_flags[o.misconfigure_node] = o.misconfigure_args;
  LocalCluster cluster(
      {o.kvd_path, dir, o.nodes, o.shards, kvd_flags, node_flags, CrashEnvironment(o)});
  std::vector<FaultKind> kinds = o.nemeses;
  std::vector<uint16_t> ports;
  for (int i = 1; i <= o.nodes; ++i) ports.push_back(cluster.PeerPort(i));
  bool fatal = false;
  auto partitioner =
      SetUpTool<Partitioner>("iptables nemeses", UsesIptables, o, ports, kinds, summary, &fatal);
  auto netem = SetUpTool<Netem>("delay nemesis", UsesTc, o, ports, kinds, summary, &fatal);
  if (fatal) return 2;
  if (!o.nemeses.empty() && kinds.empty()) {
    std::cerr << "kvd_jepsen: none of the requested nemeses can run here" << std::endl;
    return 2;
  }
  EmergencyScope emergency(&cluster, partitioner.get(), netem.get());
  // The nemesis is made once the workload starts; the crash watcher, which logs to it, from the
  // first node's start (declared after it: stopped first).
  std::optional<Nemesis> nemesis_slot;
  std::optional<CrashWatcher> crash;
  cluster.StartAll();
  if (o.crash) crash.emplace(o, cluster).Start();
  const uint64_t first_leader = cluster.WaitLeader(std::chrono::seconds(30));
  if (first_leader == 0) {
    std::cerr << "kvd_jepsen: the cluster elected no leader in 30 s; see " << dir << "/node*.log"
              << std::endl;
    return 2;
  }

  // The oracle of key ownership (shard_check.h): the committed directory as a node started with
  // the shared flags reports it (the lowest-numbered one).
  const int oracle_node = o.misconfigure_node == 1 ? 2 : 1;
  const rpc::DirectoryResult directory = WaitDirectory(cluster, oracle_node, 30);
  std::string ring_error = "n" + std::to_string(oracle_node) + " answered no directory";
  const std::optional<kv::Ring> ring =
      directory.ok() ? RingOf(directory, &ring_error) : std::nullopt;
  if (!ring || directory.shards.size() != static_cast<size_t>(o.shards)) {
    std::cerr << "kvd_jepsen: no usable directory (" << (ring ? LayoutOf(directory) : ring_error)
              << ", --shards " << o.shards << "); see " << dir << "/node*.log" << std::endl;
    return 2;
  }
  summary.layout = LayoutOf(directory);
  summary.directory_terms_before = LeaderTermSum(directory);
  for (int n = 1; n <= o.nodes; ++n) {
    const rpc::DirectoryResult theirs = cluster.Directory(n);
    if (theirs.ok() && LayoutOf(theirs) != summary.layout) {
      summary.notes.push_back("n" + std::to_string(n) + "'s directory has " + LayoutOf(theirs) +
                              ", n" + std::to_string(oracle_node) + "'s " + summary.layout);
    }
  }

  History history;
  const Clock::time_point start = Clock::now();
  Nemesis& nemesis = nemesis_slot.emplace(o, kinds, cluster, partitioner.get(), netem.get(), start,
                                          dir + "/nemesis.log");
  if (crash) crash->SetLog([&nemesis](const std::string& line) { nemesis.Log(line); });
  nemesis.Log("cluster up, leader n" + std::to_string(first_leader) + ", directory v" +
              std::to_string(directory.version) + ": " + summary.layout);
  for (const std::string& note : summary.notes) nemesis.Log("note: " + note);
  ShardOf shard_of = nullptr;
  if (o.shards > 1) shard_of = [&ring](const std::string& key) { return ring->ShardFor(key); };
  Workers workers(o, cluster.HttpAddresses(), history, start, shard_of);
  std::optional<LockWorkers> lock_workers;
  std::set<uint64_t> lock_shards;  // the shards the lock workload's locks and keys live in
  std::optional<TxnRun> txn_run;   // bank, append
  if (o.workload == Workload::kLock) {
    std::vector<LockTarget> targets = LockTargets(
        o.lock_count, o.lock_other_shard,
        [&ring](const std::string& key) { return ring->ShardFor(key); }, o.shards);
    if (targets.empty()) {
      std::cerr << "kvd_jepsen: found no lock name in another shard than its key" << std::endl;
      return 2;
    }
    for (const LockTarget& t : targets) {
      lock_shards.insert(ring->ShardFor(t.key));
      lock_shards.insert(ring->ShardFor(t.lock));
      nemesis.Log("lock " + t.lock + " (shard " + std::to_string(ring->ShardFor(t.lock)) +
                  ") guards " + t.key + " (shard " + std::to_string(ring->ShardFor(t.key)) + ")");
    }
    lock_workers.emplace(o, cluster.HttpAddresses(), history, start, std::move(targets));
    lock_workers->Start();
  } else if (IsTxnWorkload(o.workload)) {
    txn_run.emplace(o, cluster.HttpAddresses(), history, start, *ring);
    for (const std::string& line : txn_run->Describe()) nemesis.Log(line);
    std::string error;
    if (!txn_run->Setup(&error)) {
      std::cerr << "kvd_jepsen: " << WorkloadName(o.workload) << " setup failed: " << error
                << std::endl;
      cluster.StopAll();
      return 2;
    }
    txn_run->Start();
  } else {
    workers.Start();
  }
  nemesis.Start();
  Wait(o.warmup_s + o.time_s);
  summary.interrupted = g_interrupted;
  nemesis.Stop();
  workers.Stop();
  if (lock_workers) lock_workers->Stop();
  if (txn_run) txn_run->Stop();
  summary.workload_s = SinceNs(start) / 1e9;
  nemesis.HealAll();
  if (partitioner) partitioner->Teardown();
  if (netem) netem->Teardown();
  std::cout << "kvd_jepsen: workload done, healing and reading back" << std::endl;

  summary.leader_after_heal = cluster.WaitLeader(std::chrono::seconds(30));
  nemesis.Log("after healing: leader n" + std::to_string(summary.leader_after_heal));
  if (summary.leader_after_heal == 0) summary.vacuity.push_back("no leader after healing");
  const std::chrono::seconds final_timeout(g_interrupted ? 5 : 30);
  if (txn_run) {
    txn_run->FinalReads(final_timeout, summary);
  } else if (o.workload != Workload::kSet) {
    const auto keys = lock_workers ? lock_workers->Keys() : workers.RegisterKeys();
    summary.final_reads = static_cast<int>(keys.size());
    summary.final_reads_failed =
        FinalReads(keys, cluster.HttpAddresses(), history, start, final_timeout);
  } else {
    summary.set_result = CheckSet(cluster.HttpAddresses(), history, start, final_timeout);
    summary.final_reads = 1;
    summary.final_reads_failed = summary.set_result->final_read_ok ? 0 : 1;
  }
  const rpc::DirectoryResult directory_after = WaitDirectory(cluster, oracle_node, 5);
  if (directory_after.ok()) {
    summary.directory_terms_after = LeaderTermSum(directory_after);
    nemesis.Log("after healing: directory v" + std::to_string(directory_after.version) +
                ", leader terms summed " + std::to_string(summary.directory_terms_before) + " -> " +
                std::to_string(summary.directory_terms_after));
  }
  // Crashes: recovery must leave no transaction in doubt (the TTL is 3 s, plus elections).
  InDoubt in_doubt;
  if (crash && txn_run) {
    in_doubt = AwaitNoneInDoubt(cluster, std::chrono::seconds(g_interrupted ? 2 : 20));
    nemesis.Log(in_doubt.drained ? "after healing: no transaction in doubt"
                                 : "after healing: still in doubt: " + in_doubt.left);
  }
  if (crash) {
    crash->Stop();
  } else {
    for (const ExitEvent& e : cluster.TakeExits()) {
      summary.vacuity.push_back("n" + std::to_string(e.node) + " exited on its own (" +
                                e.Describe() + ")");
    }
  }
  cluster.StopAll();

  const std::vector<HistoryOp> ops = history.Snapshot();
  summary.shard_check = CheckShards(ops, *ring);
  WriteJsonl(ops, dir + "/history.jsonl");
  summary.Count(ops);
  summary.faults = nemesis.records();

  if (o.workload == Workload::kRegister || o.workload == Workload::kLock) {
    lincheck::CheckOptions copts;
    copts.time_budget = std::chrono::milliseconds(static_cast<int64_t>(o.checker_budget_s * 1000));
    copts.threads = 2;
    summary.register_result = lincheck::Check(ToCheckerOps(ops), copts);
    const auto verdict = summary.register_result->verdict;
    if (verdict != lincheck::Verdict::kValid) {
      summary.checker_report = lincheck::FormatResult(*summary.register_result);
      summary.anomalies.push_back(std::string("register history is ") +
                                  std::string(lincheck::VerdictName(verdict)));
    }
  }
  if (o.workload == Workload::kLock) {
    summary.lock_result = CheckLocks(ops, {.lock_with_key = !o.lock_other_shard,
                                           .stalls_requested = o.lock_stall_probability > 0});
    for (const std::string& a : summary.lock_result->anomalies) summary.anomalies.push_back(a);
    for (const std::string& v : summary.lock_result->vacuity) summary.vacuity.push_back(v);
  }
  if (txn_run) txn_run->Check(ops, summary);
  if (crash) {
    summary.crash = crash->Result(ops, start, txn_run && txn_run->KeyShards().size() > 1, in_doubt);
    for (const std::string& v : summary.crash->vacuity) summary.vacuity.push_back(v);
  }
  if (o.workload == Workload::kSet) {
    const SetCheckResult& s = *summary.set_result;
    if (!s.lost.empty())
      summary.anomalies.push_back(std::to_string(s.lost.size()) + " acknowledged adds lost, e.g. " +
                                  s.lost[0]);
    if (!s.unexpected.empty())
      summary.anomalies.push_back(std::to_string(s.unexpected.size()) +
                                  " elements from nowhere, e.g. " + s.unexpected[0]);
    for (int n : s.nodes_not_converged)
      summary.vacuity.push_back("n" + std::to_string(n) +
                                " did not catch up with every acknowledged add");
  }

  if (summary.shard_check->misrouted > 0) {
    summary.anomalies.push_back(std::to_string(summary.shard_check->misrouted) +
                                " answers came from a shard the directory does not assign the "
                                "key to, e.g. " +
                                summary.shard_check->examples[0]);
  }

  // Non-vacuity: throughput before faults, faults that acted, final operations that succeeded,
  // every shard exercised.
  int64_t first_fault_ns = static_cast<int64_t>((o.warmup_s + o.time_s) * 1e9);
  if (!summary.faults.empty()) first_fault_ns = summary.faults.front().start_ns;
  size_t ok_before = 0;
  for (const HistoryOp& op : ops) {
    ok_before +=
        op.worker >= 0 && op.outcome == lincheck::Outcome::kOk && op.ret_ns < first_fault_ns;
  }
  summary.ops_per_s_before_faults = ok_before / std::max(0.001, first_fault_ns / 1e9);
  if (summary.ops_per_s_before_faults < 5)
    summary.vacuity.push_back("fewer than 5 ok ops/s before the first fault");
  for (const FaultRecord& f : summary.faults) {
    if (f.on_leader && f.acted) summary.leader_changes++;
    if (!f.acted && !f.cut_short && !f.target_crashed)
      summary.vacuity.push_back("fault did not visibly act: " + f.description + " (" + f.evidence +
                                ")");
  }
  if (!kinds.empty() && summary.faults.empty())
    summary.vacuity.push_back("no fault was injected (is --time long enough?)");
  const bool hits_leader = std::any_of(kinds.begin(), kinds.end(), TargetsLeader);
  if (hits_leader && summary.leader_changes == 0)
    summary.vacuity.push_back("no leader change observed");
  // The lock workload uses only the shards of its locks and keys, the transactions those of
  // their keys.
  const size_t shards_used = lock_workers ? lock_shards.size()
                             : txn_run    ? txn_run->KeyShards().size()
                                          : static_cast<size_t>(o.shards);
  if (summary.shard_check->touched.size() < shards_used)
    summary.vacuity.push_back("ok answers came from only " +
                              std::to_string(summary.shard_check->touched.size()) + " of " +
                              std::to_string(shards_used) + " shards");
  if (summary.final_reads_failed > 0)
    summary.vacuity.push_back(std::to_string(summary.final_reads_failed) +
                              " final reads failed after healing");

  const auto lines = summary.Lines();
  for (const std::string& line : lines) std::cout << line << "\n";
  if (!summary.checker_report.empty()) {
    // The whole report goes to checker.txt; stdout gets its beginning.
    std::ofstream(dir + "/checker.txt") << summary.checker_report;
    std::istringstream report(summary.checker_report);
    int shown = 0;
    for (std::string line; std::getline(report, line) && shown < 40; ++shown) {
      std::cout << line << "\n";
    }
    if (shown == 40) std::cout << "... (the rest in " << dir << "/checker.txt)\n";
  }
  summary.WriteJson(dir + "/summary.json");
  ReportInput report{"kvd jepsen: " + std::string(WorkloadName(o.workload)) + ", " +
                         std::to_string(o.nodes) + " nodes, " + std::to_string(o.shards) +
                         (o.shards == 1 ? " shard" : " shards"),
                     lines,
                     summary.ExitCode() == 0,
                     &ops,
                     &summary.faults,
                     o.concurrency};
  if (!summary.checker_report.empty()) {
    report.summary_lines.push_back(summary.checker_report.substr(0, 20000));
  }
  WriteReport(report, dir + "/report.html");
  std::cout << std::flush;
  return summary.ExitCode();
}

}  // namespace kvd::jepsen
