#include "kv/raft_log_store.h"

#include <gtest/gtest.h>
#include <leveldb/db.h>

#include "kv/keys.h"
#include "kv/test_util.h"
#include "raft/memory_storage.h"

namespace kvd::kv {
namespace {

using testing_util::MakeEntry;
using testing_util::TestDir;

std::vector<raftpb::Entry> MakeEntries(uint64_t lo, uint64_t hi, uint64_t term, size_t size = 8) {
  std::vector<raftpb::Entry> out;
  for (uint64_t i = lo; i <= hi; ++i) {
    out.push_back(MakeEntry(i, term, std::string(size, static_cast<char>('a' + i % 26))));
  }
  return out;
}

raftpb::SnapshotMetadata Meta(uint64_t index, uint64_t term, std::vector<uint64_t> voters) {
  raftpb::SnapshotMetadata m;
  m.set_index(index);
  m.set_term(term);
  for (uint64_t v : voters) m.mutable_conf_state()->add_voters(v);
  return m;
}

raftpb::HardState Hs(uint64_t term, uint64_t vote, uint64_t commit) {
  raftpb::HardState hs;
  hs.set_term(term);
  hs.set_vote(vote);
  hs.set_commit(commit);
  return hs;
}

class RaftLogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    ASSERT_TRUE(RaftLogStore::Open(dir_.Sub("raftdb"), nullptr, &store_).ok());
  }
  // Stages and writes one batch for 'shard', then Committed().
  void Write(uint64_t shard, const std::vector<raftpb::Entry>& entries,
             const raftpb::HardState* hs = nullptr) {
    leveldb::WriteBatch batch;
    ShardLog* log = store_->Shard(shard);
    log->StageEntries(entries, &batch);
    if (hs) log->StageHardState(*hs, &batch);
    ASSERT_TRUE(store_->Write(&batch, true).ok());
    log->Committed();
  }
  void Compact(uint64_t shard, const raftpb::SnapshotMetadata& meta) {
    leveldb::WriteBatch batch;
    store_->Shard(shard)->StageCompact(meta, &batch);
    ASSERT_TRUE(store_->Write(&batch, true).ok());
    store_->Shard(shard)->Committed();
  }
  std::vector<raftpb::Entry> Read(uint64_t shard, uint64_t lo, uint64_t hi,
                                  uint64_t max_bytes = UINT64_MAX) {
    std::vector<raftpb::Entry> out;
    raft::Status s = store_->Shard(shard)->Entries(lo, hi, max_bytes, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }
  uint64_t TermOf(uint64_t shard, uint64_t index) {
    uint64_t term = 0;
    raft::Status s = store_->Shard(shard)->Term(index, &term);
    EXPECT_TRUE(s.ok()) << index << ": " << s.ToString();
    return term;
  }
  // Entry keys of 'shard' in the database, read directly.
  std::vector<uint64_t> EntryKeysOnDisk(uint64_t shard) {
    store_.reset();
    leveldb::DB* raw = nullptr;
    EXPECT_TRUE(leveldb::DB::Open(leveldb::Options(), dir_.Sub("raftdb"), &raw).ok());
    std::unique_ptr<leveldb::DB> db(raw);
    std::vector<uint64_t> out;
    std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
    const std::string prefix = keys::EntryPrefix(shard);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      uint64_t s = 0, index = 0;
      EXPECT_TRUE(keys::ParseEntryKey(it->key().ToString(), &s, &index));
      out.push_back(index);
    }
    it.reset();
    db.reset();
    Reopen();
    return out;
  }

  TestDir dir_;
  std::unique_ptr<RaftLogStore> store_;
};

void ExpectSameEntries(const std::vector<raftpb::Entry>& got,
                       const std::vector<raftpb::Entry>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].SerializeAsString(), want[i].SerializeAsString()) << "entry " << i;
  }
}

TEST_F(RaftLogStoreTest, EmptyLogHasTermZeroAtIndexZero) {
  ShardLog* log = store_->Shard(1);
  EXPECT_EQ(log->FirstIndex(), 1u);
  EXPECT_EQ(log->LastIndex(), 0u);
  EXPECT_EQ(TermOf(1, 0), 0u);
  uint64_t term = 0;
  EXPECT_EQ(log->Term(1, &term).code(), raft::Code::kUnavailable);
  EXPECT_TRUE(store_->Shards().empty());  // nothing durable yet
}

TEST_F(RaftLogStoreTest, AppendAndHardStateSurviveReopen) {
  const auto entries = MakeEntries(1, 10, 2);
  const raftpb::HardState hs = Hs(2, 3, 7);
  Write(1, entries, &hs);
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before reopen" : "after reopen");
    ShardLog* log = store_->Shard(1);
    EXPECT_EQ(log->FirstIndex(), 1u);
    EXPECT_EQ(log->LastIndex(), 10u);
    EXPECT_EQ(TermOf(1, 0), 0u);
    EXPECT_EQ(TermOf(1, 10), 2u);
    ExpectSameEntries(Read(1, 1, 11), entries);
    raftpb::HardState got_hs;
    raftpb::ConfState conf;
    ASSERT_TRUE(log->InitialState(&got_hs, &conf).ok());
    EXPECT_EQ(got_hs.SerializeAsString(), hs.SerializeAsString());
    EXPECT_EQ(store_->Shards(), std::vector<uint64_t>{1});
    Reopen();
  }
}

