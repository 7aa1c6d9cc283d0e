// Crash tests: a FaultEnv drops every write that was not synced (optionally keeping part of the
// unsynced tail), and the stores must reopen to a consistent state that keeps every synced write.
#include <gtest/gtest.h>
#include <leveldb/write_batch.h>

#include <map>

#include "kv/fault_env.h"
#include "kv/raft_log_store.h"
#include "kv/state_machine.h"
#include "kv/test_util.h"

namespace kvd::kv {
namespace {

using testing_util::CommandEntry;
using testing_util::MakeEntry;
using testing_util::PutCmd;
using testing_util::TestDir;

raftpb::HardState Commit(uint64_t commit) {
  raftpb::HardState hs;
  hs.set_term(1);
  hs.set_commit(commit);
  return hs;
}

class CrashTest : public ::testing::Test {
 protected:
  std::unique_ptr<RaftLogStore> OpenLog(const std::string& name) {
    std::unique_ptr<RaftLogStore> store;
    raft::Status s = RaftLogStore::Open(dir_.Sub(name), &env_, &store);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return store;
  }
  std::unique_ptr<KvStore> OpenKv(const std::string& name) {
    std::unique_ptr<KvStore> store;
    raft::Status s = KvStore::Open(dir_.Sub(name), &env_, &store);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return store;
  }

