// kv::Node end to end in one process: three nodes over an in-memory transport, real LevelDB in
// temp directories, real threads. Label: integration (it waits on real time for elections).
#include "kv/node.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

namespace kvd::kv {
namespace {

using namespace std::chrono_literals;

// Delivers frames by handing them to the target node's inbox; a node can be cut off.
class MemTransport final : public Transport {
 public:
  MemTransport(uint64_t self, std::map<uint64_t, Node*>* nodes, std::mutex* mu,
               std::set<uint64_t>* down)
      : self_(self), nodes_(nodes), mu_(mu), down_(down) {}
  bool Send(kvpb::PeerBatch batch) override {
    std::lock_guard<std::mutex> lock(*mu_);
    if (down_->count(self_) || down_->count(batch.to_node())) return false;
    auto it = nodes_->find(batch.to_node());
    if (it == nodes_->end() || it->second == nullptr) return false;
    it->second->Deliver(std::move(batch));
    return true;
  }
  bool Reachable(uint64_t node) const override {
    std::lock_guard<std::mutex> lock(*mu_);
    return !down_->count(node);
  }

 private:
  uint64_t self_;
  std::map<uint64_t, Node*>* nodes_;
  std::mutex* mu_;
  std::set<uint64_t>* down_;
};

class NodeClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("kvd_node_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    for (uint64_t id = 1; id <= 3; ++id) members_.push_back({id, "mem", "mem", true});
    for (uint64_t id = 1; id <= 3; ++id) StartNode(id);
  }
  void TearDown() override {
    for (uint64_t id = 1; id <= 3; ++id) StopNode(id);
    std::filesystem::remove_all(dir_);
  }

  NodeConfig Config(uint64_t id) {
    NodeConfig c;
    c.node_id = id;
    c.members = members_;
    c.data_dir = (dir_ / ("node" + std::to_string(id))).string();
    c.tick_ms = 10;
    c.request_timeout_ms = 3000;
    c.compact_every = compact_every_;
    c.random_seed = id;
    c.shards = shards_;
    c.replication = replication_;
    return c;
  }
  void StartNode(uint64_t id) {
    std::unique_ptr<Node> node;
    ASSERT_TRUE(Node::Open(Config(id), &node).ok());
    transports_[id] = std::make_unique<MemTransport>(id, &ptrs_, &mu_, &down_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ptrs_[id] = node.get();
    }
    node->Start(transports_[id].get());
    nodes_[id] = std::move(node);
  }
  void StopNode(uint64_t id) {
    if (!nodes_[id]) return;
    nodes_[id]->Stop();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ptrs_[id] = nullptr;
    }
    nodes_[id].reset();
  }
  // The leader of shard 1 as every running node agrees, waiting up to 10 s.
  uint64_t WaitLeader() {
    for (int i = 0; i < 1000; ++i) {
      uint64_t leader = 0;
      bool agree = true;
      for (auto& [id, n] : nodes_) {
        if (!n) continue;
        uint64_t l = 0;
        for (const auto& sh : n->Status().shards) {
          if (sh.id == 1) l = sh.leader;  // the data shard (shard 0 is the meta shard)
        }
        if (l == 0 || (leader != 0 && l != leader)) agree = false;
        leader = l;
      }
      if (agree && leader != 0 && nodes_[leader]) return leader;
      std::this_thread::sleep_for(10ms);
    }
    return 0;
  }
  WriteResponse Put(uint64_t via, const std::string& key, const std::string& value,
                    std::optional<uint64_t> if_version = std::nullopt, std::string client = "",
                    uint64_t seq = 0) {
    std::promise<WriteResponse> p;
    WriteRequest req;
    req.key = key;
    req.value = value;
    req.if_version = if_version;
    req.client_id = client;
    req.seq = seq;
    nodes_[via]->Write(req, [&](WriteResponse r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  ScanResponse Scan(uint64_t via, const std::string& after, size_t limit) {
    std::promise<ScanResponse> p;
    ScanRequest req;
    req.after = after;
    req.limit = limit;
    nodes_[via]->Scan(req, [&](ScanResponse r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  ReadResponse Get(uint64_t via, const std::string& key, bool stale = false) {
    std::promise<ReadResponse> p;
    nodes_[via]->Read({key, stale}, [&](ReadResponse r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  uint64_t MetricValue(uint64_t node, const std::string& name) {
    const std::string text = nodes_[node]->Metrics();
    const size_t at = text.find("\n" + name + " ");
    if (at == std::string::npos) return 0;
    return std::stoull(text.substr(at + name.size() + 2));
  }
  // Retries a write through 'via' until it is applied (kOk) or definitely fails.
  WriteResponse PutRetrying(uint64_t via, const std::string& key, const std::string& value) {
    WriteResponse r;
    for (int i = 0; i < 100; ++i) {
      r = Put(via, key, value);
      if (r.code != ErrorCode::kUnavailable) return r;
      std::this_thread::sleep_for(20ms);
    }
    return r;
  }

  std::filesystem::path dir_;
  std::vector<NodeInfo> members_;
  uint64_t compact_every_ = 10000;
  std::vector<uint64_t> shards_ = {1};
  int replication_ = 3;
  std::mutex mu_;
  std::set<uint64_t> down_;
  std::map<uint64_t, Node*> ptrs_;
  std::map<uint64_t, std::unique_ptr<MemTransport>> transports_;
  std::map<uint64_t, std::unique_ptr<Node>> nodes_;
};

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