TEST_F(RaftLogStoreTest, StagedChangesAreInvisibleUntilCommitted) {
  Write(1, MakeEntries(1, 3, 1));
  leveldb::WriteBatch batch;
  ShardLog* log = store_->Shard(1);
  log->StageEntries(MakeEntries(4, 6, 1), &batch);
  log->StageHardState(Hs(1, 1, 3), &batch);
  EXPECT_EQ(log->LastIndex(), 3u);
  EXPECT_EQ(log->hard_state().commit(), 0u);
  ASSERT_TRUE(store_->Write(&batch, true).ok());
  log->Committed();
  EXPECT_EQ(log->LastIndex(), 6u);
  EXPECT_EQ(log->hard_state().commit(), 3u);
}

TEST_F(RaftLogStoreTest, AppendReplacesConflictingSuffix) {
  Write(1, MakeEntries(1, 10, 1));
  const auto replacement = MakeEntries(6, 8, 2, 20);
  Write(1, replacement);
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before reopen" : "after reopen");
    EXPECT_EQ(store_->Shard(1)->LastIndex(), 8u);
    EXPECT_EQ(TermOf(1, 5), 1u);
    EXPECT_EQ(TermOf(1, 6), 2u);
    uint64_t term = 0;
    EXPECT_EQ(store_->Shard(1)->Term(9, &term).code(), raft::Code::kUnavailable);
    ExpectSameEntries(Read(1, 6, 9), replacement);
    Reopen();
  }
  EXPECT_EQ(EntryKeysOnDisk(1), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST_F(RaftLogStoreTest, CompactDiscardsPrefixAndRecordsSnapshotPoint) {
  Write(1, MakeEntries(1, 10, 1));
  Write(1, MakeEntries(11, 12, 3));
  Compact(1, Meta(11, 3, {1, 2, 3}));
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before reopen" : "after reopen");
    ShardLog* log = store_->Shard(1);
    EXPECT_EQ(log->FirstIndex(), 12u);
    EXPECT_EQ(log->LastIndex(), 12u);
    EXPECT_EQ(TermOf(1, 11), 3u);  // first - 1: the snapshot's term
    uint64_t term = 0;
    EXPECT_EQ(log->Term(10, &term).code(), raft::Code::kCompacted);
    std::vector<raftpb::Entry> out;
    EXPECT_EQ(log->Entries(11, 13, UINT64_MAX, &out).code(), raft::Code::kCompacted);
    EXPECT_EQ(Read(1, 12, 13).size(), 1u);
    raftpb::Snapshot snap;
    ASSERT_TRUE(log->Snapshot(&snap).ok());
    EXPECT_EQ(snap.metadata().index(), 11u);
    EXPECT_EQ(snap.metadata().term(), 3u);
    raftpb::HardState hs;
    raftpb::ConfState conf;
    ASSERT_TRUE(log->InitialState(&hs, &conf).ok());
    EXPECT_EQ(conf.voters_size(), 3);
    Reopen();
  }
  EXPECT_EQ(EntryKeysOnDisk(1), std::vector<uint64_t>{12});
  Compact(1, Meta(5, 1, {1}));  // not past the snapshot point: no-op
  EXPECT_EQ(store_->Shard(1)->FirstIndex(), 12u);
  EXPECT_EQ(store_->Shard(1)->snapshot_metadata().index(), 11u);
}

TEST_F(RaftLogStoreTest, CompactPastLastIndexDiscardsWholeLog) {
  Write(1, MakeEntries(1, 4, 1));
  Compact(1, Meta(9, 2, {1}));
  EXPECT_EQ(store_->Shard(1)->FirstIndex(), 10u);
  EXPECT_EQ(store_->Shard(1)->LastIndex(), 9u);
  EXPECT_EQ(TermOf(1, 9), 2u);
  Write(1, MakeEntries(10, 11, 2));
  Reopen();
  EXPECT_EQ(store_->Shard(1)->LastIndex(), 11u);
  EXPECT_EQ(EntryKeysOnDisk(1), (std::vector<uint64_t>{10, 11}));
}

TEST_F(RaftLogStoreTest, SnapshotInstallReplacesLogInOneBatch) {
  Write(1, MakeEntries(1, 10, 1));
  leveldb::WriteBatch batch;
  ShardLog* log = store_->Shard(1);
  log->StageSnapshot(Meta(20, 3, {1, 2}), &batch);
  log->StageEntries(MakeEntries(21, 22, 3), &batch);
  log->StageHardState(Hs(3, 2, 20), &batch);
  ASSERT_TRUE(store_->Write(&batch, true).ok());
  log->Committed();
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before reopen" : "after reopen");
    log = store_->Shard(1);
    EXPECT_EQ(log->FirstIndex(), 21u);
    EXPECT_EQ(log->LastIndex(), 22u);
    EXPECT_EQ(TermOf(1, 20), 3u);
    EXPECT_EQ(log->hard_state().commit(), 20u);
    EXPECT_EQ(log->snapshot_metadata().conf_state().voters_size(), 2);
    EXPECT_EQ(Read(1, 21, 23).size(), 2u);
    Reopen();
  }
  EXPECT_EQ(EntryKeysOnDisk(1), (std::vector<uint64_t>{21, 22}));
}

