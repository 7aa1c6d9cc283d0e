// Ring: the consistent-hash ring that maps a key to the shard that owns it.
//
// Every shard puts `vnodes_per_shard` virtual nodes ("points") on a circle of 2^64 positions, at
// VnodePoint(shard, v) for v in [0, vnodes_per_shard). A key hashes to HashKey(key) and belongs to
// the shard of the first point clockwise at or after that hash, wrapping past 2^64-1 to the first
// point. A point's position depends only on its shard and vnode number, so adding a shard moves
// only the keys that the new shard's points take over (about 1/(S+1) of them), all to the new
// shard, and removing a shard moves only that shard's keys. More vnodes per shard even out the
// shares of the hash space (spread ~ 1/sqrt(vnodes)) at the price of a larger ring.
//
// Ties: if two points share a position (a 64-bit hash collision, practically never), points sort
// by (position, shard) and the one with the smaller shard id owns the position; the other owns
// nothing. So the owner of every hash is a pure function of (shards, vnodes_per_shard).
//
// Complexity: Build is O(P log P) time for P = shards x vnodes points, and the ring holds P points
// of 16 bytes each in one sorted flat vector. ShardFor is one hash of the key plus a binary search,
// O(log P) probes. HashShares is O(P log S).
//
// Thread-safety: a Ring is an immutable value after Build; any number of threads may call its
// const methods at once. A moved-from Ring must not be used except to be assigned to or destroyed.
//
// Formats: HashKey and VnodePoint decide where every key lives. Every node and client must compute
// them identically, and a change moves (almost) every key, so they are fixed forever, like an
// on-disk format (docs/scaling.md describes the directory built from them).
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvd::kv {

// The part of `key` that is hashed (the Redis Cluster hash-tag rule): if the key contains a '{',
// and after the first '{' there is a '}', and the text between that '{' and the first '}' after it
// is non-empty, only that text (the tag) is hashed; otherwise the whole key is. Keys that share a
// tag land in the same shard: "{user1}.name" and "{user1}.mail" both hash "user1".
// Examples: "{}x" -> "{}x" (empty tag), "a{b{c}d}" -> "b{c", "}{a}" -> "a", "a}b{" -> "a}b{".
// The result points into `key`.
std::string_view HashPart(std::string_view key);

// XXH3_64bits (xxHash 0.8, seed 0) of HashPart(key). Fixed forever (see Formats above).
uint64_t HashKey(std::string_view key);

// The ring position of virtual node `vnode` of `shard`: XXH3_64bits (seed 0) of the 12 bytes
// big-endian(shard, 8 bytes) followed by big-endian(vnode, 4 bytes). Fixed forever.
uint64_t VnodePoint(uint64_t shard, uint32_t vnode);

class Ring {
 public:
  // One virtual node. Sorted by position, then shard (the tie rule above).
  struct Point {
    uint64_t position;
    uint64_t shard;
    auto operator<=>(const Point&) const = default;
  };

  static constexpr int kMaxVnodesPerShard = 10000;
  // Bound on shards x vnodes_per_shard: 64 Mi points, 1 GiB of points.
  static constexpr size_t kMaxPoints = size_t{1} << 26;

  // Builds the ring of `shards` (any order; at least one; no duplicates) with `vnodes_per_shard`
  // points each (1..kMaxVnodesPerShard; shards x vnodes at most kMaxPoints). On invalid input
  // returns nullopt and, if `error` is not null, sets *error to why.
  [[nodiscard]] static std::optional<Ring> Build(std::vector<uint64_t> shards, int vnodes_per_shard,
                                                 std::string* error);

  // The shard that owns `key`: ShardForHash(HashKey(key)).
  uint64_t ShardFor(std::string_view key) const;
  // The shard of the first point at or after `hash`, wrapping to the first point.
  uint64_t ShardForHash(uint64_t hash) const;

  const std::vector<Point>& points() const { return points_; }     // sorted; shards x vnodes
  const std::vector<uint64_t>& shards() const { return shards_; }  // ascending
  int vnodes_per_shard() const { return vnodes_per_shard_; }

  // Each shard's fraction of the 2^64 hashes (the arcs that end at its points). Every shard is
  // present (possibly with 0); the fractions sum to 1 up to floating-point rounding.
  std::map<uint64_t, double> HashShares() const;

  // Same shards and vnodes per shard, hence the same points and the same owner for every key.
  bool operator==(const Ring& other) const;

 private:
  Ring(std::vector<uint64_t> shards, int vnodes_per_shard, std::vector<Point> points);

  std::vector<uint64_t> shards_;
  int vnodes_per_shard_;
  std::vector<Point> points_;
};

}  // namespace kvd::kv
