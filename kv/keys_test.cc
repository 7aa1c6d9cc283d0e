#include "kv/keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace kvd::kv::keys {
namespace {

TEST(KeysTest, BigEndianRoundTripsAndOrdersNumerically) {
  const std::vector<uint64_t> values = {0,         1, 255, 256, 65535, 1ull << 32, UINT64_MAX - 1,
                                        UINT64_MAX};
  for (size_t i = 0; i < values.size(); ++i) {
    std::string a;
    PutBigEndian64(&a, values[i]);
    ASSERT_EQ(a.size(), 8u);
    EXPECT_EQ(GetBigEndian64(a), values[i]);
    if (i > 0) {
      std::string prev;
      PutBigEndian64(&prev, values[i - 1]);
      EXPECT_LT(prev, a) << values[i - 1] << " vs " << values[i];
    }
  }
}

TEST(KeysTest, EntryKeysOfAShardSortByIndex) {
  const std::vector<uint64_t> indexes = {1, 2, 9, 10, 255, 256, 257, 1000000, UINT64_MAX};
  for (size_t i = 1; i < indexes.size(); ++i) {
    EXPECT_LT(EntryKey(7, indexes[i - 1]), EntryKey(7, indexes[i])) << indexes[i];
  }
}

TEST(KeysTest, ShardsDoNotInterleave) {
  // Every entry key of shard 1 sorts before every entry key of shard 2, even shard 256 after 255,
  // and each key starts with its shard's prefix and no other's.
  EXPECT_LT(EntryKey(1, UINT64_MAX), EntryKey(2, 0));
  EXPECT_LT(EntryKey(255, UINT64_MAX), EntryKey(256, 0));
  EXPECT_TRUE(EntryKey(256, 5).starts_with(EntryPrefix(256)));
  EXPECT_FALSE(EntryKey(256, 5).starts_with(EntryPrefix(1)));
  EXPECT_LT(DataKey(1, "\xff\xff\xff"), DataKey(2, ""));
  EXPECT_LT(SessionKey(1, "zzz"), SessionKey(2, ""));
  EXPECT_TRUE(DataKey(3, "k").starts_with(DataPrefix(3)));
  EXPECT_TRUE(SessionKey(3, "c").starts_with(SessionPrefix(3)));
}

TEST(KeysTest, RecordKindsAreDistinct) {
  const std::vector<std::string> all = {EntryPrefix(1), HardStateKey(1), SnapshotKey(1),
                                        DataPrefix(1),  AppliedKey(1),   SessionPrefix(1)};
  for (size_t i = 0; i < all.size(); ++i) {
    for (size_t j = 0; j < all.size(); ++j) {
      if (i != j) {
        EXPECT_FALSE(all[i].starts_with(all[j])) << i << " " << j;
      }
    }
  }
}

TEST(KeysTest, DataKeysSortLikeUserKeys) {
  const std::vector<std::string> user = {"",     "a",   std::string("a\0b", 3), "ab", "b",
                                         "\x80", "\xff"};
  for (size_t i = 1; i < user.size(); ++i) {
    EXPECT_LT(DataKey(4, user[i - 1]), DataKey(4, user[i])) << i;
  }
}

TEST(KeysTest, ParseRoundTrips) {
  uint64_t shard = 0, index = 0;
  ASSERT_TRUE(ParseEntryKey(EntryKey(42, 1234567), &shard, &index));
  EXPECT_EQ(shard, 42u);
  EXPECT_EQ(index, 1234567u);
  ASSERT_TRUE(ParseEntryKey(EntryKey(UINT64_MAX, UINT64_MAX), &shard, &index));
  EXPECT_EQ(shard, UINT64_MAX);
  EXPECT_EQ(index, UINT64_MAX);

  std::string_view user;
  const std::string binary("k\0ey", 4);
  const std::string data_key = DataKey(9, binary);
  ASSERT_TRUE(ParseDataKey(data_key, &shard, &user));
  EXPECT_EQ(shard, 9u);
  EXPECT_EQ(user, binary);

  EXPECT_FALSE(ParseEntryKey(HardStateKey(1), &shard, &index));
  EXPECT_FALSE(ParseEntryKey(EntryKey(1, 2) + "x", &shard, &index));
  EXPECT_FALSE(ParseEntryKey(DataKey(1, "12345678"), &shard, &index));
  EXPECT_FALSE(ParseDataKey(EntryKey(1, 2), &shard, &user));
  EXPECT_FALSE(ParseDataKey("d", &shard, &user));
}

}  // namespace
}  // namespace kvd::kv::keys
