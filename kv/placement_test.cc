#include "kv/placement.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace kvd::kv {
namespace {

std::vector<uint64_t> Ids(uint64_t first, uint64_t step, size_t count) {
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < count; ++i) ids.push_back(first + i * step);
  return ids;
}

// Checks every property PlaceShards promises (placement.h) for one input.
void CheckEven(const std::vector<uint64_t>& nodes, const std::vector<uint64_t>& shards, int r) {
  const std::string where = "N=" + std::to_string(nodes.size()) +
                            " S=" + std::to_string(shards.size()) + " R=" + std::to_string(r);
  const size_t n = nodes.size();
  const size_t s = shards.size();
  const size_t want_r = static_cast<size_t>(std::clamp<int>(r, 1, static_cast<int>(n)));
  const std::vector<ShardPlacement> placement = PlaceShards(nodes, shards, r);
  ASSERT_EQ(placement.size(), s) << where;

  std::map<uint64_t, size_t> replicas;
  std::map<uint64_t, size_t> leaders;
  for (uint64_t node : nodes) replicas[node] = leaders[node] = 0;
  for (size_t i = 0; i < s; ++i) {
    const ShardPlacement& p = placement[i];
    EXPECT_EQ(p.shard, shards[i]) << where;
    ASSERT_EQ(p.replicas.size(), want_r) << where << " shard " << p.shard;
    EXPECT_EQ(std::set<uint64_t>(p.replicas.begin(), p.replicas.end()).size(), want_r)
        << where << " shard " << p.shard << ": replicas not distinct";
    for (uint64_t node : p.replicas) {
      ASSERT_TRUE(replicas.contains(node)) << where << ": unknown node " << node;
      ++replicas[node];
    }
    ++leaders[p.replicas[0]];
  }
  for (uint64_t node : nodes) {
    EXPECT_GE(replicas[node], s * want_r / n) << where << " node " << node;
    EXPECT_LE(replicas[node], (s * want_r + n - 1) / n) << where << " node " << node;
    EXPECT_GE(leaders[node], s / n) << where << " node " << node;
    EXPECT_LE(leaders[node], (s + n - 1) / n) << where << " node " << node;
  }
}

TEST(PlacementTest, SpreadsReplicasAndLeadersEvenly) {
  for (size_t n = 3; n <= 9; ++n) {
    for (size_t s : {1, 16, 64, 100}) {
      for (int r : {1, 3, 5}) {
        CheckEven(Ids(100, 7, n), Ids(1, 1, s), r);
      }
    }
  }
}

TEST(PlacementTest, EvenForEveryShapeUpToTwelveNodes) {
  for (size_t n = 1; n <= 12; ++n) {
    for (size_t s = 0; s <= 40; ++s) {
      for (int r = 0; r <= 13; ++r) CheckEven(Ids(1, 1, n), Ids(1000, 3, s), r);
    }
  }
}

TEST(PlacementTest, EvenWhereASimpleRotationIsNot) {
  // Shard i on nodes i..i+R-1 would put 4 replicas on nodes 3 and 4 and none on node 8.
  CheckEven(Ids(0, 1, 9), Ids(0, 1, 4), 5);
}

TEST(PlacementTest, IsDeterministicAndIgnoresNodeOrder) {
  const std::vector<uint64_t> nodes = {11, 22, 33, 44, 55, 66, 77};
  const std::vector<uint64_t> shards = Ids(1, 1, 50);
  const std::vector<ShardPlacement> a = PlaceShards(nodes, shards, 3);
  EXPECT_EQ(a, PlaceShards(nodes, shards, 3));
  EXPECT_EQ(a, PlaceShards({77, 11, 55, 33, 22, 66, 44, 11}, shards, 3));
}

TEST(PlacementTest, SmallCaseByHand) {
  // N=4, R=2: gcd 2, so shards p and p+2 of a block share a start and the second leads one later.
  const std::vector<ShardPlacement> p = PlaceShards({1, 2, 3, 4}, {10, 11, 12, 13, 14}, 2);
  const std::vector<ShardPlacement> want = {
      {10, {1, 2}}, {11, {3, 4}}, {12, {2, 1}}, {13, {4, 3}}, {14, {1, 2}},
  };
  EXPECT_EQ(p, want);
}

TEST(PlacementTest, ClampsReplicationAndHandlesEmptyInputs) {
  EXPECT_EQ(PlaceShards({1, 2, 3}, {7}, 0)[0].replicas.size(), 1u);
  EXPECT_EQ(PlaceShards({1, 2, 3}, {7}, -4)[0].replicas.size(), 1u);
  EXPECT_EQ(PlaceShards({1, 2, 3}, {7}, 10)[0].replicas.size(), 3u);
  EXPECT_TRUE(PlaceShards({}, {1, 2}, 3).empty());
  EXPECT_TRUE(PlaceShards({1, 2}, {}, 3).empty());
}

}  // namespace
}  // namespace kvd::kv
