// Benchmark of the consistent-hash ring (kv/ring.h) at growing sizes, for docs/scaling.md.
//
// For each (shards, vnodes per shard) it builds the ring and reports: the build time; the points
// and their memory (points x sizeof(Ring::Point)); the cost of one lookup, both ShardFor (hash the
// key, then binary search) and ShardForHash alone (the search over pre-computed hashes), in ns per
// call over the same pre-generated random keys of 16..32 bytes (the best of 3 passes); and the
// balance: the largest and smallest shard's share of the hash space relative to a fair 1/S.
// Then, for the rings with at least 1,000 shards, the balance per node: 1,000 nodes holding 3
// replicas of each shard (PlaceShards), each node's load being the sum of its replicas' shares.
//
// Usage: ring_bench [keys=1000000] [seed=1]
// Reports numbers, never pass/fail. Build it optimised (RelWithDebInfo or Release).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kv/placement.h"
#include "kv/ring.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Keys stored back to back in one buffer, so the lookups, not the key loads, dominate.
struct Keys {
  std::string bytes;
  std::vector<std::pair<size_t, size_t>> spans;  // offset, length
  std::string_view at(size_t i) const { return {bytes.data() + spans[i].first, spans[i].second}; }
};

Keys MakeKeys(size_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> length(16, 32);
  std::uniform_int_distribution<int> byte('!', '~');
  Keys keys;
  keys.spans.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const size_t len = length(rng);
    keys.spans.emplace_back(keys.bytes.size(), len);
    for (size_t j = 0; j < len; ++j) keys.bytes.push_back(static_cast<char>(byte(rng)));
  }
  return keys;
}

// The best of `passes` timings of fn over all n items, in ns per item; *sink absorbs the results.
template <typename Fn>
double NsPerCall(size_t n, int passes, uint64_t* sink, Fn fn) {
  double best = 1e30;
  for (int pass = 0; pass < passes; ++pass) {
    uint64_t acc = 0;
    const Clock::time_point start = Clock::now();
    for (size_t i = 0; i < n; ++i) acc += fn(i);
    best = std::min(best, Seconds(start) * 1e9 / static_cast<double>(n));
    *sink += acc;
  }
  return best;
}

constexpr uint64_t kNodes = 1000;
constexpr int kReplicas = 3;

// One row of the per-node table: place the shards on kNodes nodes and sum each node's shares.
std::string NodeBalance(const std::vector<uint64_t>& shards, int vnodes,
                        const std::map<uint64_t, double>& shares) {
  std::vector<uint64_t> nodes(kNodes);
  for (uint64_t i = 0; i < kNodes; ++i) nodes[i] = i + 1;
  const Clock::time_point start = Clock::now();
  const std::vector<kvd::kv::ShardPlacement> placement =
      kvd::kv::PlaceShards(nodes, shards, kReplicas);
  const double place_ms = Seconds(start) * 1e3;
  std::map<uint64_t, double> load;
  for (const kvd::kv::ShardPlacement& p : placement) {
    for (uint64_t node : p.replicas) load[node] += shares.at(p.shard);
  }
  double max_load = 0;
  double min_load = 1e30;
  for (const auto& [node, l] : load) {
    max_load = std::max(max_load, l);
    min_load = std::min(min_load, l);
  }
  const double fair = static_cast<double>(kReplicas) / static_cast<double>(kNodes);
  char row[160];
  std::snprintf(row, sizeof(row), "%8zu %6d %8.1f %15.1f %9.2f %9.2f\n", shards.size(), vnodes,
                place_ms,
                static_cast<double>(shards.size() * kReplicas) / static_cast<double>(kNodes),
                max_load / fair, min_load / fair);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t key_count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  if (key_count == 0) {
    std::fprintf(stderr, "usage: ring_bench [keys=1000000] [seed=1]\n");
    return 2;
  }
  const Keys keys = MakeKeys(key_count, seed);
  std::vector<uint64_t> hashes(key_count);
  for (size_t i = 0; i < key_count; ++i) hashes[i] = kvd::kv::HashKey(keys.at(i));

  const std::vector<std::pair<uint64_t, int>> configs = {
      {16, 100}, {64, 100}, {1000, 100}, {100000, 100}, {100000, 10}};
  std::printf("%zu random keys of 16..32 bytes, seed %llu; lookups: best of 3 passes\n\n",
              key_count, static_cast<unsigned long long>(seed));
  std::printf("%8s %6s %10s %10s %9s %12s %14s %9s %9s\n", "shards", "vnodes", "points",
              "memory_MB", "build_ms", "ShardFor_ns", "ByHash_ns", "max/fair", "min/fair");
  uint64_t sink = 0;
  std::string node_table;
  for (const auto& [shard_count, vnodes] : configs) {
    std::vector<uint64_t> shards(shard_count);
    for (uint64_t i = 0; i < shard_count; ++i) shards[i] = i + 1;
    const Clock::time_point start = Clock::now();
    std::string error;
    const std::optional<kvd::kv::Ring> ring = kvd::kv::Ring::Build(shards, vnodes, &error);
    const double build_ms = Seconds(start) * 1e3;
    if (!ring) {
      std::fprintf(stderr, "build failed: %s\n", error.c_str());
      return 1;
    }
    const double by_key =
        NsPerCall(key_count, 3, &sink, [&](size_t i) { return ring->ShardFor(keys.at(i)); });
    const double by_hash =
        NsPerCall(key_count, 3, &sink, [&](size_t i) { return ring->ShardForHash(hashes[i]); });
    const std::map<uint64_t, double> shares = ring->HashShares();
    double max_share = 0;
    double min_share = 1;
    for (const auto& [shard, share] : shares) {
      max_share = std::max(max_share, share);
      min_share = std::min(min_share, share);
    }
    const size_t points = ring->points().size();
    const double fair = 1.0 / static_cast<double>(shard_count);
    std::printf("%8llu %6d %10zu %10.1f %9.1f %12.1f %14.1f %9.2f %9.2f\n",
                static_cast<unsigned long long>(shard_count), vnodes, points,
                static_cast<double>(points * sizeof(kvd::kv::Ring::Point)) / 1e6, build_ms, by_key,
                by_hash, max_share / fair, min_share / fair);
    if (shard_count >= kNodes) node_table += NodeBalance(shards, vnodes, shares);
  }
  std::printf(
      "\nper node: %llu nodes, %d replicas per shard (PlaceShards); load = sum of shares\n\n",
      static_cast<unsigned long long>(kNodes), kReplicas);
  std::printf("%8s %6s %8s %15s %9s %9s\n", "shards", "vnodes", "place_ms", "replicas/node",
              "max/fair", "min/fair");
  std::printf("%s", node_table.c_str());
  std::printf("\n(checksum %llu)\n", static_cast<unsigned long long>(sink));
  return 0;
}
