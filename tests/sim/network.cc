#include "tests/sim/network.h"

namespace kvd::sim {

void Network::Split(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  for (uint64_t x : a) {
    for (uint64_t y : b) {
      blocked_.insert({x, y});
      blocked_.insert({y, x});
    }
  }
}

void Network::Isolate(uint64_t node, const std::vector<uint64_t>& others) {
  for (uint64_t other : others) {
    if (other == node) continue;
    blocked_.insert({node, other});
    blocked_.insert({other, node});
  }
}

int64_t Network::Delay() {
  if (rng_.Chance(options_.slow)) return rng_.Range(options_.max_delay, options_.slow_delay);
  return rng_.Range(options_.min_delay, options_.max_delay);
}

int Network::Route(uint64_t from, uint64_t to, int64_t delays[2]) {
  if (Blocked(from, to) || rng_.Chance(options_.drop)) return 0;
  delays[0] = Delay();
  if (!rng_.Chance(options_.duplicate)) return 1;
  delays[1] = Delay();
  return 2;
}

}  // namespace kvd::sim
