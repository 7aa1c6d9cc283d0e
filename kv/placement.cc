#include "kv/placement.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <utility>

namespace kvd::kv {

std::vector<ShardPlacement> PlaceShards(const std::vector<uint64_t>& node_ids,
                                        const std::vector<uint64_t>& shard_ids, int replication) {
  std::vector<uint64_t> nodes = node_ids;
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  if (nodes.empty()) return {};

  const size_t n = nodes.size();
  const size_t r =
      static_cast<size_t>(std::clamp<int64_t>(replication, 1, static_cast<int64_t>(n)));
  const size_t shards_per_start = n / std::gcd(r, n);  // N/g: shards of a block sharing one start

  std::vector<ShardPlacement> out;
  out.reserve(shard_ids.size());
  for (size_t i = 0; i < shard_ids.size(); ++i) {
    const size_t p = i % n;
    const size_t start = (p * r) % n;  // == (i * r) % n, without overflow for large i
    const size_t leader_offset = p / shards_per_start;  // < gcd(r, n) <= r
    ShardPlacement placement{shard_ids[i], {}};
    placement.replicas.reserve(r);
    for (size_t j = 0; j < r; ++j) {
      placement.replicas.push_back(nodes[(start + (leader_offset + j) % r) % n]);
    }
    out.push_back(std::move(placement));
  }
  return out;
}

}  // namespace kvd::kv
