// Network: the simulated links between nodes. It decides the fate of every message: dropped,
// delivered once or twice (duplication), and after what delay (per-message random delay, so
// messages reorder; a small share is delayed much longer). Partitions are sets of blocked
// directed links: a symmetric split blocks both directions between two sides, a one-way cut
// blocks one direction, isolating a node blocks all its links. HealAll() clears them.
//
// A message is checked against the links when it is sent and again when it would be delivered
// (a partition that starts while it is in flight loses it), see Simulator::Send.
//
// Ownership: borrows the simulator's Rng, which must outlive it. Thread-safety: none.
#pragma once

#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "tests/sim/rng.h"

namespace kvd::sim {

struct NetworkOptions {
  double drop = 0.0;         // probability a message is lost
  double duplicate = 0.0;    // probability a delivered message arrives twice
  int64_t min_delay = 1;     // ms
  int64_t max_delay = 10;    // ms
  double slow = 0.02;        // probability of a long delay (reordering across heartbeats)
  int64_t slow_delay = 150;  // ms, upper bound of a long delay
};

class Network {
 public:
  Network(const NetworkOptions& options, Rng& rng) : options_(options), rng_(rng) {}

  const NetworkOptions& options() const { return options_; }
  void set_options(const NetworkOptions& options) { options_ = options; }

  void Cut(uint64_t from, uint64_t to) { blocked_.insert({from, to}); }
  // Blocks every link between the two sides, both directions.
  void Split(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);
  void Isolate(uint64_t node, const std::vector<uint64_t>& others);
  void HealAll() { blocked_.clear(); }
  bool Blocked(uint64_t from, uint64_t to) const { return blocked_.count({from, to}) > 0; }
  bool partitioned() const { return !blocked_.empty(); }

  // The copies of a message sent now from 'from' to 'to': returns how many (0 = lost, 1, 2)
  // and writes their delays.
  int Route(uint64_t from, uint64_t to, int64_t delays[2]);

 private:
  int64_t Delay();

  NetworkOptions options_;
  Rng& rng_;
  std::set<std::pair<uint64_t, uint64_t>> blocked_;
};

}  // namespace kvd::sim
