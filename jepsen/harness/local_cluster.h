// Copyright (c) kvd authors.
//
// LocalCluster: N real kvd processes on loopback for the Jepsen harness. Node i (1-based) listens
// on 127.0.0.i (HTTP and peer ports found free at start), keeps its data in <out>/nodeI/data and
// its stderr in <out>/nodeI.log. Each kvd runs in its own process group, so a terminal's Ctrl-C
// reaches only the harness, which then stops them. Only PIDs started here are ever signalled.
// A node that exits on its own (a crash point of a test build, or a kvd bug) is noticed by
// TakeExits(), or by Kill/Pause when they meet it first, and stays down until started again.
//
// Thread-safety: every method may be called from any thread (one mutex guards the process table;
// no call holds it across a network request).

#ifndef KVD_JEPSEN_HARNESS_LOCAL_CLUSTER_H_
#define KVD_JEPSEN_HARNESS_LOCAL_CLUSTER_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "rpc/http_client.h"

namespace kvd::jepsen {

// What one node said about one data shard it hosts in GET /v1/cluster.
struct ShardView {
  uint64_t leader = 0;  // 0: unknown
  uint64_t term = 0;
  uint64_t applied_index = 0;
  std::vector<uint64_t> replicas;
};

// What one node said in GET /v1/cluster about the data shards it hosts (shard 0, the meta shard
// every node hosts, is left out).
struct NodeView {
  int node = 0;
  bool answered = false;
  std::map<uint64_t, ShardView> shards;
  const ShardView* Find(uint64_t shard) const;  // nullptr if the node does not host it
};

// Who leads the data shards, as a set of nodes reports it: per shard, the leader reported with
// the highest term (a node may still name a leader that has died).
// A node process that ended without the harness signalling it.
struct ExitEvent {
  int node = 0;
  int status = 0;                            // as waitpid() reported it
  std::chrono::steady_clock::time_point at;  // when the harness noticed it
  bool AtCrashPoint() const;                 // exit code 137: a test build's crash point
  std::string Describe() const;              // "exit 137", "signal 6"
};

struct Leadership {
  struct Lead {
    uint64_t leader = 0;
    uint64_t term = 0;
    std::vector<uint64_t> replicas;
  };
  std::map<uint64_t, Lead> shards;
  std::map<uint64_t, NodeView> views;  // by node id: the answers this was built from

  // The node leading the most shards (ties: the lowest id); 0 if none is known. With one data
  // shard: its leader.
  uint64_t Busiest() const;
  int Led(uint64_t node) const;  // shards `node` leads
  // The sum of the shards' leader terms: grows with every election in any shard. With one data
  // shard: its term.
  uint64_t TermSum() const;
};

class LocalCluster {
 public:
  struct Config {
    std::string kvd_path;
    std::string dir;  // output directory; node directories are created below it
    int nodes = 3;
    int shards = 1;                        // data shards; kvd's --shards is in extra_flags
    std::vector<std::string> extra_flags;  // for every node
    std::map<int, std::vector<std::string>> node_flags;  // for one node, after extra_flags
    // NAME=VALUE for every node's environment, also on every restart. KVD_CRASH_AT and
    // KVD_CRASH_ONE_IN are never inherited from the harness's own environment, only set here.
    std::vector<std::string> env;
  };
  explicit LocalCluster(Config config);
  ~LocalCluster();  // SIGKILLs (after SIGCONT) every process still running
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  int size() const { return config_.nodes; }
  int shards() const { return config_.shards; }
  static std::string Ip(int node) { return "127.0.0." + std::to_string(node); }
  std::string HttpAddress(int node) const;
  std::vector<std::string> HttpAddresses() const;
  uint16_t PeerPort(int node) const { return peer_ports_[node - 1]; }

  bool Start(int node);  // false if spawning failed or after StopAll()
  void StartAll();
  // SIGKILL and reap; true if it was running and died by the signal. *exited_first: it had
  // exited on its own before the signal (queued for TakeExits; false is returned).
  bool Kill(int node, bool* exited_first = nullptr);
  // SIGSTOP; true if the process is now stopped. *exited_first as for Kill.
  bool Pause(int node, bool* exited_first = nullptr);
  bool Resume(int node);  // SIGCONT
  bool Running(int node) const;
  bool Paused(int node) const;
  // SIGCONT + SIGTERM, then SIGKILL after a grace period. Start() refuses from then on, so a
  // thread still healing or restarting cannot leave a process behind.
  void StopAll();
  // Reaps the nodes that exited on their own since the last call (each is then not running) and
  // returns them with those Kill and Pause met, oldest first.
  std::vector<ExitEvent> TakeExits();

  // GET /v1/cluster from one node (short timeout); answered = false if it did not answer.
  NodeView View(int node) const;
  // Who leads what, by the answers of `nodes`.
  Leadership Leaders(const std::vector<int>& nodes) const;
  // {Leaders(nodes).Busiest(), Leaders(nodes).TermSum()}: with one shard, its leader with the
  // highest term among the answers and that term; {0, 0} if none knows one.
  std::pair<uint64_t, uint64_t> LeaderAndTerm(const std::vector<int>& nodes) const;
  // Waits until every running, unpaused node answers /readyz (it knows a leader for every shard
  // it hosts), every data shard has a leader that all its reachable replicas agree on and that
  // runs unpaused; returns the busiest leader, or 0 after `timeout`.
  uint64_t WaitLeader(std::chrono::milliseconds timeout) const;
  // GET /v1/directory from one node (short timeout); not ok() if it did not answer or does not
  // know the directory yet.
  rpc::DirectoryResult Directory(int node) const;

 private:
  Config config_;
  std::vector<uint16_t> http_ports_, peer_ports_;
  mutable std::mutex mu_;
  std::vector<pid_t> pids_;       // GUARDED_BY(mu_); 0 = not running; index node-1
  std::vector<bool> paused_;      // GUARDED_BY(mu_)
  std::vector<ExitEvent> exits_;  // GUARDED_BY(mu_); met by Kill/Pause, not yet taken
  bool stopped_ = false;          // GUARDED_BY(mu_); StopAll() was called
};

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_LOCAL_CLUSTER_H_
