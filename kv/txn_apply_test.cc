// Transactions as the state machine applies them (txn_apply.h): one-entry transactions, the
// record's compare-and-set, intents and what they refuse, resolution, late prepares, snapshots.
#include "kv/txn_apply.h"

#include <gtest/gtest.h>

#include "kv/state_machine.h"
#include "kv/test_util.h"

namespace kvd::kv {
namespace {

using testing_util::CommandEntry;
using testing_util::TestDir;

kvpb::TxnOp Op(uint32_t type, const std::string& key, const std::string& value = "") {
  kvpb::TxnOp op;
  op.set_type(type);
  op.set_key(key);
  op.set_value(value);
  return op;
}

kvpb::TxnCompare ValueIs(const std::string& key, const std::string& value) {
  kvpb::TxnCompare c;
  c.set_key(key);
  c.set_target(kTxnValue);
  c.set_value(value);
  return c;
}

kvpb::Command Put(const std::string& key, const std::string& value) {
  kvpb::Command c;
  c.mutable_put()->set_key(key);
  c.mutable_put()->set_value(value);
  return c;
}

// A prepare of transaction 'id' (record in shard 9) moving 'key' from 'from' to 'to'.
kvpb::Command Prepare(const std::string& id, const std::string& key, const std::string& from,
                      const std::string& to) {
  kvpb::Command c;
  auto* p = c.mutable_txn_prepare();
  p->set_id(id);
  p->set_record_shard(9);
  *p->add_compare() = ValueIs(key, from);
  *p->add_success() = Op(kTxnPut, key, to);
  *p->add_failure() = Op(kTxnGet, key);
  return c;
}

kvpb::Command Resolve(const std::string& id, bool commit, bool succeeded = true) {
  kvpb::Command c;
  c.mutable_txn_resolve()->set_id(id);
  c.mutable_txn_resolve()->set_commit(commit);
  c.mutable_txn_resolve()->set_succeeded(succeeded);
  return c;
}

kvpb::Command Decide(const std::string& id, kvpb::TxnState decision, bool succeeded = true) {
  kvpb::Command c;
  c.mutable_txn_decide()->set_id(id);
  c.mutable_txn_decide()->set_decision(decision);
  c.mutable_txn_decide()->set_succeeded(succeeded);
  return c;
}

class TxnApplyTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(KvStore::Open(dir_.Sub("kvdb"), nullptr, &kv_).ok()); }
  ShardStateMachine* sm() { return kv_->Shard(1); }

