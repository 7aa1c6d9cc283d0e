// Copyright (c) kvd authors.

#include "jepsen/checker/config_cache.h"

#include <gtest/gtest.h>

namespace kvd::lincheck {
namespace {

TEST(LinearizedSetTest, HashFollowsMembership) {
  LinearizedSet set(130);
  EXPECT_EQ(set.num_words(), 3u);
  set.Toggle(0);
  set.Toggle(129);
  EXPECT_TRUE(set.Contains(129));
  const uint64_t both = set.hash();
  set.Toggle(0);
  EXPECT_FALSE(set.Contains(0));
  EXPECT_NE(set.hash(), both);
  set.Toggle(0);
  EXPECT_EQ(set.hash(), both);
  set.Toggle(0);
  set.Toggle(129);
  EXPECT_EQ(set.hash(), 0u);
}

// Inserts with the window ends computed the slow way; ops below 64 * prefix_words are outside
// the window.
bool Insert(ConfigCache& cache, const LinearizedSet& set, int32_t state, int64_t num_ops,
            int64_t prefix_words = 0) {
  int64_t first_unset = 64 * prefix_words;
  while (first_unset < num_ops && set.Contains(first_unset)) ++first_unset;
  if (first_unset == num_ops) first_unset = static_cast<int64_t>(set.FirstUnsetFrom(num_ops));
  int64_t last_set = num_ops - 1;
  while (last_set >= 64 * prefix_words && !set.Contains(last_set)) --last_set;
  if (last_set < 64 * prefix_words) last_set = -1;
  return cache.Insert(set, state, first_unset, last_set);
}

TEST(ConfigCacheTest, RemembersSetAndStatePairs) {
  LinearizedSet set(100);
  ConfigCache cache(0);
  EXPECT_TRUE(Insert(cache, set, 0, 100));
  EXPECT_FALSE(Insert(cache, set, 0, 100));
  EXPECT_TRUE(Insert(cache, set, 1, 100));
  set.Toggle(70);
  EXPECT_TRUE(Insert(cache, set, 0, 100));
  EXPECT_FALSE(Insert(cache, set, 1 - 1, 100));
  EXPECT_EQ(cache.size(), 3u);
}

TEST(ConfigCacheTest, WindowsOfDifferentSetsNeverMatch) {
  // All 2^10 subsets of ops 60..69 (straddling a word boundary) with ops 0..59 set, plus the
  // same subsets with op 0 unset: every one is new exactly once.
  ConfigCache cache(0);
  for (int round = 0; round < 2; ++round) {
    for (int prefix_full = 0; prefix_full < 2; ++prefix_full) {
      for (uint32_t mask = 0; mask < 1024; ++mask) {
        LinearizedSet s(200);
        for (int op = prefix_full ? 0 : 1; op < 60; ++op) s.Toggle(op);
        for (int op = 0; op < 10; ++op) {
          if (mask & (1u << op)) s.Toggle(60 + op);
        }
        EXPECT_EQ(Insert(cache, s, 0, 200), round == 0) << mask;
      }
    }
  }
  LinearizedSet all(200);
  for (int op = 0; op < 200; ++op) all.Toggle(op);
  EXPECT_TRUE(Insert(cache, all, 0, 200));
  EXPECT_FALSE(Insert(cache, all, 0, 200));
  EXPECT_EQ(cache.size(), 2049u);
}

TEST(ConfigCacheTest, SurvivesGrowth) {
  // Every subset of 12 ops with two states: 8192 entries, several rehashes.
  ConfigCache cache(0);
  for (int round = 0; round < 2; ++round) {
    for (uint32_t mask = 0; mask < 4096; ++mask) {
      LinearizedSet s(12);
      for (int op = 0; op < 12; ++op) {
        if (mask & (1u << op)) s.Toggle(op);
      }
      for (int32_t state : {0, 7}) EXPECT_EQ(Insert(cache, s, state, 12), round == 0);
    }
  }
  EXPECT_EQ(cache.size(), 8192u);
  EXPECT_GT(cache.memory_bytes(), 8192u * 16);
}

TEST(ConfigCacheTest, PrefixWordsAreComparedWhole) {
  // Ops 0..99 (two words) are stored whole, ops 128..139 through the window.
  ConfigCache cache(2);
  for (int round = 0; round < 2; ++round) {
    for (int prefix_op : {-1, 0, 63, 64, 99}) {
      for (uint32_t mask = 0; mask < 64; ++mask) {
        LinearizedSet s(140);
        if (prefix_op >= 0) s.Toggle(prefix_op);
        for (int op = 0; op < 6; ++op) {
          if (mask & (1u << op)) s.Toggle(128 + 2 * op);
        }
        EXPECT_EQ(Insert(cache, s, 0, 140, 2), round == 0) << prefix_op << " " << mask;
      }
    }
  }
  EXPECT_EQ(cache.size(), 5u * 64);
}

TEST(LinearizedSetTest, FirstUnsetFrom) {
  LinearizedSet set(200);
  EXPECT_EQ(set.FirstUnsetFrom(0), 0u);
  for (int op = 0; op < 130; ++op) set.Toggle(op);
  EXPECT_EQ(set.FirstUnsetFrom(0), 130u);
  EXPECT_EQ(set.FirstUnsetFrom(129), 130u);
  EXPECT_EQ(set.FirstUnsetFrom(150), 150u);
  for (int op = 130; op < 200; ++op) set.Toggle(op);
  EXPECT_EQ(set.FirstUnsetFrom(5), 200u) << "past the last op: the first padding bit";
}

}  // namespace
}  // namespace kvd::lincheck
