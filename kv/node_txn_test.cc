// Transactions through kv::Node end to end (three nodes in one process, four shards of one
// replica each, so most transactions span nodes and every step is forwarded): single-shard
// transactions in one entry, cross-shard two-phase commit, the failure branch, plain writes and
// reads next to transactions, and no record left in doubt afterwards.
// Label: integration (real time: elections).
#include <gtest/gtest.h>

#include "kv/node_test_util.h"

namespace kvd::kv {
namespace {

class NodeTxnTest : public NodeClusterTest {
 protected:
  void SetUp() override {
    shards_ = {1, 2, 3, 4};
    replication_ = 1;
    NodeClusterTest::SetUp();
  }
  TxnResponse Call(uint64_t via, TxnRequest req) {
    std::promise<TxnResponse> p;
    nodes_[via]->Txn(std::move(req), [&](TxnResponse r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  TxnResponse Retrying(uint64_t via, const TxnRequest& req) {
    TxnResponse r;
    for (int i = 0; i < 300; ++i) {
      r = Call(via, req);
      if (r.code != ErrorCode::kUnavailable) return r;
      std::this_thread::sleep_for(20ms);
    }
    return r;
  }
  TxnListResponse List(uint64_t via) {
    std::promise<TxnListResponse> p;
    nodes_[via]->Txns({}, [&](TxnListResponse r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  // Two keys that the directory places in different shards.
  std::pair<std::string, std::string> KeysInTwoShards() {
    DirectoryView dir;
    for (int i = 0; i < 500 && dir.version == 0; ++i) {
      dir = nodes_[1]->Directory();
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_NE(dir.version, 0u);
    const auto shard_of = [&](const std::string& key) {
      ReadResponse r = Get(1, key);
      return r.shard;
    };
    const std::string a = "acct-a";
    const uint64_t sa = shard_of(a);
    for (int i = 0; i < 100; ++i) {
      std::string b = "acct-" + std::to_string(i);
      if (shard_of(b) != sa && shard_of(b) != 0) return {a, b};
    }
    ADD_FAILURE() << "no two keys in different shards";
    return {a, a};
  }
  static TxnOp Op(TxnOpType type, const std::string& key, const std::string& value = "") {
    TxnOp op;
    op.type = type;
    op.key = key;
    op.value = value;
    return op;
  }
  static TxnCompare ValueIs(const std::string& key, const std::string& value) {
    TxnCompare c;
    c.key = key;
    c.target = TxnCompareTarget::kValue;
    c.value = value;
    return c;
  }
  static TxnCompare Absent(const std::string& key) {
    TxnCompare c;
    c.key = key;
    c.target = TxnCompareTarget::kExists;
    c.exists = false;
    return c;
  }
};

TEST_F(NodeTxnTest, SingleShardTransactionIsOneEntry) {
  TxnRequest create;
  create.compare = {Absent("{t}x"), Absent("{t}y")};
  create.success = {Op(TxnOpType::kPut, "{t}x", "1"), Op(TxnOpType::kPut, "{t}y", "2"),
                    Op(TxnOpType::kGet, "{t}x")};
  create.failure = {Op(TxnOpType::kGet, "{t}x")};
  TxnResponse r = Retrying(1, create);
  ASSERT_EQ(r.code, ErrorCode::kOk) << r.message;
  EXPECT_TRUE(r.succeeded);
  ASSERT_EQ(r.shards.size(), 1u);
  EXPECT_TRUE(r.txn_id.empty());
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.results[0].version, 1u);
  EXPECT_TRUE(r.results[2].found);  // a get sees the branch's earlier put
  EXPECT_EQ(r.results[2].value, "1");
  // Again: the compares fail, the failure branch runs.
  r = Retrying(2, create);
  ASSERT_EQ(r.code, ErrorCode::kOk) << r.message;
  EXPECT_FALSE(r.succeeded);
  ASSERT_EQ(r.results.size(), 1u);
  EXPECT_EQ(r.results[0].value, "1");
}

TEST_F(NodeTxnTest, CrossShardTransferAppliesBothOrNeither) {
  const auto [a, b] = KeysInTwoShards();
  TxnRequest init;
  init.compare = {Absent(a), Absent(b)};
  init.success = {Op(TxnOpType::kPut, a, "100"), Op(TxnOpType::kPut, b, "100")};
  TxnResponse r = Retrying(1, init);
  ASSERT_EQ(r.code, ErrorCode::kOk) << r.message;
  ASSERT_TRUE(r.succeeded);
  EXPECT_EQ(r.shards.size(), 2u);
  EXPECT_FALSE(r.txn_id.empty());
  TxnRequest move;
  move.compare = {ValueIs(a, "100"), ValueIs(b, "100")};
  move.success = {Op(TxnOpType::kPut, a, "90"), Op(TxnOpType::kPut, b, "110"),
                  Op(TxnOpType::kGet, a)};
  move.failure = {Op(TxnOpType::kGet, a), Op(TxnOpType::kGet, b)};
  r = Retrying(3, move);
  ASSERT_EQ(r.code, ErrorCode::kOk) << r.message;
  ASSERT_TRUE(r.succeeded);
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.results[0].version, 2u);
  EXPECT_EQ(r.results[2].value, "90");
  // Plain reads through any node see both writes at once (resolved, or read through the record).
  for (uint64_t via = 1; via <= 3; ++via) {
    EXPECT_EQ(Get(via, a).record->value(), "90");
    EXPECT_EQ(Get(via, b).record->value(), "110");
  }
  // The same transfer again: the compares fail on both shards, the failure branch reads.
  r = Retrying(2, move);
  ASSERT_EQ(r.code, ErrorCode::kOk) << r.message;
  EXPECT_FALSE(r.succeeded);
  ASSERT_EQ(r.results.size(), 2u);
  EXPECT_EQ(r.results[0].value, "90");
  EXPECT_EQ(r.results[1].value, "110");
  // A plain write to a key a finished transaction held is applied (its intent is gone).
  EXPECT_EQ(PutRetrying(2, a, "80").code, ErrorCode::kOk);
  // Nothing stays in doubt: the records are forgotten once every participant resolved.
  TxnListResponse list;
  for (int i = 0; i < 300; ++i) {
    list = List(1);
    if (list.code == ErrorCode::kOk && list.txns.empty()) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(list.code, ErrorCode::kOk);
  EXPECT_TRUE(list.txns.empty());
}

TEST_F(NodeTxnTest, ConcurrentTransfersKeepTheTotal) {
  const auto [a, b] = KeysInTwoShards();
  TxnRequest init;
  init.success = {Op(TxnOpType::kPut, a, "50"), Op(TxnOpType::kPut, b, "50")};
  ASSERT_EQ(Retrying(1, init).code, ErrorCode::kOk);
  // Transfers from every node at once; each reads then compares the values it read.
  std::vector<std::thread> workers;
  std::atomic<int> committed{0}, reads_ok{0};
  for (uint64_t via = 1; via <= 3; ++via) {
    workers.emplace_back([&, via] {
      for (int i = 0; i < 10; ++i) {
        TxnRequest read;
        read.success = {Op(TxnOpType::kGet, a), Op(TxnOpType::kGet, b)};
        TxnResponse got = Call(via, read);
        if (got.code != ErrorCode::kOk) continue;
        const int va = std::stoi(got.results[0].value), vb = std::stoi(got.results[1].value);
        // A read-only transaction over two shards (no intents) sees both sides of every
        // transfer or neither.
        EXPECT_EQ(va + vb, 100);
        EXPECT_EQ(got.shards.size(), 2u);
        reads_ok++;
        TxnRequest move;
        move.compare = {ValueIs(a, got.results[0].value), ValueIs(b, got.results[1].value)};
        move.success = {Op(TxnOpType::kPut, a, std::to_string(va - 1)),
                        Op(TxnOpType::kPut, b, std::to_string(vb + 1))};
        TxnResponse r = Call(via, move);
        if (r.code == ErrorCode::kOk && r.succeeded) committed++;
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_GT(committed.load(), 0);
  EXPECT_GT(reads_ok.load(), 0);
  const int total = std::stoi(Get(1, a).record->value()) + std::stoi(Get(2, b).record->value());
  EXPECT_EQ(total, 100);
  EXPECT_EQ(std::stoi(Get(3, b).record->value()), 50 + committed.load());
}

}  // namespace
}  // namespace kvd::kv
