// Locks and fences as the state machine applies them (lock_apply.h): expiry at exactly the
// leader-stamped deadline, tokens, waiters' order, fencing decisions.
#include "kv/lock_apply.h"

#include <gtest/gtest.h>

#include "kv/keys.h"
#include "kv/state_machine.h"
#include "kv/test_util.h"

namespace kvd::kv {
namespace {

using testing_util::CommandEntry;
using testing_util::TestDir;

constexpr uint64_t kLeader = 1;

// Every command is stamped by one leader in one term, so the shard clock is its stamps.
kvpb::Command At(kvpb::Command c, int64_t t) {
  c.set_format(kCommandFormat);
  c.set_leader_time_ms(t);
  c.set_proposer_node(kLeader);
  return c;
}

kvpb::Command Acquire(const std::string& name, const std::string& owner, int64_t ttl,
                      int64_t wait = 0, uint64_t request_id = 0) {
  kvpb::Command c;
  auto* a = c.mutable_lock_acquire();
  a->set_name(name);
  a->set_owner(owner);
  a->set_ttl_ms(ttl);
  a->set_wait_ms(wait);
  c.set_request_id(request_id);
  return c;
}

kvpb::Command Keepalive(const std::string& name, uint64_t token) {
  kvpb::Command c;
  c.mutable_lock_keepalive()->set_name(name);
  c.mutable_lock_keepalive()->set_token(token);
  return c;
}

kvpb::Command Release(const std::string& name, uint64_t token) {
  kvpb::Command c;
  c.mutable_lock_release()->set_name(name);
  c.mutable_lock_release()->set_token(token);
  return c;
}

kvpb::Command Tick(const std::string& name) {
  kvpb::Command c;
  c.mutable_lock_tick()->set_name(name);
  return c;
}

kvpb::Command FencedPut(const std::string& key, const std::string& lock, uint64_t token,
                        bool lock_in_shard) {
  kvpb::Command c;
  c.mutable_put()->set_key(key);
  c.mutable_put()->set_value("v" + std::to_string(token));
  auto* f = c.mutable_put()->mutable_fence();
  f->set_lock(lock);
  f->set_token(token);
  f->set_lock_in_shard(lock_in_shard);
  return c;
}

kvpb::Command FencedDelete(const std::string& key, const std::string& lock, uint64_t token) {
  kvpb::Command c;
  c.mutable_delete_()->set_key(key);
  c.mutable_delete_()->mutable_fence()->set_lock(lock);
  c.mutable_delete_()->mutable_fence()->set_token(token);
  return c;
}

class LockApplyTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    kv_.reset();
    ASSERT_TRUE(KvStore::Open(dir_.Sub("kvdb"), nullptr, &kv_).ok());
  }
  ShardStateMachine* sm() { return kv_->Shard(1); }