  TestDir dir_;
  FaultEnv env_;
};

TEST_F(CrashTest, RaftLogKeepsSyncedWritesAndDropsUnsyncedOnes) {
  auto store = OpenLog("raftdb");
  for (uint64_t i = 1; i <= 20; ++i) {
    leveldb::WriteBatch batch;
    store->Shard(1)->StageEntries({MakeEntry(i, 1, "entry" + std::to_string(i))}, &batch);
    store->Shard(1)->StageHardState(Commit(i - 1), &batch);
    ASSERT_TRUE(store->Write(&batch, true).ok());
    store->Shard(1)->Committed();
  }
  leveldb::WriteBatch unsynced;
  store->Shard(1)->StageEntries({MakeEntry(21, 1, "x"), MakeEntry(22, 1, "y")}, &unsynced);
  store->Shard(1)->StageHardState(Commit(21), &unsynced);
  ASSERT_TRUE(store->Write(&unsynced, false).ok());
  store->Shard(1)->Committed();
  ASSERT_EQ(store->Shard(1)->LastIndex(), 22u);

  ASSERT_TRUE(env_.Crash([&] { store.reset(); }).ok());
  store = OpenLog("raftdb");
  ShardLog* log = store->Shard(1);
  EXPECT_EQ(log->LastIndex(), 20u);  // the unsynced write is gone, every synced one is there
  EXPECT_EQ(log->hard_state().commit(), 19u);
  std::vector<raftpb::Entry> entries;
  ASSERT_TRUE(log->Entries(1, 21, UINT64_MAX, &entries).ok());
  ASSERT_EQ(entries.size(), 20u);
  for (uint64_t i = 1; i <= 20; ++i) EXPECT_EQ(entries[i - 1].data(), "entry" + std::to_string(i));

  leveldb::WriteBatch after;  // and the log goes on from there
  log->StageEntries({MakeEntry(21, 2, "z")}, &after);
  ASSERT_TRUE(store->Write(&after, true).ok());
  log->Committed();
  EXPECT_EQ(log->LastIndex(), 21u);
}

TEST_F(CrashTest, RaftLogBatchIsAllOrNothing) {
  constexpr uint64_t kShards = 100;
  // Keep none, part (cut inside the 200 KiB record) or all of the unsynced tail.
  for (uint64_t keep : {0ull, 100ull, 64ull << 10, 150ull << 10, 1ull << 30}) {
    SCOPED_TRACE("keep " + std::to_string(keep));
    const std::string name = "raftdb" + std::to_string(keep);
    auto store = OpenLog(name);
    leveldb::WriteBatch synced;
    store->Shard(kShards + 1)->StageEntries({MakeEntry(1, 1, "synced")}, &synced);
    ASSERT_TRUE(store->Write(&synced, true).ok());
    leveldb::WriteBatch batch;
    for (uint64_t s = 1; s <= kShards; ++s) {
      store->Shard(s)->StageEntries({MakeEntry(1, 1, std::string(2048, 'v'))}, &batch);
    }
    ASSERT_TRUE(store->Write(&batch, false).ok());

    env_.SetKeepUnsyncedBytes(keep);
    ASSERT_TRUE(env_.Crash([&] { store.reset(); }).ok());
    env_.SetKeepUnsyncedBytes(0);
    store = OpenLog(name);
    EXPECT_EQ(store->Shard(kShards + 1)->LastIndex(), 1u);
    uint64_t present = 0;
    for (uint64_t s = 1; s <= kShards; ++s) present += store->Shard(s)->LastIndex();
    EXPECT_EQ(present, keep >= (1ull << 30) ? kShards : 0u);
  }
}

// The expected value and version of key "k<j>" after applying entries 1..applied, where entry i
// puts "v<i>" to key "k<i % kKeys>".
constexpr uint64_t kKeys = 5;
void ExpectStateAt(ShardStateMachine* sm, uint64_t applied) {
  for (uint64_t j = 0; j < kKeys; ++j) {
    uint64_t last = 0, version = 0;
    for (uint64_t i = 1; i <= applied; ++i) {
      if (i % kKeys == j) last = i, ++version;
    }
    std::optional<kvpb::KeyRecord> rec;
    ASSERT_TRUE(sm->Get("k" + std::to_string(j), &rec).ok());
    if (version == 0) {
      EXPECT_FALSE(rec.has_value()) << j;
      continue;
    }
    ASSERT_TRUE(rec.has_value()) << "k" << j << " at applied " << applied;
    EXPECT_EQ(rec->value(), "v" + std::to_string(last));
    EXPECT_EQ(rec->version(), version);
    EXPECT_EQ(rec->revision(), last);
  }
}

raftpb::Entry Numbered(uint64_t i) {
  return CommandEntry(i, PutCmd("k" + std::to_string(i % kKeys), "v" + std::to_string(i)));
}

TEST_F(CrashTest, KvStoreRecoversToAWholeBatchAtOrPastSync) {
  for (uint64_t keep : {0ull, 30ull, 100ull, 200ull, 400ull, 1ull << 30}) {
    SCOPED_TRACE("keep " + std::to_string(keep));
    const std::string name = "kvdb" + std::to_string(keep);
    auto kv = OpenKv(name);
    std::vector<AppliedCommand> out;
    for (uint64_t i = 1; i <= 30; ++i) {
      ASSERT_TRUE(kv->Shard(1)->Apply({Numbered(i)}, nullptr, &out).ok());
      if (i == 20) {
        ASSERT_TRUE(kv->Sync().ok());
      }
    }
    env_.SetKeepUnsyncedBytes(keep);
    ASSERT_TRUE(env_.Crash([&] { kv.reset(); }).ok());
    env_.SetKeepUnsyncedBytes(0);

    kv = OpenKv(name);
    const uint64_t applied = kv->Shard(1)->applied().index();
    EXPECT_GE(applied, 20u);
    EXPECT_LE(applied, 30u);
    if (keep == 0) {
      EXPECT_EQ(applied, 20u);
    }
    if (keep >= (1ull << 30)) {
      EXPECT_EQ(applied, 30u);
    }
    ExpectStateAt(kv->Shard(1), applied);  // the data matches the applied index exactly

    // The driver re-applies from the Raft log; what was applied is skipped.
    std::vector<raftpb::Entry> replay;
    for (uint64_t i = 1; i <= 30; ++i) replay.push_back(Numbered(i));
    out.clear();
    ASSERT_TRUE(kv->Shard(1)->Apply(replay, nullptr, &out).ok());
    EXPECT_EQ(out.size(), 30 - applied);
    ExpectStateAt(kv->Shard(1), 30);
  }
}

// Regression: LevelDB closes the log it switches away from (memtable full) without syncing it, so
// KvStore::Sync() (a synced write to the NEW log) did not cover the records in the old one.
TEST_F(CrashTest, KvStoreSyncCoversLogsLevelDbSwitchedAway) {
  env_.HoldBackgroundWork(true);  // keep the full memtable out of a table file until the crash
  auto kv = OpenKv("kvdb");
  constexpr uint64_t kEntries = 60;  // 60 x 100 KiB: one memtable switch (4 MiB write buffer)
  std::vector<AppliedCommand> out;
  for (uint64_t i = 1; i <= kEntries; ++i) {
    const auto e = CommandEntry(i, PutCmd("k" + std::to_string(i), std::string(100 << 10, 'a')));
    ASSERT_TRUE(kv->Shard(1)->Apply({e}, nullptr, &out).ok());
  }
  ASSERT_TRUE(kv->Sync().ok());
  ASSERT_TRUE(env_.Crash([&] { kv.reset(); }).ok());

  kv = OpenKv("kvdb");
  EXPECT_EQ(kv->Shard(1)->applied().index(), kEntries);
  for (uint64_t i = 1; i <= kEntries; ++i) {
    std::optional<kvpb::KeyRecord> rec;
    ASSERT_TRUE(kv->Shard(1)->Get("k" + std::to_string(i), &rec).ok());
    EXPECT_TRUE(rec.has_value()) << "k" << i;
  }
}

TEST_F(CrashTest, SyncFailuresAreReported) {
  auto log = OpenLog("raftdb");
  auto kv = OpenKv("kvdb");
  env_.SetFailSyncs(true);
  leveldb::WriteBatch batch;
  log->Shard(1)->StageEntries({MakeEntry(1, 1)}, &batch);
  EXPECT_FALSE(log->Write(&batch, true).ok());
  std::vector<AppliedCommand> out;
  ASSERT_TRUE(kv->Shard(1)->Apply({Numbered(1)}, nullptr, &out).ok());  // unsynced: fine
  EXPECT_FALSE(kv->Sync().ok());
  env_.SetFailSyncs(false);
}

}  // namespace
}  // namespace kvd::kv
