#include "kv/state_machine.h"

#include <gtest/gtest.h>

#include "kv/test_util.h"

namespace kvd::kv {
namespace {

using testing_util::CommandEntry;
using testing_util::DeleteCmd;
using testing_util::IfVersion;
using testing_util::MakeEntry;
using testing_util::PutCmd;
using testing_util::Session;
using testing_util::TestDir;

class StateMachineTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen(int64_t ttl_ms = kDefaultSessionTtlMs) {
    kv_.reset();
    ASSERT_TRUE(KvStore::Open(dir_.Sub("kvdb"), nullptr, &kv_, ttl_ms).ok());
  }
  ShardStateMachine* sm() { return kv_->Shard(1); }

  // Applies the commands as the next entries, in one Apply call; returns their results.
  std::vector<kvpb::Result> Run(const std::vector<kvpb::Command>& commands) {
    std::vector<raftpb::Entry> entries;
    for (const auto& c : commands) entries.push_back(CommandEntry(++index_, c));
    std::vector<AppliedCommand> out;
    raft::Status s = sm()->Apply(entries, nullptr, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(out.size(), commands.size());
    std::vector<kvpb::Result> results;
    for (size_t i = 0; i < out.size(); ++i) {
      EXPECT_EQ(out[i].index, entries[i].index());
      results.push_back(out[i].result);
    }
    return results;
  }
  kvpb::Result Run1(const kvpb::Command& c) { return Run({c}).at(0); }

  std::optional<kvpb::KeyRecord> Get(const std::string& key) {
    std::optional<kvpb::KeyRecord> rec;
    EXPECT_TRUE(sm()->Get(key, &rec).ok());
    return rec;
  }

  TestDir dir_;
  std::unique_ptr<KvStore> kv_;
  uint64_t index_ = 0;
};

TEST_F(StateMachineTest, PutGetDeleteAndVersions) {
  kvpb::Result r = Run1(PutCmd("k", "a"));
  EXPECT_EQ(r.code(), kvpb::RESULT_OK);
  EXPECT_EQ(r.version(), 1u);   // 1 on create
  EXPECT_EQ(r.revision(), 1u);  // the entry's index
  r = Run1(PutCmd("k", "b"));
  EXPECT_EQ(r.version(), 2u);  // +1 per write
  EXPECT_EQ(r.revision(), 2u);
  auto rec = Get("k");
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->value(), "b");
  EXPECT_EQ(rec->version(), 2u);
  EXPECT_EQ(rec->revision(), 2u);

  r = Run1(DeleteCmd("k"));
  EXPECT_EQ(r.code(), kvpb::RESULT_OK);
  EXPECT_TRUE(r.deleted());
  EXPECT_EQ(r.version(), 0u);
  EXPECT_FALSE(Get("k").has_value());
  r = Run1(DeleteCmd("k"));
  EXPECT_EQ(r.code(), kvpb::RESULT_OK);
  EXPECT_FALSE(r.deleted());

