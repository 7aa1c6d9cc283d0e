// Copyright (c) kvd authors.
//
// Nemesis: injects faults into a LocalCluster on a schedule, from its own thread. After a
// fault-free warmup it repeats: pick the next fault kind (round-robin over the requested ones),
// pick a target, hold the fault, heal it, stay quiet, and so on until Stop(). "The leader" is the
// leader of the data shard, or with several shards the node leading the most of them
// (Leadership::Busiest). Targets:
//   kill, pause   the current leader every other time (the first included), else a random node;
//   partition     isolate that node, or (5 nodes, half the time) a minority holding the leader;
//   ring          a random cycle through every node (topology.h), the leader in it as any node;
//   bridge        the leader at one end, a random follower as the bridge;
//   loss, delay   every peer link (iptables statistic drops; tc netem).
//
// Every fault records evidence that it acted: for a fault that takes the leader away, a new
// leader (another node, higher term) reported by the rest of the cluster for every shard the
// faulty nodes led that keeps a majority of its replicas outside them; the process died (kill);
// the kernel reported it stopped (pause); a node cut off from a shard's leader fell behind that
// leader's applied index of the shard, or the leadership changed (partition, ring, bridge); the
// rules dropped packets (loss); packets went through the delaying qdisc (delay). The log goes to
// nemesis.log as it happens.
//
// Thread-safety: Start/Stop/HealAll/records from the controlling thread; Log from any thread.
//
// With the crash nemesis (crash_watch.h) nodes also exit on their own: a kill or pause picks a
// random target among the running nodes only, and one whose target exited just before the
// signal is recorded as target_crashed instead of a fault that did not act.

#ifndef KVD_JEPSEN_HARNESS_NEMESIS_H_
#define KVD_JEPSEN_HARNESS_NEMESIS_H_

#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "jepsen/harness/local_cluster.h"
#include "jepsen/harness/netem.h"
#include "jepsen/harness/options.h"
#include "jepsen/harness/partitioner.h"
#include "jepsen/harness/topology.h"
#include "jepsen/harness/workload.h"

namespace kvd::jepsen {

struct FaultRecord {
  FaultKind kind = FaultKind::kKill;
  std::string description;  // e.g. "kill -9 leader n2", "partition {n1,n2} | {n3,n4,n5}"
  std::vector<int> targets;
  bool on_leader = false;  // the fault hit the node that led before it
  // With one data shard, its leader and term; with several, the node leading the most shards
  // and the sum of all shards' leader terms (Leadership).
  uint64_t leader_before = 0, term_before = 0, leader_after = 0, term_after = 0;
  // The data shards the targets led when the fault started (shard -> term), and how many of
  // those that kept a majority elsewhere elected a leader outside the targets in a later term.
  std::map<uint64_t, uint64_t> shards_led;
  int shards_electable = 0;  // of shards_led, those with a majority of replicas elsewhere
  int shards_moved = 0;
  int64_t start_ns = 0, end_ns = 0;
  bool injected = false;  // the signal / rules were applied
  bool acted = false;     // the evidence below was observed
  std::string evidence;
  bool cut_short = false;  // the run ended before the evidence could be collected
  // The target exited on its own (the crash nemesis) before the signal: not injected, and left
  // to the crash watcher, which restarts it.
  bool target_crashed = false;
};

class Nemesis {
 public:
  Nemesis(const Options& options, std::vector<FaultKind> kinds, LocalCluster& cluster,
          Partitioner* partitioner, Netem* netem, Clock::time_point start,
          const std::string& log_path);
  ~Nemesis();
  void Start();
  void Stop();     // ends the current fault (healing it) and joins
  void HealAll();  // restarts killed nodes, resumes paused ones, removes partitions
  const std::vector<FaultRecord>& records() const { return records_; }
  void Log(const std::string& line);

 private:
  void Run();
  bool Sleep(double seconds);  // false if Stop() interrupted it
  bool Stopping();
  void Inject(FaultKind kind);
  // Applies a network fault; fills description, targets, on_leader, injected, and `topology`
  // with the links it cuts (none for loss and delay). `before` is who led when it started.
  void InjectNetwork(FaultKind kind, int node, const Leadership& before, FaultRecord& rec,
                     Topology& topology);
  // After holding a network fault that left the leader in place: did it visibly act?
  void NetworkEvidence(FaultKind kind, const Topology& topology, FaultRecord& rec);
  // Polls until, for every shard in record.shards_led that keeps a majority of its replicas
  // outside `faulty`, the other nodes report a leader outside `faulty` in a later term (and there
  // is at least one such shard), for at most `seconds` (or until stopped); fills shards_moved and
  // leader/term_after.
  bool AwaitNewLeader(const std::vector<int>& faulty, const Leadership& before, double seconds,
                      FaultRecord& record);

  const Options& options_;
  const std::vector<FaultKind> kinds_;
  LocalCluster& cluster_;
  Partitioner* partitioner_;  // null when iptables faults are unavailable
  Netem* netem_;              // null when delay is unavailable
  const Clock::time_point start_;
  std::mutex log_mu_;
  std::ofstream log_;  // GUARDED_BY(log_mu_)
  std::mt19937_64 rng_;
  std::vector<FaultRecord> records_;  // written by the nemesis thread until Stop() joins it
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_NEMESIS_H_
