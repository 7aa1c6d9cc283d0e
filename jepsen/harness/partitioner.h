// Copyright (c) kvd authors.
//
// Partitioner: network faults between kvd nodes on loopback, made with iptables: partitions
// (a Topology's cut links) and random packet loss.
//
// All rules live in one chain owned by this run, KVDJ_<pid>, jumped to from INPUT for packets
// arriving on `lo` only. Only INPUT is hooked: a packet dropped there vanishes like one lost on a
// wire, whereas a drop in OUTPUT surfaces to the sender as EPERM. A cut between nodes a and b
// drops TCP packets between 127.0.0.a and 127.0.0.b whose source or destination port is one of
// the two nodes' peer (Raft) ports; client HTTP traffic is untouched, as if the clients were on a
// machine that reaches every node. Loss drops each such packet with a fixed probability (the
// statistic match), which TCP turns into retransmissions, stalls and reconnects.
//
// Teardown() removes the jump and the chain; the destructor calls it, and the harness calls it
// on SIGINT/SIGTERM and on errors. At Setup(), chains KVDJ_<pid> left by runs whose process is
// gone are removed too. Thread-safety: none; one thread (the nemesis, then the main thread).

#ifndef KVD_JEPSEN_HARNESS_PARTITIONER_H_
#define KVD_JEPSEN_HARNESS_PARTITIONER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "jepsen/harness/topology.h"

namespace kvd::jepsen {

class Partitioner {
 public:
  // peer_ports[i] is node i+1's peer port.
  explicit Partitioner(std::vector<uint16_t> peer_ports);
  ~Partitioner();
  Partitioner(const Partitioner&) = delete;
  Partitioner& operator=(const Partitioner&) = delete;

  // Creates the chain and the jump; false (with *error) if iptables is missing or not permitted.
  bool Setup(std::string* error);
  // Cuts every link of `topology`. Replaces the previous fault.
  bool Cut(const Topology& topology);
  // Drops each peer packet between any two nodes with `probability`. Replaces the previous fault.
  bool Lossy(double probability);
  // Packets the chain's rules dropped since the last Heal(), or -1 if it cannot be read.
  int64_t DroppedPackets();
  bool Heal();      // flushes the chain
  void Teardown();  // idempotent
  bool active() const { return set_up_; }
  const std::string& chain() const { return chain_; }

 private:
  bool Iptables(const std::vector<std::string>& args);
  // Appends DROP rules for peer traffic in both directions between nodes a and b.
  bool DropBetween(int a, int b, const std::vector<std::string>& match);

  std::vector<uint16_t> peer_ports_;
  std::string chain_;
  bool set_up_ = false;
};

// Runs a command (argv[0] looked up in PATH) with stdout/stderr discarded; its exit status, or
// -1 if it could not run. Safe to call from a signal-handling thread.
int RunQuiet(const std::vector<std::string>& argv, std::string* output = nullptr);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_PARTITIONER_H_