  r = Run1(PutCmd("k", "c"));
  EXPECT_EQ(r.version(), 1u);  // delete then put restarts at 1
  EXPECT_EQ(Get("k")->revision(), 5u);
  EXPECT_FALSE(Get("other").has_value());
}

TEST_F(StateMachineTest, IfVersionComparesAndAppliesNothingOnMismatch) {
  EXPECT_EQ(Run1(IfVersion(PutCmd("k", "a"), 0)).code(), kvpb::RESULT_OK);  // 0: only if absent
  kvpb::Result r = Run1(IfVersion(PutCmd("k", "b"), 0));
  EXPECT_EQ(r.code(), kvpb::RESULT_VERSION_MISMATCH);
  EXPECT_EQ(r.current_version(), 1u);
  EXPECT_EQ(Get("k")->value(), "a");
  EXPECT_EQ(Get("k")->version(), 1u);

  r = Run1(IfVersion(PutCmd("k", "b"), 1));
  EXPECT_EQ(r.code(), kvpb::RESULT_OK);
  EXPECT_EQ(r.version(), 2u);

  r = Run1(IfVersion(DeleteCmd("k"), 5));
  EXPECT_EQ(r.code(), kvpb::RESULT_VERSION_MISMATCH);
  EXPECT_EQ(r.current_version(), 2u);
  EXPECT_EQ(Get("k")->value(), "b");
  EXPECT_EQ(Get("k")->revision(), 3u);  // the put at index 3, not the failed delete

  r = Run1(IfVersion(DeleteCmd("k"), 2));
  EXPECT_EQ(r.code(), kvpb::RESULT_OK);
  EXPECT_TRUE(r.deleted());
  r = Run1(IfVersion(PutCmd("k", "c"), 2));  // absent now: version 0
  EXPECT_EQ(r.code(), kvpb::RESULT_VERSION_MISMATCH);
  EXPECT_EQ(r.current_version(), 0u);
  EXPECT_FALSE(Get("k").has_value());
}

TEST_F(StateMachineTest, CommandsInOneApplySeeEachOther) {
  const auto results =
      Run({PutCmd("k", "a"), IfVersion(PutCmd("k", "b"), 1), IfVersion(DeleteCmd("k"), 2),
           IfVersion(PutCmd("k", "c"), 0), IfVersion(PutCmd("k", "d"), 0)});
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(results[0].version(), 1u);
  EXPECT_EQ(results[1].code(), kvpb::RESULT_OK);
  EXPECT_EQ(results[1].version(), 2u);
  EXPECT_TRUE(results[2].deleted());
  EXPECT_EQ(results[3].code(), kvpb::RESULT_OK);
  EXPECT_EQ(results[3].version(), 1u);
  EXPECT_EQ(results[4].code(), kvpb::RESULT_VERSION_MISMATCH);
  Reopen();
  EXPECT_EQ(Get("k")->value(), "c");
  EXPECT_EQ(Get("k")->revision(), 4u);
}

TEST_F(StateMachineTest, RetryReturnsFirstOutcomeWithoutReapplying) {
  const kvpb::Result first = Run1(Session(PutCmd("k", "a"), "c1", 1, 1000));
  EXPECT_EQ(first.version(), 1u);
  Run1(PutCmd("k", "other"));  // someone else writes in between
  // The retry (even with a different body) gets the first outcome and changes nothing.
  kvpb::Result retry = Run1(Session(PutCmd("k", "z"), "c1", 1, 2000));
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(Get("k")->value(), "other");
  EXPECT_EQ(Get("k")->version(), 2u);
  // Also when the retry lands in the same Apply as the original.
  const auto both =
      Run({Session(PutCmd("j", "a"), "c2", 7, 1), Session(PutCmd("j", "a"), "c2", 7, 1)});
  EXPECT_EQ(both[0].SerializeAsString(), both[1].SerializeAsString());
  EXPECT_EQ(Get("j")->version(), 1u);

  Reopen();  // sessions are durable
  retry = Run1(Session(PutCmd("k", "z"), "c1", 1, 3000));
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  kvpb::Result next = Run1(Session(PutCmd("k", "n"), "c1", 2, 3000));
  EXPECT_EQ(next.version(), 3u);
  EXPECT_EQ(Run1(Session(PutCmd("k", "old"), "c1", 1, 3000)).code(), kvpb::RESULT_INVALID);
  EXPECT_EQ(Run1(Session(PutCmd("k", "zero"), "c1", 0, 3000)).code(), kvpb::RESULT_INVALID);
  EXPECT_EQ(Get("k")->value(), "n");
}

TEST_F(StateMachineTest, RetryOfAFailedPreconditionStillFails) {
  Run1(PutCmd("k", "a"));
  const kvpb::Result first = Run1(Session(IfVersion(PutCmd("k", "b"), 0), "c", 1, 0));
  EXPECT_EQ(first.code(), kvpb::RESULT_VERSION_MISMATCH);
  Run1(DeleteCmd("k"));  // now the precondition would hold
  const kvpb::Result retry = Run1(Session(IfVersion(PutCmd("k", "b"), 0), "c", 1, 0));
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  EXPECT_FALSE(Get("k").has_value());
}

TEST_F(StateMachineTest, SessionsExpireAfterTtlOfLeaderTime) {
  Reopen(/*ttl_ms=*/1000);
  EXPECT_EQ(Run1(Session(PutCmd("k", "a"), "c", 1, 0)).version(), 1u);
  EXPECT_EQ(Run1(Session(PutCmd("k", "a"), "c", 1, 1000)).version(), 1u);  // idle == ttl: kept
  EXPECT_EQ(Run1(Session(PutCmd("k", "a"), "c", 1, 2000)).version(), 1u);  // the retry refreshed
  EXPECT_EQ(Run1(Session(PutCmd("k", "a"), "c", 1, 500)).version(), 1u);   // clocks may go back
  // Idle longer than the TTL: the session is gone and the "retry" is a new write.
  EXPECT_EQ(Run1(Session(PutCmd("k", "a"), "c", 1, 3001)).version(), 2u);
  EXPECT_EQ(Get("k")->version(), 2u);
}

// Issue 8, defect 4: expiry reads the shard clock (the latest leader-stamped time), never the time
// of whichever node proposed a command. A follower's proposal carries no time (0).
TEST_F(StateMachineTest, SessionExpiryReadsTheShardClockNotTheProposersTime) {
  Reopen(/*ttl_ms=*/1000);
  EXPECT_EQ(Run1(Session(PutCmd("k", "a"), "c", 1, 1000)).version(), 1u);
  // Proposed through followers, without time: however late, the clock has not moved.
  EXPECT_EQ(Run1(Session(PutCmd("k", "a"), "c", 1, 0)).version(), 1u);
  EXPECT_EQ(Run1(Session(PutCmd("k", "a"), "c", 1, 0)).version(), 1u);
  EXPECT_EQ(sm()->applied().clock_ms(), 1000);
  // A clock entry (a leader's time, no operation) advances it; then the session is gone.
  kvpb::Command clock;
  clock.set_format(kCommandFormat);
  clock.set_leader_time_ms(2500);
  EXPECT_EQ(Run1(clock).code(), kvpb::RESULT_OK);
  EXPECT_EQ(sm()->applied().clock_ms(), 2500);
  EXPECT_EQ(Run1(Session(PutCmd("k", "a"), "c", 1, 0)).version(), 2u);
  Reopen(/*ttl_ms=*/1000);  // the clock is durable with the applied state
  EXPECT_EQ(sm()->applied().clock_ms(), 2500);
}

kvpb::Command Stamped(kvpb::Command c, uint64_t proposer) {
  c.set_proposer_node(proposer);
  return c;
}

// Issue 8, defect 4: a node whose clock runs an hour ahead stamps a command (a follower before
// the fix; a deposed leader's late proposal; a new leader): the shard clock does not jump, so the
// client's retry is still answered from its session instead of being applied a second time.
TEST_F(StateMachineTest, AnotherNodesFastClockDoesNotExpireSessions) {
  Reopen(/*ttl_ms=*/1000);
  const int64_t hour = 3600 * 1000;
  const kvpb::Result first = Run1(Stamped(Session(PutCmd("k", "a"), "c", 1, 1000), 1));
  EXPECT_EQ(first.version(), 1u);
  Run1(Stamped(Session(PutCmd("x", "1"), "other", 1, 1000 + hour), 2));  // fast clock
  EXPECT_EQ(sm()->applied().clock_ms(), 1000);
  const kvpb::Result retry = Run1(Stamped(Session(PutCmd("k", "a"), "c", 1, 1200), 1));
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(Get("k")->version(), 1u);
  // Time passes on one leader's clock: the shard clock follows it, and the session expires.
  Run1(Stamped(Session(PutCmd("x", "2"), "other", 2, 2700), 1));
  EXPECT_EQ(sm()->applied().clock_ms(), 2500);
  EXPECT_EQ(Run1(Stamped(Session(PutCmd("k", "a"), "c", 1, 0), 3)).version(), 2u);
}

// The client ids of the shard's stored sessions, read through a snapshot (the observable image).
std::string SessionIds(ShardStateMachine* sm) {
  std::string ids;
  EXPECT_TRUE(sm->ReadSnapshot(1 << 20, [&](const kvpb::SnapshotChunk& c) {
                  for (const auto& s : c.sessions()) ids += s.client_id() + ",";
                  return true;
                }).ok());
  return ids;
}

TEST_F(StateMachineTest, ExpiredSessionsAreSweptAtFixedIndexesWhateverTheBatching) {
  Reopen(/*ttl_ms=*/1000);
  std::vector<raftpb::Entry> entries = {
      CommandEntry(1, Session(PutCmd("a", "1"), "old", 1, 1)),
      CommandEntry(2, Session(PutCmd("b", "1"), "recent", 1, 4500))};
  for (uint64_t i = 3; i < kSessionSweepInterval; ++i) entries.push_back(MakeEntry(i, 1));
  kvpb::Command sweeper = PutCmd("c", "1");
  sweeper.set_leader_time_ms(5000);
  entries.push_back(CommandEntry(kSessionSweepInterval, sweeper));

  std::vector<AppliedCommand> out;
  ASSERT_TRUE(kv_->Shard(1)->Apply(entries, nullptr, &out).ok());  // one batch
  for (const auto& e : entries) {                                  // one entry at a time
    if (e.index() == kSessionSweepInterval) {
      EXPECT_EQ(SessionIds(kv_->Shard(2)), "old,recent,");  // expired, but not swept yet
    }
    ASSERT_TRUE(kv_->Shard(2)->Apply({e}, nullptr, &out).ok());
  }
  EXPECT_EQ(SessionIds(kv_->Shard(1)), "recent,");
  EXPECT_EQ(SessionIds(kv_->Shard(2)), "recent,");
}

TEST_F(StateMachineTest, AppliedStatePersistsAndReappliedEntriesAreSkipped) {
  std::vector<raftpb::Entry> entries;
  for (uint64_t i = 1; i <= 5; ++i) entries.push_back(CommandEntry(i, PutCmd("k", "v"), 2));
  std::vector<AppliedCommand> out;
  ASSERT_TRUE(sm()->Apply(entries, nullptr, &out).ok());
  EXPECT_EQ(out.size(), 5u);
  Reopen();
  EXPECT_EQ(sm()->applied().index(), 5u);
  EXPECT_EQ(sm()->applied().term(), 2u);
  out.clear();
  ASSERT_TRUE(sm()->Apply(entries, nullptr, &out).ok());  // all at or below applied
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(Get("k")->version(), 5u);
  entries.push_back(CommandEntry(6, PutCmd("k", "v"), 3));
  ASSERT_TRUE(sm()->Apply(entries, nullptr, &out).ok());  // only 6 is new
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].index, 6u);
  EXPECT_EQ(Get("k")->version(), 6u);
  EXPECT_EQ(sm()->applied().term(), 3u);
}

