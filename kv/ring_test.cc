#include "kv/ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace kvd::kv {
namespace {

std::vector<uint64_t> ShardIds(uint64_t first, uint64_t count) {
  std::vector<uint64_t> ids;
  for (uint64_t i = 0; i < count; ++i) ids.push_back(first + i);
  return ids;
}

Ring MustBuild(std::vector<uint64_t> shards, int vnodes) {
  std::string error;
  std::optional<Ring> ring = Ring::Build(std::move(shards), vnodes, &error);
  if (!ring.has_value()) {
    std::fprintf(stderr, "Ring::Build failed: %s\n", error.c_str());
    std::abort();
  }
  return std::move(*ring);
}

std::string RandomKey(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> len(1, 40);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string key(static_cast<size_t>(len(rng)), '\0');
  for (char& c : key) c = static_cast<char>(byte(rng));
  return key;
}

// The owner by definition, by a linear scan: the point with the smallest position >= hash (the
// smallest shard among equal positions), else the smallest position overall.
uint64_t OwnerByScan(const Ring& ring, uint64_t hash) {
  const Ring::Point* at_or_after = nullptr;
  const Ring::Point* lowest = nullptr;
  for (const Ring::Point& p : ring.points()) {
    if (lowest == nullptr || p < *lowest) lowest = &p;
    if (p.position >= hash && (at_or_after == nullptr || p < *at_or_after)) at_or_after = &p;
  }
  return at_or_after != nullptr ? at_or_after->shard : lowest->shard;
}

TEST(HashPartTest, FollowsTheHashTagRule) {
  EXPECT_EQ(HashPart("plain"), "plain");
  EXPECT_EQ(HashPart(""), "");
  EXPECT_EQ(HashPart("{user1}.name"), "user1");     // tag at the start
  EXPECT_EQ(HashPart("profile.{user1}"), "user1");  // tag at the end
  EXPECT_EQ(HashPart("a{b}c{d}"), "b");             // only the first tag counts
  EXPECT_EQ(HashPart("{}"), "{}");                  // empty tag: the whole key
  EXPECT_EQ(HashPart("{}{user1}"), "{}{user1}");    // the first '{' decides, even if empty
  EXPECT_EQ(HashPart("a{b{c}d}"), "b{c");  // nested: up to the first '}' after the first '{'
  EXPECT_EQ(HashPart("{{x}}"), "{x");
  EXPECT_EQ(HashPart("a}b{c"), "a}b{c");  // '}' before '{' and none after it
  EXPECT_EQ(HashPart("}{x}"), "x");       // a '}' before the first '{' is ignored
  EXPECT_EQ(HashPart("no{close"), "no{close");
  EXPECT_EQ(HashPart("only}close"), "only}close");
}

TEST(HashKeyTest, KeysSharingATagShareAShard) {
  EXPECT_EQ(HashKey("{user1}.a"), HashKey("{user1}.b"));
  EXPECT_EQ(HashKey("{user1}.a"), HashKey("user1"));
  EXPECT_NE(HashKey("{user1}.a"), HashKey("{user2}.a"));
  const Ring ring = MustBuild(ShardIds(1, 16), 100);
  for (int i = 0; i < 100; ++i) {
    const std::string tag = "{user" + std::to_string(i) + "}";
    EXPECT_EQ(ring.ShardFor(tag + ".a"), ring.ShardFor(tag + ".b")) << tag;
  }
}

// These values pin the key -> hash format (ring.h, Formats). If this test fails, every key of
// every existing cluster would move: do not update the constants, restore the function.
TEST(HashKeyTest, GoldenValuesNeverChange) {
  EXPECT_EQ(HashKey(""), 0x2d06800538d394c2u);  // the published XXH3_64bits("") test vector
  EXPECT_EQ(HashKey("user:1000"), 0xfb6841b2068c0c9fu);
  EXPECT_EQ(HashKey("{user1}.a"), 0xeff89d018b2aae9cu);
}

TEST(VnodePointTest, GoldenValuesNeverChange) {
  // XXH3_64bits of the bytes 01 02 ... 0c: shard then vnode, both big-endian.
  EXPECT_EQ(VnodePoint(0x0102030405060708u, 0x090a0b0cu), 0x46878d25c61dfc0fu);
  EXPECT_EQ(VnodePoint(1, 0), 0xaf8a366c0b48c68bu);
}

TEST(RingTest, RejectsInvalidInput) {
  std::string error;
  EXPECT_FALSE(Ring::Build({}, 10, &error).has_value());
  EXPECT_NE(error.find("no shards"), std::string::npos) << error;
  EXPECT_FALSE(Ring::Build({3, 1, 3}, 10, &error).has_value());
  EXPECT_NE(error.find("duplicate shard 3"), std::string::npos) << error;
  EXPECT_FALSE(Ring::Build({1}, 0, &error).has_value());
  EXPECT_FALSE(Ring::Build({1}, -1, &error).has_value());
  EXPECT_FALSE(Ring::Build({1}, Ring::kMaxVnodesPerShard + 1, &error).has_value());
  EXPECT_NE(error.find("vnodes_per_shard"), std::string::npos) << error;
  EXPECT_FALSE(Ring::Build(ShardIds(0, Ring::kMaxPoints / 100 + 1), 100, &error).has_value());
  EXPECT_FALSE(Ring::Build({}, 10, nullptr).has_value());  // the error is optional
  EXPECT_TRUE(Ring::Build({1}, 1, nullptr).has_value());
  EXPECT_TRUE(Ring::Build({1}, Ring::kMaxVnodesPerShard, nullptr).has_value());
}

TEST(RingTest, PointsAreSortedAndComplete) {
  const Ring ring = MustBuild({30, 10, 20}, 50);
  EXPECT_EQ(ring.shards(), (std::vector<uint64_t>{10, 20, 30}));
  EXPECT_EQ(ring.vnodes_per_shard(), 50);
  ASSERT_EQ(ring.points().size(), 150u);
  EXPECT_TRUE(std::is_sorted(ring.points().begin(), ring.points().end()));
  for (uint64_t shard : ring.shards()) {
    for (uint32_t v = 0; v < 50; ++v) {
      const Ring::Point p{VnodePoint(shard, v), shard};
      EXPECT_TRUE(std::binary_search(ring.points().begin(), ring.points().end(), p));
    }
  }
}

TEST(RingTest, OwnershipAgreesWithALinearScan) {
  const Ring ring = MustBuild({5, 900, 77, 12, 3, 1 << 20, 41}, 20);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 10000; ++i) {
    const std::string key = RandomKey(rng);
    ASSERT_EQ(ring.ShardFor(key), OwnerByScan(ring, HashKey(key))) << i;
  }
  // Hashes exactly at, just before and just after every point.
  for (const Ring::Point& p : ring.points()) {
    for (uint64_t h : {p.position - 1, p.position, p.position + 1}) {
      ASSERT_EQ(ring.ShardForHash(h), OwnerByScan(ring, h)) << h;
    }
  }
}