TEST_F(RaftLogStoreTest, EntriesHonoursMaxBytesAndReturnsAtLeastOne) {
  Write(1, MakeEntries(1, 10, 1, 100));
  const uint64_t size = raft::EntrySize(MakeEntry(1, 1, std::string(100, 'x')));
  EXPECT_EQ(Read(1, 1, 11, 0).size(), 1u);  // at least one, even over the limit
  EXPECT_EQ(Read(1, 1, 11, size).size(), 1u);
  EXPECT_EQ(Read(1, 1, 11, 2 * size - 1).size(), 1u);
  EXPECT_EQ(Read(1, 1, 11, 2 * size).size(), 2u);
  EXPECT_EQ(Read(1, 3, 11, 5 * size).size(), 5u);
  EXPECT_EQ(Read(1, 1, 11).size(), 10u);
  EXPECT_EQ(Read(1, 4, 4).size(), 0u);
  const auto got = Read(1, 4, 7);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.front().index(), 4u);
  EXPECT_EQ(got.back().index(), 6u);
}

TEST_F(RaftLogStoreTest, OutOfRangeErrors) {
  Write(1, MakeEntries(1, 5, 1));
  Compact(1, Meta(2, 1, {1}));
  ShardLog* log = store_->Shard(1);
  std::vector<raftpb::Entry> out;
  EXPECT_EQ(log->Entries(2, 4, UINT64_MAX, &out).code(), raft::Code::kCompacted);
  EXPECT_EQ(log->Entries(3, 7, UINT64_MAX, &out).code(), raft::Code::kUnavailable);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(log->Entries(3, 6, UINT64_MAX, &out).ok());
  uint64_t term = 0;
  EXPECT_EQ(log->Term(1, &term).code(), raft::Code::kCompacted);
  EXPECT_TRUE(log->Term(2, &term).ok());
  EXPECT_EQ(log->Term(6, &term).code(), raft::Code::kUnavailable);
}

TEST_F(RaftLogStoreTest, CacheIsBoundedAndReadsSpanDiskAndCache) {
  constexpr size_t kValue = 64 << 10;  // 40 entries = 2.5 MiB, more than the cache holds
  const auto entries = MakeEntries(1, 40, 1, kValue);
  for (const auto& e : entries) Write(1, {e});
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before reopen" : "after reopen");
    ShardLog* log = store_->Shard(1);
    EXPECT_LE(log->cached_bytes(), ShardLog::kMaxCacheBytes);
    EXPECT_GT(log->cached_bytes(), 0u);
    ExpectSameEntries(Read(1, 1, 41), entries);
    ExpectSameEntries(Read(1, 20, 41), {entries.begin() + 19, entries.end()});
    Reopen();
  }
  Write(1, MakeEntries(35, 36, 2));  // truncating inside the cached tail
  std::vector<raftpb::Entry> want(entries.begin(), entries.begin() + 34);
  for (const auto& e : MakeEntries(35, 36, 2)) want.push_back(e);
  ExpectSameEntries(Read(1, 1, 37), want);
}

TEST_F(RaftLogStoreTest, ManyShardsInOneBatch) {
  constexpr uint64_t kShards = 50;
  leveldb::WriteBatch batch;
  for (uint64_t s = 1; s <= kShards; ++s) {
    store_->Shard(s)->StageEntries(MakeEntries(1, s, s), &batch);
    store_->Shard(s)->StageHardState(Hs(s, s, s), &batch);
  }
  store_->Shard(1000)->StageHardState(Hs(1, 0, 0), &batch);  // hard state only
  ASSERT_TRUE(store_->Write(&batch, true).ok());
  for (uint64_t s = 1; s <= kShards; ++s) store_->Shard(s)->Committed();
  store_->Shard(1000)->Committed();
  Reopen();
  std::vector<uint64_t> want;
  for (uint64_t s = 1; s <= kShards; ++s) want.push_back(s);
  want.push_back(1000);
  EXPECT_EQ(store_->Shards(), want);
  for (uint64_t s = 1; s <= kShards; ++s) {
    EXPECT_EQ(store_->Shard(s)->LastIndex(), s);
    EXPECT_EQ(TermOf(s, s), s);
    EXPECT_EQ(store_->Shard(s)->hard_state().commit(), s);
    ExpectSameEntries(Read(s, 1, s + 1), MakeEntries(1, s, s));
  }
  EXPECT_EQ(store_->Shard(1000)->LastIndex(), 0u);
  EXPECT_EQ(store_->Shard(1000)->hard_state().term(), 1u);
}

}  // namespace
}  // namespace kvd::kv