TEST_F(StateMachineTest, NoOpsAndConfChangesAdvanceApplied) {
  raftpb::ConfChange cc;
  cc.add_changes()->set_node_id(4);
  raftpb::Entry conf = MakeEntry(2, 1, cc.SerializeAsString());
  conf.set_type(raftpb::ENTRY_CONF_CHANGE);
  int calls = 0;
  auto apply_conf = [&](const raftpb::ConfChange& got) {
    ++calls;
    EXPECT_EQ(got.changes(0).node_id(), 4u);
    raftpb::ConfState cs;
    cs.add_voters(1);
    cs.add_voters(4);
    return cs;
  };
  std::vector<AppliedCommand> out;
  ASSERT_TRUE(sm()->Apply({MakeEntry(1, 1), conf}, apply_conf, &out).ok());
  EXPECT_TRUE(out.empty());  // neither is a command
  EXPECT_EQ(calls, 1);
  Reopen();
  EXPECT_EQ(sm()->applied().index(), 2u);
  EXPECT_EQ(sm()->applied().conf_state().voters_size(), 2);
  ASSERT_TRUE(sm()->Apply({conf}, apply_conf, &out).ok());  // already applied: not again
  EXPECT_EQ(calls, 1);
}

TEST_F(StateMachineTest, InvalidCommandsApplyNothingButAdvance) {
  kvpb::Command future = PutCmd("k", "v");
  future.set_format(2);
  kvpb::Command no_op_set;
  no_op_set.set_format(kCommandFormat);
  const auto results = Run({future, no_op_set, PutCmd("", "v")});
  for (const auto& r : results) EXPECT_EQ(r.code(), kvpb::RESULT_INVALID);
  std::vector<AppliedCommand> out;
  ASSERT_TRUE(sm()->Apply({MakeEntry(4, 1, "\xff\xff garbage")}, nullptr, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result.code(), kvpb::RESULT_INVALID);
  EXPECT_EQ(sm()->applied().index(), 4u);
  EXPECT_FALSE(Get("k").has_value());
  EXPECT_FALSE(Get("").has_value());
}

TEST_F(StateMachineTest, EncodeStampsTheCurrentFormat) {
  kvpb::Command c;
  c.mutable_put()->set_key("k");
  kvpb::Command decoded;
  ASSERT_TRUE(DecodeCommand(EncodeCommand(c), &decoded));
  EXPECT_EQ(decoded.format(), kCommandFormat);
  EXPECT_EQ(decoded.put().key(), "k");
  EXPECT_FALSE(DecodeCommand("\xff\xff", &decoded));
}

TEST_F(StateMachineTest, ScanPrefixAfterLimitMore) {
  Run({PutCmd("a", "1"), PutCmd("ab", "2"), PutCmd("abc", "3"), PutCmd("b", "4"), PutCmd("ba", "5"),
       PutCmd("c", "6")});
  std::vector<raftpb::Entry> other = {CommandEntry(1, PutCmd("aa", "x"))};
  std::vector<AppliedCommand> out;
  ASSERT_TRUE(kv_->Shard(2)->Apply(other, nullptr, &out).ok());  // another shard: invisible

  auto scan = [&](const std::string& prefix, const std::string& after, size_t limit,
                  bool want_more) {
    std::vector<ScanItem> items;
    bool more = !want_more;
    EXPECT_TRUE(sm()->Scan(prefix, after, limit, &items, &more).ok());
    EXPECT_EQ(more, want_more) << prefix << "|" << after << "|" << limit;
    std::string keys;
    for (const auto& item : items) keys += item.key + ",";
    return keys;
  };
  EXPECT_EQ(scan("a", "", 10, false), "a,ab,abc,");
  EXPECT_EQ(scan("a", "", 2, true), "a,ab,");
  EXPECT_EQ(scan("a", "", 3, false), "a,ab,abc,");
  EXPECT_EQ(scan("a", "ab", 10, false), "abc,");
  EXPECT_EQ(scan("a", "b", 10, false), "");
  EXPECT_EQ(scan("", "b", 2, false), "ba,c,");
  EXPECT_EQ(scan("", "aaa", 1, true), "ab,");
  EXPECT_EQ(scan("b", "", 10, false), "b,ba,");
  EXPECT_EQ(scan("", "", 0, true), "");
  EXPECT_EQ(scan("z", "", 10, false), "");

  std::vector<ScanItem> items;
  bool more = false;
  ASSERT_TRUE(sm()->Scan("ab", "", 1, &items, &more).ok());
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].record.value(), "2");
  EXPECT_EQ(items[0].record.version(), 1u);
  EXPECT_EQ(items[0].record.revision(), 2u);
}

TEST(StateMachineDeathTest, GapAfterAppliedIsABrokenInvariant) {
  TestDir dir;
  std::unique_ptr<KvStore> kv;
  ASSERT_TRUE(KvStore::Open(dir.Sub("kvdb"), nullptr, &kv).ok());
  std::vector<AppliedCommand> out;
  ASSERT_TRUE(kv->Shard(1)->Apply({CommandEntry(1, PutCmd("k", "v"))}, nullptr, &out).ok());
  EXPECT_DEATH((void)kv->Shard(1)->Apply({CommandEntry(3, PutCmd("k", "v"))}, nullptr, &out),
               "applying entry 3 after 1");
}

}  // namespace
}  // namespace kvd::kv
