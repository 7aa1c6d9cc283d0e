// kv::Node end to end in one process: three nodes over an in-memory transport, real LevelDB in
// temp directories, real threads. Label: integration (it waits on real time for elections).
#include "kv/node.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "kv/node_test_util.h"

namespace kvd::kv {
namespace {

using namespace std::chrono_literals;

TEST_F(NodeClusterTest, WritesThroughAnyNodeAreReadLinearizablyEverywhere) {
  const uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t follower = leader % 3 + 1;
  WriteResponse w = PutRetrying(follower, "a", "1");  // forwarded to the leader by Raft
  ASSERT_EQ(w.code, ErrorCode::kOk) << w.message;
  EXPECT_EQ(w.version, 1u);
  EXPECT_GT(w.revision, 0u);
  w = PutRetrying(leader, "a", "2");
  ASSERT_EQ(w.code, ErrorCode::kOk) << w.message;
  EXPECT_EQ(w.version, 2u);
  for (uint64_t id = 1; id <= 3; ++id) {
    ReadResponse r = Get(id, "a");
    ASSERT_EQ(r.code, ErrorCode::kOk) << "node " << id << ": " << r.message;
    EXPECT_EQ(r.record->value(), "2");
    EXPECT_EQ(r.record->version(), 2u);
  }
  EXPECT_EQ(Get(leader, "missing").code, ErrorCode::kNotFound);
}

TEST_F(NodeClusterTest, CompareAndSetAndIdempotentRetry) {
  const uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  ASSERT_EQ(PutRetrying(leader, "k", "v1").code, ErrorCode::kOk);
  WriteResponse bad = Put(leader, "k", "v2", /*if_version=*/7);
  EXPECT_EQ(bad.code, ErrorCode::kVersionMismatch);
  EXPECT_EQ(bad.current_version, 1u);
  EXPECT_EQ(Put(leader, "k", "x", /*if_version=*/0).code, ErrorCode::kVersionMismatch);
  WriteResponse first = Put(leader, "k", "v2", 1, "client-a", 1);
  ASSERT_EQ(first.code, ErrorCode::kOk);
  WriteResponse retry = Put(leader, "k", "v2", 1, "client-a", 1);  // same key: same outcome
  ASSERT_EQ(retry.code, ErrorCode::kOk);
  EXPECT_EQ(retry.revision, first.revision);
  EXPECT_EQ(Get(leader, "k").record->version(), 2u);  // applied once
}

TEST_F(NodeClusterTest, LeaderLossKeepsAcknowledgedWritesAndRestartCatchesUp) {
  compact_every_ = 50;  // restarted node must come back through a snapshot
  for (uint64_t id = 1; id <= 3; ++id) StopNode(id);
  for (uint64_t id = 1; id <= 3; ++id) StartNode(id);
  const uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(PutRetrying(leader, "key" + std::to_string(i), "v").code, ErrorCode::kOk);
  }
  StopNode(leader);  // the leader dies
  const uint64_t next = WaitLeader();
  ASSERT_NE(next, 0u);
  ASSERT_NE(next, leader);
  for (int i = 20; i < 200; ++i) {
    ASSERT_EQ(PutRetrying(next, "key" + std::to_string(i), "v").code, ErrorCode::kOk);
  }
  StartNode(leader);  // behind the compacted log: needs a snapshot
  ASSERT_NE(WaitLeader(), 0u);
  ReadResponse r;
  // The installed data is readable (from this thread) a moment before the driver thread counts
  // the install, after kvdb's sync: wait for both.
  for (int i = 0; i < 500; ++i) {
    r = Get(leader, "key199", /*stale=*/true);
    if (r.code == ErrorCode::kOk && MetricValue(leader, "kvd_snapshots_installed_total") >= 1) {
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(r.code, ErrorCode::kOk) << "restarted node never caught up";
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(Get(leader, "key" + std::to_string(i), true).code, ErrorCode::kOk) << i;
  }
  // It came back through a snapshot, not by replaying entries the others had compacted.
  EXPECT_GE(MetricValue(leader, "kvd_snapshots_installed_total"), 1u);
  // Full cluster restart keeps every acknowledged write.
  for (uint64_t id = 1; id <= 3; ++id) StopNode(id);
  for (uint64_t id = 1; id <= 3; ++id) StartNode(id);
  const uint64_t after = WaitLeader();
  ASSERT_NE(after, 0u);
  for (int i = 0; i < 200; ++i) {
    ReadResponse got = Get(after, "key" + std::to_string(i));
    EXPECT_EQ(got.code, ErrorCode::kOk) << i << ": " << got.message;
  }
}

// Eight shards on two of the three nodes each: every node hosts some shards and forwards the
// rest, and a scan merges all of them.
class ShardedNodeClusterTest : public NodeClusterTest {
 protected:
  ShardedNodeClusterTest() {
    shards_ = {1, 2, 3, 4, 5, 6, 7, 8};
    replication_ = 2;
  }
  // Pages through every key with 'limit' items per page; fails on an error or a page that does
  // not go forward.
  std::vector<std::string> ScanAll(uint64_t via, size_t limit) {
    std::vector<std::string> keys;
    std::string after;
    for (int page = 0; page < 1000; ++page) {
      ScanResponse r = Scan(via, after, limit);
      EXPECT_EQ(r.code, ErrorCode::kOk) << r.message;
      if (r.code != ErrorCode::kOk) break;
      for (const auto& [key, record] : r.items) keys.push_back(key);
      if (!r.more) break;
      EXPECT_FALSE(r.items.empty());
      if (r.items.empty()) break;
      after = r.items.back().first;
    }
    return keys;
  }
};

TEST_F(ShardedNodeClusterTest, AnyNodeServesEveryShardAndScansMergeThemInKeyOrder) {
  std::vector<std::string> written;
  std::set<uint64_t> shards_used;
  const std::string big(200 << 10, 'v');  // 200 KiB: a shard's page budget holds only a few
  for (int i = 0; i < 48; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "key%03d", i);
    const uint64_t via = 1 + i % 3;  // hosts the key's shard or forwards the write
    WriteResponse w = PutRetrying(via, key, i % 2 == 0 ? big : "small");
    ASSERT_EQ(w.code, ErrorCode::kOk) << key << ": " << w.message;
    shards_used.insert(w.shard);
    written.push_back(key);
  }
  EXPECT_GE(shards_used.size(), 6u) << "keys should spread over the shards";
  for (uint64_t via = 1; via <= 3; ++via) {
    for (const std::string& key : written) {
      ReadResponse r = Get(via, key);
      ASSERT_EQ(r.code, ErrorCode::kOk) << key << " via n" << via << ": " << r.message;
    }
  }
  // Small pages (the item limit cuts) and one large page (the byte budget cuts each shard): every
  // key exactly once, in order.
  EXPECT_EQ(ScanAll(1, 5), written);
  EXPECT_EQ(ScanAll(2, 1000), written);
  EXPECT_GE(MetricValue(1, "kvd_forwarded_requests_total") +
                MetricValue(2, "kvd_forwarded_requests_total") +
                MetricValue(3, "kvd_forwarded_requests_total"),
            1u);
}

}  // namespace
}  // namespace kvd::kv
