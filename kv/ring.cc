#include "kv/ring.h"

#include <xxhash.h>

#include <algorithm>
#include <utility>

namespace kvd::kv {

std::string_view HashPart(std::string_view key) {
  const size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  const size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

uint64_t HashKey(std::string_view key) {
  const std::string_view part = HashPart(key);
  return XXH3_64bits(part.data(), part.size());
}

uint64_t VnodePoint(uint64_t shard, uint32_t vnode) {
  unsigned char buf[12];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<unsigned char>(shard >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) buf[8 + i] = static_cast<unsigned char>(vnode >> (24 - 8 * i));
  return XXH3_64bits(buf, sizeof(buf));
}

static_assert(sizeof(Ring::Point) == 16, "docs/scaling.md counts 16 bytes per point");

std::optional<Ring> Ring::Build(std::vector<uint64_t> shards, int vnodes_per_shard,
                                std::string* error) {
  auto fail = [error](std::string why) -> std::optional<Ring> {
    if (error != nullptr) *error = std::move(why);
    return std::nullopt;
  };
  if (shards.empty()) return fail("ring: no shards");
  if (vnodes_per_shard < 1 || vnodes_per_shard > kMaxVnodesPerShard) {
    return fail("ring: vnodes_per_shard " + std::to_string(vnodes_per_shard) + " not in [1, " +
                std::to_string(kMaxVnodesPerShard) + "]");
  }
  if (shards.size() > kMaxPoints / static_cast<size_t>(vnodes_per_shard)) {
    return fail("ring: " + std::to_string(shards.size()) + " shards x " +
                std::to_string(vnodes_per_shard) + " vnodes exceeds " + std::to_string(kMaxPoints) +
                " points");
  }
  std::sort(shards.begin(), shards.end());
  const auto dup = std::adjacent_find(shards.begin(), shards.end());
  if (dup != shards.end()) return fail("ring: duplicate shard " + std::to_string(*dup));

  std::vector<Point> points;
  points.reserve(shards.size() * static_cast<size_t>(vnodes_per_shard));
  for (uint64_t shard : shards) {
    for (int v = 0; v < vnodes_per_shard; ++v) {
      points.push_back(Point{VnodePoint(shard, static_cast<uint32_t>(v)), shard});
    }
  }
  std::sort(points.begin(), points.end());
  return Ring(std::move(shards), vnodes_per_shard, std::move(points));
}

Ring::Ring(std::vector<uint64_t> shards, int vnodes_per_shard, std::vector<Point> points)
    : shards_(std::move(shards)), vnodes_per_shard_(vnodes_per_shard), points_(std::move(points)) {}

uint64_t Ring::ShardFor(std::string_view key) const { return ShardForHash(HashKey(key)); }

uint64_t Ring::ShardForHash(uint64_t hash) const {
  // The first point with position >= hash; among equal positions, the smallest shard (sort order).
  auto it = std::lower_bound(points_.begin(), points_.end(), hash,
                             [](const Point& p, uint64_t h) { return p.position < h; });
  if (it == points_.end()) it = points_.begin();
  return it->shard;
}

std::map<uint64_t, double> Ring::HashShares() const {
  std::map<uint64_t, double> shares;
  for (uint64_t shard : shards_) shares[shard] = 0.0;
  constexpr double kSpace = 18446744073709551616.0;  // 2^64
  for (size_t i = 0; i < points_.size(); ++i) {
    // Point i owns (previous position, its position]; point 0's arc wraps past 2^64-1. A point that
    // shares its position with an earlier one owns an empty arc.
    const uint64_t prev = points_[i == 0 ? points_.size() - 1 : i - 1].position;
    const uint64_t arc = points_[i].position - prev;  // modulo 2^64
    double length = static_cast<double>(arc);
    if (i == 0 && arc == 0) length = kSpace;  // every point at one position: point 0 owns all
    shares[points_[i].shard] += length / kSpace;
  }
  return shares;
}

bool Ring::operator==(const Ring& other) const {
  // The points are a function of these two.
  return vnodes_per_shard_ == other.vnodes_per_shard_ && shards_ == other.shards_;
}

}  // namespace kvd::kv