TEST(RingTest, WrapsAroundPastTheLastPoint) {
  const Ring ring = MustBuild(ShardIds(1, 4), 8);
  const Ring::Point& first = ring.points().front();
  const Ring::Point& last = ring.points().back();
  EXPECT_EQ(ring.ShardForHash(first.position), first.shard);
  EXPECT_EQ(ring.ShardForHash(0), first.shard);
  EXPECT_EQ(ring.ShardForHash(last.position), last.shard);
  EXPECT_EQ(ring.ShardForHash(last.position + 1), first.shard);
  EXPECT_EQ(ring.ShardForHash(UINT64_MAX), first.shard);
}

TEST(RingTest, OneShardOwnsEverything) {
  const Ring ring = MustBuild({42}, 1);
  EXPECT_EQ(ring.ShardForHash(0), 42u);
  EXPECT_EQ(ring.ShardForHash(UINT64_MAX), 42u);
  EXPECT_EQ(ring.ShardFor("anything"), 42u);
  EXPECT_DOUBLE_EQ(ring.HashShares().at(42), 1.0);
}

TEST(RingTest, SameInputsMakeEqualRings) {
  const Ring a = MustBuild({1, 2, 3, 4}, 10);
  const Ring b = MustBuild({4, 2, 3, 1}, 10);  // order does not matter
  EXPECT_TRUE(a == b);
  EXPECT_EQ(a.points(), b.points());
  EXPECT_FALSE(a == MustBuild({1, 2, 3, 4}, 11));
  EXPECT_FALSE(a == MustBuild({1, 2, 3, 5}, 10));
}

TEST(RingTest, SharesSumToOneAndAreBalanced) {
  const Ring ring = MustBuild(ShardIds(1, 16), 100);
  const std::map<uint64_t, double> shares = ring.HashShares();
  ASSERT_EQ(shares.size(), 16u);
  double sum = 0;
  for (const auto& [shard, share] : shares) {
    sum += share;
    EXPECT_GE(share, 0.5 / 16) << shard;
    EXPECT_LE(share, 1.6 / 16) << shard;
  }
  EXPECT_NEAR(sum, 1.0, 1e-12);

  // The shares are what keys see: count 100,000 random keys per shard.
  std::map<uint64_t, int> keys;
  std::mt19937_64 rng(2);
  const int n = 100000;
  for (int i = 0; i < n; ++i) ++keys[ring.ShardFor(RandomKey(rng))];
  for (const auto& [shard, share] : shares) {
    EXPECT_NEAR(static_cast<double>(keys[shard]) / n, share, 0.01) << shard;
  }
}

TEST(RingTest, AddingAShardMovesOnlyKeysToIt) {
  const Ring before = MustBuild(ShardIds(1, 16), 100);
  const Ring after = MustBuild(ShardIds(1, 17), 100);
  std::mt19937_64 rng(3);
  const int n = 100000;
  int moved = 0;
  for (int i = 0; i < n; ++i) {
    const std::string key = RandomKey(rng);
    const uint64_t old_shard = before.ShardFor(key);
    const uint64_t new_shard = after.ShardFor(key);
    if (old_shard == new_shard) continue;
    ++moved;
    ASSERT_EQ(new_shard, 17u) << "a key moved between two old shards";
  }
  const double fraction = static_cast<double>(moved) / n;  // expected about 1/17 = 0.059
  EXPECT_GT(fraction, 0.03);
  EXPECT_LT(fraction, 0.09);
}

}  // namespace
}  // namespace kvd::kv
