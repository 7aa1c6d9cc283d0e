// Copyright (c) kvd authors.
//
// Netem: delay (with jitter) on the peer (Raft) traffic between kvd nodes on loopback, with tc.
//
// Only while a fault is on does lo carry a qdisc tree of ours: an htb root whose default class
// passes all other traffic untouched (at 100 Gbit/s) and a second class, fed by u32 filters on
// the nodes' peer ports (source or destination), whose leaf is netem. Heal() deletes the root
// qdisc, which restores lo's default. Setup() refuses when lo already has a qdisc of someone
// else's and probes that the kernel has htb, u32 and netem (many minimal kernels lack
// sch_netem; the nemesis is then unavailable). Client HTTP traffic is never delayed.
//
// Thread-safety: none; one thread (the nemesis, then the main thread; Teardown also from the
// signal-handling thread at an emergency).

#ifndef KVD_JEPSEN_HARNESS_NETEM_H_
#define KVD_JEPSEN_HARNESS_NETEM_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kvd::jepsen {

class Netem {
 public:
  explicit Netem(std::vector<uint16_t> peer_ports);
  ~Netem();
  Netem(const Netem&) = delete;
  Netem& operator=(const Netem&) = delete;

  // False (with *error) if tc is missing, not permitted, lo is in use, or netem is unavailable.
  bool Setup(std::string* error);
  // Delays every peer packet by delay_ms ± jitter_ms. Replaces the previous delay.
  bool Delay(int delay_ms, int jitter_ms);
  // Peer packets that went through the delaying class since Delay(), or -1 if unreadable.
  int64_t DelayedPackets();
  bool Heal();      // removes the qdisc tree (lo back to its default)
  void Teardown();  // Heal(), idempotent
  bool active() const { return installed_; }

 private:
  bool Install(const std::string& netem_args);

  std::vector<uint16_t> peer_ports_;
  bool set_up_ = false;
  bool installed_ = false;
};

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_NETEM_H_