  // Applied at shard time 't' (one leader, one term: the clock is its stamps).
  AppliedCommand Apply(kvpb::Command c, int64_t t = 1000, const std::string& client = "",
                       uint64_t seq = 0) {
    c.set_format(kCommandFormat);
    c.set_leader_time_ms(t);
    c.set_proposer_node(1);
    c.set_client_id(client);
    c.set_seq(seq);
    std::vector<AppliedCommand> out;
    raft::Status s = sm()->Apply({CommandEntry(++index_, c)}, nullptr, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out.empty() ? AppliedCommand{} : out[0];
  }
  std::string Value(const std::string& key) {
    std::optional<kvpb::KeyRecord> rec;
    EXPECT_TRUE(sm()->Get(key, &rec).ok());
    return rec ? rec->value() : "<absent>";
  }

  TestDir dir_;
  std::unique_ptr<KvStore> kv_;
  uint64_t index_ = 0;
};

TEST_F(TxnApplyTest, ExecuteRunsOneBranchInOrderInOneEntry) {
  kvpb::Command c;
  auto* t = c.mutable_txn_execute();
  kvpb::TxnCompare absent;
  absent.set_key("a");
  absent.set_target(kTxnExists);
  absent.set_exists(false);
  *t->add_compare() = absent;
  *t->add_success() = Op(kTxnPut, "a", "1");
  *t->add_success() = Op(kTxnGet, "a");  // sees the put before it
  *t->add_success() = Op(kTxnDelete, "b");
  *t->add_failure() = Op(kTxnGet, "a");
  AppliedCommand a = Apply(c);
  ASSERT_EQ(a.result.code(), kvpb::RESULT_OK);
  EXPECT_TRUE(a.result.txn().compares_ok());
  ASSERT_EQ(a.result.txn().success_size(), 3);
  EXPECT_EQ(a.result.txn().success(0).version(), 1u);
  EXPECT_EQ(a.result.txn().success(1).value(), "1");
  EXPECT_FALSE(a.result.txn().success(2).deleted());
  EXPECT_EQ(sm()->applied().key_count(), 1u);
  a = Apply(c);  // the key exists now: the failure branch
  EXPECT_FALSE(a.result.txn().compares_ok());
  ASSERT_EQ(a.result.txn().failure_size(), 1);
  EXPECT_EQ(a.result.txn().failure(0).value(), "1");
  EXPECT_EQ(Value("a"), "1");
}

TEST_F(TxnApplyTest, AnIntentRefusesOtherWritesAndTransactionsUntilResolved) {
  Apply(Put("k", "old"));
  AppliedCommand a = Apply(Prepare("T1", "k", "old", "new"));
  ASSERT_EQ(a.result.code(), kvpb::RESULT_OK);
  EXPECT_TRUE(a.result.txn().compares_ok());
  ASSERT_EQ(a.txn.prepared.size(), 1u);
  EXPECT_EQ(Value("k"), "old");  // the data changes only when it is resolved
  // A plain write is refused (and no session records it, so the same seq may retry).
  a = Apply(Put("k", "other"), 1000, "c", 1);
  EXPECT_EQ(a.result.code(), kvpb::RESULT_CONFLICT);
  EXPECT_EQ(a.result.intent_txn(), "T1");
  EXPECT_EQ(a.result.intent_record_shard(), 9u);
  // Another transaction's prepare is refused too; the same one's again gets the same vote.
  EXPECT_EQ(Apply(Prepare("T2", "k", "old", "x")).result.code(), kvpb::RESULT_CONFLICT);
  a = Apply(Prepare("T1", "k", "old", "new"));
  EXPECT_EQ(a.result.code(), kvpb::RESULT_OK);
  EXPECT_TRUE(a.result.txn().compares_ok());
  // Committed: the branch applies and the key is free.
  a = Apply(Resolve("T1", true));
  EXPECT_EQ(a.result.code(), kvpb::RESULT_OK);
  EXPECT_EQ(Value("k"), "new");
  std::optional<kvpb::TxnIntent> intent;
  ASSERT_TRUE(sm()->GetIntent("k", &intent).ok());
  EXPECT_FALSE(intent.has_value());
  EXPECT_EQ(Apply(Put("k", "other"), 1000, "c", 1).result.code(), kvpb::RESULT_OK);
}

TEST_F(TxnApplyTest, ALatePrepareAfterResolutionPlacesNothing) {
  Apply(Put("k", "v0"));
  // Aborted before its prepare arrived here (the coordinator gave up): the marker stays.
  EXPECT_EQ(Apply(Resolve("T1", false)).result.code(), kvpb::RESULT_OK);
  AppliedCommand a = Apply(Prepare("T1", "k", "v0", "v1"));
  EXPECT_EQ(a.result.code(), kvpb::RESULT_CONFLICT);
  std::optional<kvpb::TxnIntent> intent;
  ASSERT_TRUE(sm()->GetIntent("k", &intent).ok());
  EXPECT_FALSE(intent.has_value());
  // A duplicated resolve of a committed transaction applies its writes once.
  ASSERT_EQ(Apply(Prepare("T2", "k", "v0", "v2")).result.code(), kvpb::RESULT_OK);
  Apply(Resolve("T2", true));
  Apply(Put("k", "later"));
  Apply(Resolve("T2", true));
  EXPECT_EQ(Value("k"), "later");
  EXPECT_EQ(Apply(Prepare("T2", "k", "later", "v2")).result.code(), kvpb::RESULT_CONFLICT);
}

TEST_F(TxnApplyTest, AbortedResolutionDropsTheIntentAndKeepsTheData) {
  Apply(Put("k", "v0"));
  ASSERT_EQ(Apply(Prepare("T1", "k", "v0", "v1")).result.code(), kvpb::RESULT_OK);
  AppliedCommand a = Apply(Resolve("T1", false));
  ASSERT_EQ(a.txn.prepared.size(), 1u);
  EXPECT_FALSE(a.txn.prepared[0].second.has_value());
  EXPECT_EQ(Value("k"), "v0");
  EXPECT_EQ(Apply(Put("k", "v2")).result.code(), kvpb::RESULT_OK);
}

TEST_F(TxnApplyTest, TheRecordIsACompareAndSetAndRecoveryAbortsOnlyPastTheDeadline) {
  kvpb::Command begin;
  begin.mutable_txn_begin()->set_id("T");
  begin.mutable_txn_begin()->add_participants(1);
  begin.mutable_txn_begin()->add_participants(2);
  begin.mutable_txn_begin()->set_ttl_ms(500);
  AppliedCommand a = Apply(begin, 1000);
  ASSERT_EQ(a.result.code(), kvpb::RESULT_OK);
  EXPECT_EQ(a.result.txn_state(), kvpb::TXN_PENDING);
  EXPECT_EQ(a.result.txn_left_ms(), 500);
  // Recovery asks before the deadline: still pending.
  a = Apply(Decide("T", kvpb::TXN_PENDING), 1499);
  EXPECT_EQ(a.result.txn_state(), kvpb::TXN_PENDING);
  // At the deadline: aborted. A late commit then finds it aborted and changes nothing.
  a = Apply(Decide("T", kvpb::TXN_PENDING), 1500);
  EXPECT_EQ(a.result.txn_state(), kvpb::TXN_ABORTED);
  a = Apply(Decide("T", kvpb::TXN_COMMITTED), 1501);
  EXPECT_EQ(a.result.txn_state(), kvpb::TXN_ABORTED);
  // A begin retried after that keeps the record as it is.
  EXPECT_EQ(Apply(begin, 1502).result.txn_state(), kvpb::TXN_ABORTED);
  // Forgotten: asking now finds nothing (an intent left behind is then dropped).
  a = Apply([] {
    kvpb::Command f;
    f.mutable_txn_forget()->set_id("T");
    return f;
  }());
  ASSERT_EQ(a.txn.records.size(), 1u);
  EXPECT_EQ(Apply(Decide("T", kvpb::TXN_PENDING)).result.code(), kvpb::RESULT_NOT_FOUND);
}

TEST_F(TxnApplyTest, ACommitBeforeTheDeadlineWinsAndIsNotForgottenWhilePending) {
  kvpb::Command begin;
  begin.mutable_txn_begin()->set_id("T");
  begin.mutable_txn_begin()->add_participants(1);
  begin.mutable_txn_begin()->set_ttl_ms(500);
  Apply(begin, 1000);
  kvpb::Command forget;
  forget.mutable_txn_forget()->set_id("T");
  EXPECT_EQ(Apply(forget).result.code(), kvpb::RESULT_INVALID);  // pending: kept
  AppliedCommand a = Apply(Decide("T", kvpb::TXN_COMMITTED, false), 1200);
  EXPECT_EQ(a.result.txn_state(), kvpb::TXN_COMMITTED);
  EXPECT_FALSE(a.result.txn_succeeded());
  EXPECT_EQ(a.result.commit_revision(), index_);
  // Recovery past the deadline does not undo a commit.
  a = Apply(Decide("T", kvpb::TXN_PENDING), 9000);
  EXPECT_EQ(a.result.txn_state(), kvpb::TXN_COMMITTED);
  EXPECT_EQ(a.result.commit_revision(), index_ - 1);
}

TEST_F(TxnApplyTest, AFencedTransactionIsRefusedOnceALargerTokenWroteAKey) {
  kvpb::Command fenced = Put("k", "by 7");
  fenced.mutable_put()->mutable_fence()->set_lock("L");
  fenced.mutable_put()->mutable_fence()->set_token(7);
  ASSERT_EQ(Apply(fenced).result.code(), kvpb::RESULT_OK);
  auto txn = [](uint64_t token) {
    kvpb::Command c;
    *c.mutable_txn_execute()->add_success() = Op(kTxnPut, "k", "by txn");
    c.mutable_txn_execute()->mutable_fence()->set_lock("L");
    c.mutable_txn_execute()->mutable_fence()->set_token(token);
    return c;
  };
  EXPECT_EQ(Apply(txn(6)).result.code(), kvpb::RESULT_FENCED);
  EXPECT_EQ(Value("k"), "by 7");
  EXPECT_EQ(Apply(txn(8)).result.code(), kvpb::RESULT_OK);
  EXPECT_EQ(Apply(txn(7)).result.code(), kvpb::RESULT_FENCED);  // 8 is recorded now
  // A prepare checks the fence too, before it places intents.
  kvpb::Command p = Prepare("T", "k", "by txn", "x");
  p.mutable_txn_prepare()->mutable_fence()->set_lock("L");
  p.mutable_txn_prepare()->mutable_fence()->set_token(7);
  EXPECT_EQ(Apply(p).result.code(), kvpb::RESULT_FENCED);
  std::optional<kvpb::TxnIntent> intent;
  ASSERT_TRUE(sm()->GetIntent("k", &intent).ok());
  EXPECT_FALSE(intent.has_value());
}

TEST_F(TxnApplyTest, TransactionStateTravelsInSnapshots) {
  Apply(Put("k", "v0"));
  ASSERT_EQ(Apply(Prepare("T1", "k", "v0", "v1")).result.code(), kvpb::RESULT_OK);
  std::vector<kvpb::SnapshotChunk> chunks;
  ASSERT_TRUE(sm()->ReadSnapshot(1 << 20,
                                 [&](const kvpb::SnapshotChunk& c) {
                                   chunks.push_back(c);
                                   return true;
                                 })
                  .ok());
  ShardStateMachine* other = kv_->Shard(2);
  ASSERT_TRUE(other->InstallSnapshot(chunks).ok());
  std::optional<kvpb::TxnIntent> intent;
  ASSERT_TRUE(other->GetIntent("k", &intent).ok());
  ASSERT_TRUE(intent.has_value());
  EXPECT_EQ(intent->txn(), "T1");
  std::vector<std::pair<std::string, TxnEffects::Prepared>> prepared;
  ASSERT_TRUE(other->PreparedTxns(&prepared).ok());
  ASSERT_EQ(prepared.size(), 1u);
  EXPECT_EQ(prepared[0].second.record_shard, 9u);
}

}  // namespace
}  // namespace kvd::kv
