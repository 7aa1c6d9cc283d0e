// Rng: the simulator's only source of randomness, a std::mt19937_64 seeded explicitly.
//
// The helpers avoid std::uniform_*_distribution on purpose: their algorithms are unspecified, so
// a seed would replay differently on another standard library. These are fixed arithmetic.
// Value type; not thread-safe.
#pragma once

#include <cstdint>
#include <random>

#include "raft/check.h"

namespace kvd::sim {

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}

  uint64_t Next() { return gen_(); }
  // Uniform in [0, n); n > 0. (The modulo bias is irrelevant for a test schedule.)
  uint64_t Below(uint64_t n) {
    KVD_CHECK(n > 0);
    return gen_() % n;
  }
  // Uniform in [lo, hi].
  int64_t Range(int64_t lo, int64_t hi) {
    KVD_CHECK(lo <= hi);
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }
  // Uniform in [0, 1).
  double Real() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Real() < p; }

 private:
  std::mt19937_64 gen_;
};

}  // namespace kvd::sim