  AppliedCommand Apply(const kvpb::Command& c) {
    std::vector<AppliedCommand> out;
    raft::Status s = sm()->Apply({CommandEntry(++index_, c)}, nullptr, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(out.size(), 1u);
    return out.empty() ? AppliedCommand{} : out[0];
  }
  kvpb::Result Run(const kvpb::Command& c, int64_t t) { return Apply(At(c, t)).result; }

  kvpb::LockRecord Lock(const std::string& name) {
    std::optional<kvpb::LockRecord> rec;
    EXPECT_TRUE(sm()->GetLock(name, &rec).ok());
    return rec.value_or(kvpb::LockRecord());
  }

  TestDir dir_;
  std::unique_ptr<KvStore> kv_;
  uint64_t index_ = 0;
};

TEST_F(LockApplyTest, LeaseEndsExactlyAtTheLeaderStampedDeadline) {
  kvpb::Result r = Run(Acquire("L", "a", 500), 1000);
  ASSERT_EQ(r.code(), kvpb::RESULT_OK) << r.message();
  EXPECT_EQ(r.token(), index_);  // the granting entry's index
  EXPECT_EQ(r.ttl_ms(), 500);
  const uint64_t first = r.token();

  r = Run(Acquire("L", "b", 500), 1499);  // one ms before the deadline: still held
  ASSERT_EQ(r.code(), kvpb::RESULT_LOCK_HELD);
  EXPECT_EQ(r.holder().owner(), "a");
  EXPECT_EQ(r.holder().token(), first);
  EXPECT_EQ(r.holder().deadline_ms(), 1);  // time left
  EXPECT_EQ(Lock("L").holder().owner(), "a");

  r = Run(Acquire("L", "b", 500), 1500);  // at the deadline: free
  ASSERT_EQ(r.code(), kvpb::RESULT_OK);
  EXPECT_GT(r.token(), first);
  EXPECT_EQ(Lock("L").holder().owner(), "b");
  EXPECT_EQ(Lock("L").last_token(), r.token());
}

TEST_F(LockApplyTest, AFollowersUnstampedCommandDoesNotMoveTheClock) {
  ASSERT_EQ(Run(Acquire("L", "a", 500), 1000).code(), kvpb::RESULT_OK);
  kvpb::Command late = Acquire("L", "b", 500);  // no stamp: applied at the last stamped time
  late.set_format(kCommandFormat);
  late.set_proposer_node(2);
  EXPECT_EQ(Apply(late).result.code(), kvpb::RESULT_LOCK_HELD);
  // Another node's stamp in the same term starts a new reference: no time counted, still held.
  kvpb::Command other = At(Acquire("L", "b", 500), 999'999);
  other.set_proposer_node(2);
  EXPECT_EQ(Apply(other).result.code(), kvpb::RESULT_LOCK_HELD);
  // A leader stamping a follower's proposal (stamp_node) continues its own reference.
  kvpb::Command forwarded = At(Acquire("L", "b", 500), 1'000'600);
  forwarded.set_proposer_node(3);
  forwarded.set_stamp_node(2);
  EXPECT_EQ(Apply(forwarded).result.code(), kvpb::RESULT_OK);
}

TEST_F(LockApplyTest, KeepaliveExtendsReleaseFreesStaleTokensAreFenced) {
  const uint64_t t1 = Run(Acquire("L", "a", 500), 1000).token();
  kvpb::Result r = Run(Keepalive("L", t1), 1400);
  ASSERT_EQ(r.code(), kvpb::RESULT_OK);
  EXPECT_EQ(r.token(), t1);
  EXPECT_EQ(Lock("L").holder().deadline_ms(), 1900);
  EXPECT_EQ(Run(Acquire("L", "b", 500), 1800).code(), kvpb::RESULT_LOCK_HELD);
  EXPECT_EQ(Run(Keepalive("L", t1 + 100), 1800).code(), kvpb::RESULT_FENCED);
  EXPECT_EQ(Run(Release("L", t1 + 100), 1800).code(), kvpb::RESULT_FENCED);
  EXPECT_EQ(Run(Keepalive("L", t1), 1900).code(), kvpb::RESULT_FENCED);  // expired: too late
  EXPECT_EQ(Run(Keepalive("nope", 1), 1900).code(), kvpb::RESULT_NOT_FOUND);
  EXPECT_EQ(Run(Release("nope", 1), 1900).code(), kvpb::RESULT_NOT_FOUND);

  const uint64_t t2 = Run(Acquire("L", "b", 500), 2000).token();
  ASSERT_GT(t2, t1);
  EXPECT_EQ(Run(Release("L", t2), 2100).code(), kvpb::RESULT_OK);
  EXPECT_FALSE(Lock("L").has_holder());
  EXPECT_EQ(Lock("L").last_token(), t2);  // kept after release
  EXPECT_EQ(Run(Release("L", t2), 2100).code(), kvpb::RESULT_FENCED);
}

TEST_F(LockApplyTest, WaitersAreGrantedInArrivalOrder) {
  const uint64_t ta = Run(Acquire("L", "a", 1000), 1000).token();
  AppliedCommand b = Apply(At(Acquire("L", "b", 1000, 10'000, 21), 1001));
  ASSERT_EQ(b.result.code(), kvpb::RESULT_QUEUED);
  EXPECT_EQ(b.locks.name, "L");
  EXPECT_EQ(b.locks.next_event_ms, 2000);  // the holder's deadline
  ASSERT_EQ(Apply(At(Acquire("L", "c", 1000, 10'000, 22), 1002)).result.code(),
            kvpb::RESULT_QUEUED);
  ASSERT_EQ(Lock("L").waiters_size(), 2);

  AppliedCommand rel = Apply(At(Release("L", ta), 1100));
  ASSERT_EQ(rel.result.code(), kvpb::RESULT_OK);
  ASSERT_EQ(rel.locks.wakeups.size(), 1u);
  EXPECT_EQ(rel.locks.wakeups[0].proposer_node, kLeader);
  EXPECT_EQ(rel.locks.wakeups[0].request_id, 21u);  // b first
  const kvpb::Result& granted = rel.locks.wakeups[0].result;
  ASSERT_EQ(granted.code(), kvpb::RESULT_OK);
  EXPECT_EQ(granted.token(), index_);  // the release entry granted it
  EXPECT_EQ(Lock("L").holder().owner(), "b");
  EXPECT_EQ(Lock("L").holder().deadline_ms(), 2100);

  // b's lease runs out; a tick at its deadline hands the lock to c.
  AppliedCommand tick = Apply(At(Tick("L"), 2100));
  ASSERT_EQ(tick.locks.wakeups.size(), 1u);
  EXPECT_EQ(tick.locks.wakeups[0].request_id, 22u);
  EXPECT_GT(tick.locks.wakeups[0].result.token(), granted.token());
  EXPECT_EQ(Lock("L").holder().owner(), "c");
  EXPECT_EQ(tick.locks.next_event_ms, 0);  // no waiters: nothing due
}

TEST_F(LockApplyTest, AWaiterWhoseWaitRunsOutIsRefused) {
  Run(Acquire("L", "a", 5000), 1000);
  AppliedCommand b = Apply(At(Acquire("L", "b", 1000, 300, 7), 1000));
  ASSERT_EQ(b.result.code(), kvpb::RESULT_QUEUED);
  EXPECT_EQ(b.locks.next_event_ms, 1300);  // its wait runs out before the lease
  EXPECT_TRUE(Apply(At(Tick("L"), 1299)).locks.wakeups.empty());
  AppliedCommand tick = Apply(At(Tick("L"), 1300));
  ASSERT_EQ(tick.locks.wakeups.size(), 1u);
  EXPECT_EQ(tick.locks.wakeups[0].request_id, 7u);
  EXPECT_EQ(tick.locks.wakeups[0].result.code(), kvpb::RESULT_LOCK_HELD);
  EXPECT_EQ(tick.locks.wakeups[0].result.holder().owner(), "a");
  EXPECT_EQ(Lock("L").waiters_size(), 0);
  EXPECT_EQ(Lock("L").holder().owner(), "a");
}

TEST_F(LockApplyTest, ARetriedQueuedAcquireLearnsTheFinalOutcome) {
  const uint64_t ta = Run(Acquire("L", "a", 1000), 1000).token();
  kvpb::Command b = At(Acquire("L", "b", 1000, 10'000, 5), 1001);
  b.set_client_id("cb");
  b.set_seq(1);
  ASSERT_EQ(Apply(b).result.code(), kvpb::RESULT_QUEUED);
  kvpb::Command retry = b;
  retry.set_request_id(6);
  kvpb::Result again = Apply(retry).result;
  EXPECT_EQ(again.code(), kvpb::RESULT_QUEUED);
  EXPECT_EQ(again.message(), kDuplicateWaiter);
  EXPECT_EQ(Lock("L").waiters_size(), 1);  // not queued twice
  const uint64_t tb = Apply(At(Release("L", ta), 1100)).locks.wakeups.at(0).result.token();
  again = Apply(retry).result;
  EXPECT_EQ(again.code(), kvpb::RESULT_OK);
  EXPECT_EQ(again.token(), tb);
}

TEST_F(LockApplyTest, TokensStayAboveTheLastTokenAcrossRestartsAndRecords) {
  const uint64_t t1 = Run(Acquire("L", "a", 500), 1000).token();
  Reopen();
  const uint64_t t2 = Run(Acquire("L", "b", 500), 1600).token();
  EXPECT_GT(t2, t1);
  // A record whose last token is ahead of this shard's log (e.g. moved from another shard).
  kvpb::LockRecord moved;
  moved.set_last_token(1'000'000);
  ASSERT_TRUE(kv_->db()->Put({}, keys::LockKey(1, "M"), moved.SerializeAsString()).ok());
  EXPECT_EQ(Run(Acquire("M", "a", 500), 1600).token(), 1'000'001u);
}

TEST_F(LockApplyTest, ALockInTheKeysShardMustBeHeldWithTheToken) {
  const uint64_t t1 = Run(Acquire("{g}L", "a", 500), 1000).token();
  EXPECT_EQ(Run(FencedPut("{g}k", "{g}L", t1, true), 1100).code(), kvpb::RESULT_OK);
  EXPECT_EQ(Run(FencedPut("{g}k", "{g}L", t1 + 1, true), 1100).code(), kvpb::RESULT_FENCED);
  // The lease ends: the old holder is fenced even on a key nobody else wrote.
  EXPECT_EQ(Run(FencedPut("{g}other", "{g}L", t1, true), 1500).code(), kvpb::RESULT_FENCED);
  // The node may not have known the lock lives here: the record decides too.
  EXPECT_EQ(Run(FencedPut("{g}other", "{g}L", t1, false), 1500).code(), kvpb::RESULT_FENCED);
  // Never acquired, but placed here by the directory: not held.
  EXPECT_EQ(Run(FencedPut("{g}k", "{g}never", 1, true), 1500).code(), kvpb::RESULT_FENCED);
  std::optional<kvpb::KeyRecord> rec;
  ASSERT_TRUE(sm()->Get("{g}other", &rec).ok());
  EXPECT_FALSE(rec.has_value());
}

TEST_F(LockApplyTest, AKeyRefusesTokensSmallerThanOneItAccepted) {
  // The lock lives in another shard: only the key's marks decide.
  EXPECT_EQ(Run(FencedPut("k", "remote", 10, false), 1000).code(), kvpb::RESULT_OK);
  EXPECT_EQ(Run(FencedPut("k", "remote", 12, false), 1000).code(), kvpb::RESULT_OK);
  EXPECT_EQ(Run(FencedPut("k", "remote", 12, false), 1000).code(), kvpb::RESULT_OK);  // same
  kvpb::Result r = Run(FencedPut("k", "remote", 11, false), 1000);
  EXPECT_EQ(r.code(), kvpb::RESULT_FENCED);
  std::optional<kvpb::KeyRecord> rec;
  ASSERT_TRUE(sm()->Get("k", &rec).ok());
  EXPECT_EQ(rec->value(), "v12");
  // Another lock's tokens are its own; an unfenced write is not checked.
  EXPECT_EQ(Run(FencedPut("k", "other", 1, false), 1000).code(), kvpb::RESULT_OK);
  kvpb::Command plain;
  plain.mutable_put()->set_key("k");
  EXPECT_EQ(Run(plain, 1000).code(), kvpb::RESULT_OK);
  // A fenced delete keeps the fence: a stale holder cannot recreate the key.
  EXPECT_EQ(Run(FencedDelete("k", "remote", 13), 1000).code(), kvpb::RESULT_OK);
  EXPECT_EQ(Run(FencedPut("k", "remote", 12, false), 1000).code(), kvpb::RESULT_FENCED);
  ASSERT_TRUE(sm()->Get("k", &rec).ok());
  EXPECT_FALSE(rec.has_value());
  // A refused precondition records nothing.
  kvpb::Command cas = FencedPut("k", "remote", 20, false);
  cas.mutable_put()->set_has_if_version(true);
  cas.mutable_put()->set_if_version(7);
  EXPECT_EQ(Run(cas, 1000).code(), kvpb::RESULT_VERSION_MISMATCH);
  EXPECT_EQ(Run(FencedPut("k", "remote", 14, false), 1000).code(), kvpb::RESULT_OK);
}

TEST_F(LockApplyTest, BadLockCommandsAndFencesAreInvalid) {
  EXPECT_EQ(Run(Acquire("", "a", 500), 1000).code(), kvpb::RESULT_INVALID);
  EXPECT_EQ(Run(Acquire("L", "", 500), 1000).code(), kvpb::RESULT_INVALID);
  EXPECT_EQ(Run(Acquire("L", "a", 99), 1000).code(), kvpb::RESULT_INVALID);
  EXPECT_EQ(Run(Acquire("L", "a", 500, -1), 1000).code(), kvpb::RESULT_INVALID);
  EXPECT_EQ(Run(FencedPut("k", "L", 0, false), 1000).code(), kvpb::RESULT_INVALID);
  for (int i = 0; i < static_cast<int>(kMaxFencesPerKey); ++i) {
    ASSERT_EQ(Run(FencedPut("k", "lock" + std::to_string(i), 1, false), 1000).code(),
              kvpb::RESULT_OK);
  }
  kvpb::Result r = Run(FencedPut("k", "one-too-many", 1, false), 1000);
  EXPECT_EQ(r.code(), kvpb::RESULT_INVALID);
  EXPECT_FALSE(r.message().empty());
}

TEST_F(LockApplyTest, LocksAndFencesTravelInSnapshots) {
  const uint64_t t = Run(Acquire("L", "a", 500), 1000).token();
  Run(FencedPut("k", "remote", 9, false), 1000);
  Apply(At(Acquire("L", "b", 500, 1000, 3), 1000));
  std::vector<kvpb::SnapshotChunk> chunks;
  ASSERT_TRUE(sm()->ReadSnapshot(64,
                                 [&](const kvpb::SnapshotChunk& c) {
                                   chunks.push_back(c);
                                   return true;
                                 })
                  .ok());
  std::unique_ptr<KvStore> other;
  ASSERT_TRUE(KvStore::Open(dir_.Sub("kvdb2"), nullptr, &other).ok());
  ASSERT_TRUE(other->Shard(1)->InstallSnapshot(chunks).ok());
  std::optional<kvpb::LockRecord> rec;
  ASSERT_TRUE(other->Shard(1)->GetLock("L", &rec).ok());
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->holder().token(), t);
  EXPECT_EQ(rec->waiters_size(), 1);
  std::map<std::string, int64_t> events;
  ASSERT_TRUE(other->Shard(1)->LockEvents(&events).ok());
  EXPECT_EQ(events.at("L"), 1500);
  std::vector<std::pair<std::string, kvpb::LockRecord>> listed;
  bool more = true;
  std::string resume;
  ASSERT_TRUE(other->Shard(1)->ListLocks("", 10, &listed, &more, &resume).ok());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_FALSE(more);
  kvpb::Command stale = At(FencedPut("k", "remote", 8, false), 1000);
  std::vector<AppliedCommand> out;
  ASSERT_TRUE(other->Shard(1)->Apply({CommandEntry(index_ + 1, stale)}, nullptr, &out).ok());
  EXPECT_EQ(out.at(0).result.code(), kvpb::RESULT_FENCED);
}

}  // namespace
}  // namespace kvd::kv
