// Copyright (c) kvd authors.
//
// LocalCluster: N real kvd processes on loopback for the Jepsen harness. Node i (1-based) listens
// on 127.0.0.i (HTTP and peer ports found free at start), keeps its data in <out>/nodeI/data and
// its stderr in <out>/nodeI.log. Each kvd runs in its own process group, so a terminal's Ctrl-C
// reaches only the harness, which then stops them. Only PIDs started here are ever signalled.
//
// Thread-safety: every method may be called from any thread (one mutex guards the process table;
// no call holds it across a network request).

#ifndef KVD_JEPSEN_HARNESS_LOCAL_CLUSTER_H_
#define KVD_JEPSEN_HARNESS_LOCAL_CLUSTER_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "rpc/http_client.h"

namespace kvd::jepsen {

// What one node said about shard 1 in GET /v1/cluster.
struct NodeView {
  int node = 0;
  bool answered = false;
  uint64_t leader = 0;
  uint64_t term = 0;
  uint64_t applied_index = 0;
};

class LocalCluster {
 public:
  struct Config {
    std::string kvd_path;
    std::string dir;  // output directory; node directories are created below it
    int nodes = 3;
    std::vector<std::string> extra_flags;
  };
  explicit LocalCluster(Config config);
  ~LocalCluster();  // SIGKILLs (after SIGCONT) every process still running
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  int size() const { return config_.nodes; }
  static std::string Ip(int node) { return "127.0.0." + std::to_string(node); }
  std::string HttpAddress(int node) const;
  std::vector<std::string> HttpAddresses() const;
  uint16_t PeerPort(int node) const { return peer_ports_[node - 1]; }

  bool Start(int node);  // false if spawning failed
  void StartAll();
  bool Kill(int node);    // SIGKILL and reap; true if it was running and died by the signal
  bool Pause(int node);   // SIGSTOP; true if the process is now stopped
  bool Resume(int node);  // SIGCONT
  bool Running(int node) const;
  bool Paused(int node) const;
  void StopAll();  // SIGCONT + SIGTERM, then SIGKILL after a grace period

  // GET /v1/cluster from one node (short timeout); answered = false if it did not answer.
  NodeView View(int node) const;
  // The leader with the highest term among the answers of `nodes`; {0,0} if none knows one.
  std::pair<uint64_t, uint64_t> LeaderAndTerm(const std::vector<int>& nodes) const;
  // Waits until every running, unpaused node answers /readyz and they agree on one running
  // leader; returns it, or 0 after `timeout`.
  uint64_t WaitLeader(std::chrono::milliseconds timeout) const;

 private:
  Config config_;
  std::vector<uint16_t> http_ports_, peer_ports_;
  mutable std::mutex mu_;
  std::vector<pid_t> pids_;   // GUARDED_BY(mu_); 0 = not running; index node-1
  std::vector<bool> paused_;  // GUARDED_BY(mu_)
};

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_LOCAL_CLUSTER_H_
