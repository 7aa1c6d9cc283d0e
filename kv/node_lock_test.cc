// Locks through kv::Node end to end (three nodes in one process): acquire, waiters granted
// without polling, leases ending by the shard clock, fenced writes, a leader's death.
// Label: integration (real time: elections, leases).
#include <gtest/gtest.h>

#include "kv/node_test_util.h"

namespace kvd::kv {
namespace {

class NodeLockTest : public NodeClusterTest {
 protected:
  LockResponse Call(uint64_t via, LockRequest req) {
    std::promise<LockResponse> p;
    nodes_[via]->Lock(std::move(req), [&](LockResponse r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  // Retries while nothing was applied (no leader yet, leadership moving).
  LockResponse Retrying(uint64_t via, const LockRequest& req) {
    LockResponse r;
    for (int i = 0; i < 200; ++i) {
      r = Call(via, req);
      if (r.code != ErrorCode::kUnavailable) return r;
      std::this_thread::sleep_for(20ms);
    }
    return r;
  }
  static LockRequest Acquire(const std::string& name, const std::string& owner, int64_t ttl,
                             int64_t wait = 0) {
    LockRequest r;
    r.op = LockOp::kAcquire;
    r.name = name;
    r.owner = owner;
    r.ttl_ms = ttl;
    r.wait_ms = wait;
    return r;
  }
  static LockRequest WithToken(LockOp op, const std::string& name, uint64_t token) {
    LockRequest r;
    r.op = op;
    r.name = name;
    r.token = token;
    return r;
  }
  WriteResponse FencedPut(uint64_t via, const std::string& key, const std::string& lock,
                          uint64_t token) {
    std::promise<WriteResponse> p;
    WriteRequest req;
    req.key = key;
    req.value = "by " + std::to_string(token);
    req.fence = Fence{lock, token};
    nodes_[via]->Write(req, [&](WriteResponse r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  LockListResponse List(uint64_t via, const std::string& name = "") {
    std::promise<LockListResponse> p;
    LockListRequest req;
    req.name = name;
    nodes_[via]->Locks(req, [&](LockListResponse r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
};

TEST_F(NodeLockTest, TokensIncreaseAndFencedWritesFollowTheLock) {
  const uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t follower = leader % 3 + 1;
  LockResponse a = Retrying(follower, Acquire("{j}lock", "a", 60'000));
  ASSERT_EQ(a.code, ErrorCode::kOk) << a.message;
  ASSERT_GT(a.token, 0u);
  LockResponse b = Retrying(leader, Acquire("{j}lock", "b", 60'000));
  ASSERT_EQ(b.code, ErrorCode::kLockHeld);
  ASSERT_TRUE(b.holder.has_value());
  EXPECT_EQ(b.holder->owner, "a");
  EXPECT_EQ(b.holder->token, a.token);
  EXPECT_GT(b.holder->expires_in_ms, 50'000);

  EXPECT_EQ(FencedPut(leader, "{j}data", "{j}lock", a.token).code, ErrorCode::kOk);
  EXPECT_EQ(Retrying(follower, WithToken(LockOp::kKeepalive, "{j}lock", a.token)).code,
            ErrorCode::kOk);
  EXPECT_EQ(Retrying(follower, WithToken(LockOp::kRelease, "{j}lock", a.token)).code,
            ErrorCode::kOk);
  // Released: the old token no longer writes, even a key nobody else wrote since.
  EXPECT_EQ(FencedPut(follower, "{j}data", "{j}lock", a.token).code, ErrorCode::kFenced);
  LockResponse c = Retrying(follower, Acquire("{j}lock", "c", 60'000));
  ASSERT_EQ(c.code, ErrorCode::kOk);
  EXPECT_GT(c.token, a.token);
  EXPECT_EQ(FencedPut(leader, "{j}data", "{j}lock", c.token).code, ErrorCode::kOk);
  EXPECT_EQ(Retrying(leader, WithToken(LockOp::kRelease, "{j}lock", a.token)).code,
            ErrorCode::kFenced);
  EXPECT_EQ(Retrying(leader, WithToken(LockOp::kKeepalive, "nope", 1)).code, ErrorCode::kNotFound);

  LockListResponse listed = List(follower);
  ASSERT_EQ(listed.code, ErrorCode::kOk) << listed.message;
  ASSERT_EQ(listed.locks.size(), 1u);
  EXPECT_EQ(listed.locks[0].name, "{j}lock");
  ASSERT_TRUE(listed.locks[0].holder.has_value());
  EXPECT_EQ(listed.locks[0].holder->owner, "c");
  EXPECT_EQ(listed.locks[0].last_token, c.token);
  EXPECT_EQ(List(leader, "missing").code, ErrorCode::kNotFound);
}

TEST_F(NodeLockTest, AWaiterIsGrantedOnReleaseAndAnotherWhenTheLeaseRunsOut) {
  const uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t n2 = leader % 3 + 1, n3 = n2 % 3 + 1;
  LockResponse a = Retrying(leader, Acquire("L", "a", 60'000));
  ASSERT_EQ(a.code, ErrorCode::kOk) << a.message;
  // b queues (through a follower), then c (through the other): first come, first served.
  std::promise<LockResponse> pb, pc;
  nodes_[n2]->Lock(Acquire("L", "b", 300, 20'000), [&](LockResponse r) { pb.set_value(r); });
  for (int i = 0; i < 500; ++i) {
    LockListResponse l = List(leader, "L");
    if (l.code == ErrorCode::kOk && l.locks.at(0).waiters.size() == 1) break;
    std::this_thread::sleep_for(10ms);
  }
  nodes_[n3]->Lock(Acquire("L", "c", 60'000, 20'000), [&](LockResponse r) { pc.set_value(r); });
  for (int i = 0; i < 500; ++i) {
    LockListResponse l = List(leader, "L");
    if (l.code == ErrorCode::kOk && l.locks.at(0).waiters.size() == 2) break;
    std::this_thread::sleep_for(10ms);
  }
  LockListResponse l = List(leader, "L");
  ASSERT_EQ(l.locks.at(0).waiters.size(), 2u);
  EXPECT_EQ(l.locks[0].waiters[0].owner, "b");

  ASSERT_EQ(Retrying(leader, WithToken(LockOp::kRelease, "L", a.token)).code, ErrorCode::kOk);
  LockResponse b = pb.get_future().get();
  ASSERT_EQ(b.code, ErrorCode::kOk) << b.message;
  EXPECT_GT(b.token, a.token);
  // b never keeps its 300 ms lease alive: the leader's tick hands the lock to c when it ends.
  LockResponse c = pc.get_future().get();
  ASSERT_EQ(c.code, ErrorCode::kOk) << c.message;
  EXPECT_GT(c.token, b.token);
  EXPECT_EQ(FencedPut(n2, "k", "L", b.token).code, ErrorCode::kFenced);
}

TEST_F(NodeLockTest, AWaiterWhoseWaitRunsOutHearsWhoHoldsTheLock) {
  const uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  ASSERT_EQ(Retrying(leader, Acquire("L", "a", 60'000)).code, ErrorCode::kOk);
  LockResponse b = Retrying(leader % 3 + 1, Acquire("L", "b", 1000, 300));
  ASSERT_EQ(b.code, ErrorCode::kLockHeld) << b.message;
  ASSERT_TRUE(b.holder.has_value());
  EXPECT_EQ(b.holder->owner, "a");
  EXPECT_TRUE(List(leader, "L").locks.at(0).waiters.empty());
}

TEST_F(NodeLockTest, ALeaseSurvivesItsLeadersDeathAndItsTokenStaysValid) {
  const uint64_t leader = WaitLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t survivor = leader % 3 + 1;
  LockResponse a = Retrying(survivor, Acquire("L", "a", 60'000));
  ASSERT_EQ(a.code, ErrorCode::kOk) << a.message;
  StopNode(leader);
  LockResponse keep = Retrying(survivor, WithToken(LockOp::kKeepalive, "L", a.token));
  for (int i = 0; i < 100 && keep.code == ErrorCode::kTimeout; ++i) {
    keep = Retrying(survivor, WithToken(LockOp::kKeepalive, "L", a.token));
  }
  ASSERT_EQ(keep.code, ErrorCode::kOk) << keep.message;
  EXPECT_EQ(Retrying(survivor, Acquire("L", "b", 1000)).code, ErrorCode::kLockHeld);
  EXPECT_EQ(FencedPut(survivor, "k", "L", a.token).code, ErrorCode::kOk);
  StartNode(leader);  // restarts from its disk: the lock is there too
  ASSERT_EQ(Retrying(survivor, WithToken(LockOp::kRelease, "L", a.token)).code, ErrorCode::kOk);
  LockResponse b = Retrying(leader, Acquire("L", "b", 1000));
  ASSERT_EQ(b.code, ErrorCode::kOk) << b.message;
  EXPECT_GT(b.token, a.token);
}

// Eight shards on two of three nodes: every node serves every lock, forwarding to a node that
// hosts the lock's shard when it hosts none.
class ShardedNodeLockTest : public NodeLockTest {
 protected:
  ShardedNodeLockTest() {
    shards_ = {1, 2, 3, 4, 5, 6, 7, 8};
    replication_ = 2;
  }
};

TEST_F(ShardedNodeLockTest, AnyNodeServesEveryLockAndListingsMergeShards) {
  std::set<uint64_t> shards;
  std::map<std::string, uint64_t> tokens;
  for (int i = 0; i < 16; ++i) {
    const std::string name = "lock" + std::to_string(i);
    const uint64_t via = 1 + static_cast<uint64_t>(i) % 3;
    LockResponse a = Retrying(via, Acquire(name, "a", 60'000));
    ASSERT_EQ(a.code, ErrorCode::kOk) << name << ": " << a.message;
    shards.insert(a.shard);
    tokens[name] = a.token;
    // Through the other nodes: held, a fenced write of a key in the lock's shard, keepalive.
    LockResponse b = Retrying(via % 3 + 1, Acquire(name, "b", 60'000));
    ASSERT_EQ(b.code, ErrorCode::kLockHeld) << name << ": " << b.message;
    ASSERT_TRUE(b.holder.has_value());
    EXPECT_EQ(b.holder->token, a.token);
    EXPECT_EQ(Retrying(via % 3 + 1, WithToken(LockOp::kKeepalive, name, a.token)).code,
              ErrorCode::kOk);
  }
  EXPECT_GT(shards.size(), 3u);
  for (uint64_t via = 1; via <= 3; ++via) {
    LockListResponse all = List(via);
    ASSERT_EQ(all.code, ErrorCode::kOk) << all.message;
    ASSERT_EQ(all.locks.size(), tokens.size());
    for (size_t i = 1; i < all.locks.size(); ++i) {
      EXPECT_LT(all.locks[i - 1].name, all.locks[i].name);  // merged in name order
    }
    for (const LockInfo& info : all.locks) {
      ASSERT_TRUE(info.holder.has_value());
      EXPECT_EQ(info.holder->token, tokens.at(info.name));
    }
  }
  // A key sharing the lock's tag: the lock is checked in the key's shard, through any node.
  LockResponse t = Retrying(3, Acquire("{x}lock", "a", 60'000));
  ASSERT_EQ(t.code, ErrorCode::kOk);
  for (uint64_t via = 1; via <= 3; ++via) {
    EXPECT_EQ(FencedPut(via, "{x}key", "{x}lock", t.token).code, ErrorCode::kOk);
    EXPECT_EQ(FencedPut(via, "{x}key", "{x}lock", t.token + 1).code, ErrorCode::kFenced);
  }
}

}  // namespace
}  // namespace kvd::kv
