// Copyright (c) kvd authors.
//
// The memoization of the Wing-Gong-Lowe search: the set of configurations (which operations
// are linearized, model state) already explored. Reaching a configuration twice cannot give a
// new answer, so the search skips it (Lowe, "Testing for linearizability", 2017).
//
// LinearizedSet is a bitset over a key's operations, numbered in invocation order, that keeps
// a Zobrist hash (XOR of one random word per member) up to date in O(1) per toggle, so hashing
// a configuration does not cost O(ops).
//
// ConfigCache stores each configuration once, behind an open-addressing table; lookups compare
// the bits exactly, so hash collisions are harmless. Bits [0, 64 * prefix_words) are stored
// whole (the search puts ops of unknown outcome there: they may stay pending forever). Above
// them it stores only the window of words that can differ between configurations: below the
// first unset bit every bit is set, and above the last set bit none is, so (first word not
// all ones, the words up to the last non-zero one) identify the rest of the set. The search
// knows both ends (wgl_search.cc). With n ops, u of unknown outcome and at most c pending at
// a time, an entry takes O(u + c) bits instead of O(n).
//
// Both are single-threaded values owned by one key's search.

#ifndef KVD_JEPSEN_CHECKER_CONFIG_CACHE_H_
#define KVD_JEPSEN_CHECKER_CONFIG_CACHE_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvd::lincheck {

// splitmix64's finalizer: a cheap bijective 64-bit mix.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class LinearizedSet {
 public:
  explicit LinearizedSet(size_t num_ops) : words_((num_ops + 63) / 64, 0) {}

  void Toggle(size_t op) {
    words_[op / 64] ^= uint64_t{1} << (op % 64);
    hash_ ^= Mix64(op);
  }
  bool Contains(size_t op) const { return (words_[op / 64] >> (op % 64)) & 1; }
  // The lowest bit >= `from` that is not set; padding bits past the last op count as unset,
  // so this is at most num_words() * 64.
  size_t FirstUnsetFrom(size_t from) const {
    for (size_t w = from / 64; w < words_.size(); ++w) {
      uint64_t unset = ~words_[w];
      if (w == from / 64) unset &= ~uint64_t{0} << (from % 64);
      if (unset != 0) return w * 64 + static_cast<size_t>(std::countr_zero(unset));
    }
    return words_.size() * 64;
  }
  uint64_t hash() const { return hash_; }
  const uint64_t* words() const { return words_.data(); }
  size_t num_words() const { return words_.size(); }

 private:
  std::vector<uint64_t> words_;
  uint64_t hash_ = 0;
};

class ConfigCache {
 public:
  explicit ConfigCache(size_t prefix_words) : prefix_words_(prefix_words) {}
  ConfigCache(const ConfigCache&) = delete;
  ConfigCache& operator=(const ConfigCache&) = delete;

  // Adds (set, state). Returns true if it was not already present. `first_unset` is
  // set.FirstUnsetFrom(64 * prefix_words), `last_set` the highest op in `set` at or above
  // 64 * prefix_words (-1 if none): preconditions, not hints, or distinct sets could match.
  bool Insert(const LinearizedSet& set, int32_t state, int64_t first_unset, int64_t last_set);

  size_t size() const { return entries_.size(); }
  // Heap bytes held, for the memory budget.
  size_t memory_bytes() const;

 private:
  struct Entry {
    uint64_t hash;
    uint64_t offset;  // Of the prefix's first word in arena_; the window follows it.
    uint32_t first_word;
    uint32_t num_words;  // In the window.
    int32_t state;
  };

  void Grow();

  const size_t prefix_words_;
  std::vector<uint64_t> arena_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> slots_ = std::vector<uint32_t>(1024, 0);  // 0 = empty, else index + 1.
};

}  // namespace kvd::lincheck

#endif  // KVD_JEPSEN_CHECKER_CONFIG_CACHE_H_
