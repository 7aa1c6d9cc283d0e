// ProcessCluster: real kvd processes on loopback for integration tests. Node i listens on
// 127.0.0.i with ports found free at run time; each node has its own data directory and log file
// under a per-test directory. The harness only ever signals the processes it started.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rpc/http_client.h"

namespace kvd::test {

class ProcessCluster {
 public:
  // 'extra_flags' are passed to every kvd (e.g. {"--compact-every", "50"}).
  ProcessCluster(std::string name, int nodes, std::vector<std::string> extra_flags = {});
  ~ProcessCluster();  // SIGKILLs whatever still runs, removes the directory

  // Flags for one node only, after the shared ones, from its next Start() on (e.g. a node
  // misconfigured with {"--vnodes", "101"}).
  void SetNodeFlags(int node, std::vector<std::string> flags);

  // Another program for one node (e.g. the test build kvd_crash_at), with extra environment
  // entries "NAME=value", from its next Start() on; an empty binary restores KVD_BINARY.
  void SetNodeBinary(int node, std::string binary, std::vector<std::string> env = {});

  void Start(int node);  // spawns kvd for 'node' (1-based); keeps its data directory
  void StartAll();
  void Kill(int node);  // SIGKILL, then reaps
  void Stop(int node);  // SIGTERM, then reaps (graceful)
  bool Running(int node) const;
  // Waits up to 'timeout' for the node's process to exit by itself; its wait status (reaped, the
  // node no longer Running) or nullopt if it still runs (or was never started).
  std::optional<int> WaitExit(int node, std::chrono::milliseconds timeout);

  // Polls /readyz of every running node until all answer 200, up to 'timeout'.
  bool WaitReady(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // The leader of shard 1 that every running node agrees on, waiting up to 'timeout'; 0 if none.
  uint64_t WaitLeader(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  std::string HttpAddress(int node) const;
  std::vector<std::string> AllHttpAddresses() const;
  // A client for one node only, or for all of them (failover in node order).
  rpc::HttpClient Client(int node, std::chrono::milliseconds timeout = std::chrono::seconds(8));
  rpc::HttpClient ClusterClient(std::chrono::milliseconds timeout = std::chrono::seconds(8));
  // Value of an unlabelled counter in node's /metrics; -1 if absent.
  double Metric(int node, const std::string& name);
  std::string Log(int node) const;  // the node's stderr so far, for failure messages

 private:
  std::string name_;
  int nodes_;
  std::vector<std::string> extra_flags_;
  std::map<int, std::vector<std::string>> node_flags_;
  std::map<int, std::pair<std::string, std::vector<std::string>>> node_binary_;  // binary, env
  std::string dir_;
  std::vector<uint16_t> http_ports_, peer_ports_;
  std::map<int, pid_t> pids_;
};

}  // namespace kvd::test
