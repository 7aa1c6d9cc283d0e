// Copyright (c) kvd authors.
//
// Partitioner: network partitions between kvd nodes on loopback, made with iptables.
//
// All rules live in one chain owned by this run, KVDJ_<pid>, jumped to from INPUT for packets
// arriving on `lo` only. Only INPUT is hooked: a packet dropped there vanishes like one lost on a
// wire, whereas a drop in OUTPUT surfaces to the sender as EPERM. A cut between nodes a and b
// drops TCP packets between 127.0.0.a and 127.0.0.b whose source or destination port is one of
// the two nodes' peer (Raft) ports; client HTTP traffic is untouched, as if the clients were on a
// machine that reaches every node.
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
  // Cuts every pair (a, b) with a in `side`, b not in it. Replaces the previous cut.
  bool Isolate(const std::vector<int>& side);
  bool Heal();      // flushes the chain
  void Teardown();  // idempotent
  bool active() const { return set_up_; }
  const std::string& chain() const { return chain_; }

 private:
  bool Iptables(const std::vector<std::string>& args);

  std::vector<uint16_t> peer_ports_;
  std::string chain_;
  bool set_up_ = false;
};

// Runs a command (argv[0] looked up in PATH) with stdout/stderr discarded; its exit status, or
// -1 if it could not run. Safe to call from a signal-handling thread.
int RunQuiet(const std::vector<std::string>& argv, std::string* output = nullptr);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_PARTITIONER_H_
