#include <gtest/gtest.h>

#include "kv/state_machine.h"
#include "kv/test_util.h"

namespace kvd::kv {
namespace {

using testing_util::CommandEntry;
using testing_util::PutCmd;
using testing_util::Session;
using testing_util::TestDir;

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(KvStore::Open(dir_.Sub("a"), nullptr, &a_).ok());
    ASSERT_TRUE(KvStore::Open(dir_.Sub("b"), nullptr, &b_).ok());
  }
  // 200 keys of varied sizes and 20 client sessions in shard 1 of a_.
  void Populate() {
    std::vector<raftpb::Entry> entries;
    for (uint64_t i = 1; i <= 200; ++i) {
      kvpb::Command c = PutCmd("key" + std::to_string(i), std::string(i * 7 % 900, 'x'));
      if (i % 10 == 0) c = Session(c, "client" + std::to_string(i), i, 100);
      entries.push_back(CommandEntry(i, c, 4));
    }
    std::vector<AppliedCommand> out;
    ASSERT_TRUE(a_->Shard(1)->Apply(entries, nullptr, &out).ok());
  }
  static std::vector<kvpb::SnapshotChunk> Read(ShardStateMachine* sm, size_t max_bytes) {
    std::vector<kvpb::SnapshotChunk> chunks;
    raft::Status s = sm->ReadSnapshot(max_bytes, [&](const kvpb::SnapshotChunk& c) {
      chunks.push_back(c);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return chunks;
  }
  static std::string Dump(ShardStateMachine* sm) {  // everything observable, in order
    std::vector<ScanItem> items;
    bool more = true;
    EXPECT_TRUE(sm->Scan("", "", 100000, &items, &more).ok());
    EXPECT_FALSE(more);
    std::string out = sm->applied().SerializeAsString() + "|";
    for (const auto& item : items) out += item.key + "=" + item.record.SerializeAsString() + ";";
    return out;
  }
  static std::string Content(const std::vector<kvpb::SnapshotChunk>& chunks) {
    std::string out;
    for (const auto& c : chunks) {
      for (const auto& p : c.pairs()) out += p.SerializeAsString() + ";";
      for (const auto& s : c.sessions()) out += s.SerializeAsString() + ";";
    }
    return out;
  }

  TestDir dir_;
  std::unique_ptr<KvStore> a_, b_;
};

TEST_F(SnapshotTest, ChunksAreBoundedOrderedAndComplete) {
  Populate();
  constexpr size_t kMax = 4096;
  const auto chunks = Read(a_->Shard(1), kMax);
  ASSERT_GT(chunks.size(), 10u);
  size_t pairs = 0, sessions = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const auto& c = chunks[i];
    EXPECT_EQ(c.seq(), i);
    EXPECT_EQ(c.shard(), 1u);
    EXPECT_EQ(c.last(), i + 1 == chunks.size());
    const int items = c.pairs_size() + c.sessions_size();
    EXPECT_GE(items, 1);
    EXPECT_LE(c.ByteSizeLong(), kMax) << "chunk " << i;
    pairs += c.pairs_size();
    sessions += c.sessions_size();
  }
  EXPECT_EQ(pairs, 200u);
  EXPECT_EQ(sessions, 20u);
  EXPECT_EQ(chunks[0].applied().index(), 200u);
  EXPECT_EQ(chunks[0].applied().term(), 4u);

  // A pair bigger than the bound travels alone rather than not at all.
  std::vector<AppliedCommand> out;
  ASSERT_TRUE(
      a_->Shard(1)
          ->Apply({CommandEntry(201, PutCmd("huge", std::string(10000, 'h')))}, nullptr, &out)
          .ok());
  for (const auto& c : Read(a_->Shard(1), kMax)) {
    if (c.ByteSizeLong() > kMax) {
      EXPECT_EQ(c.pairs_size() + c.sessions_size(), 1);
    }
  }
}

TEST_F(SnapshotTest, InstallIntoAnotherDbAndShardYieldsTheSameState) {
  Populate();
  const auto chunks = Read(a_->Shard(1), 2048);
  // Targets with state of their own, which the install must replace entirely.
  for (ShardStateMachine* target : {b_->Shard(1), a_->Shard(7)}) {
    std::vector<AppliedCommand> out;
    ASSERT_TRUE(target
                    ->Apply({CommandEntry(1, PutCmd("stale", "s")),
                             CommandEntry(2, Session(PutCmd("key1", "s"), "stale-client", 1, 0))},
                            nullptr, &out)
                    .ok());
    ASSERT_TRUE(target->InstallSnapshot(chunks).ok());
    EXPECT_EQ(Dump(target), Dump(a_->Shard(1)));
    EXPECT_EQ(Content(Read(target, 2048)), Content(chunks));  // sessions too, nothing stale
  }
  EXPECT_EQ(Dump(a_->Shard(1)).size() > 1000, true);

  // The sessions came along: a retry on the new replica returns the first outcome.
  std::vector<AppliedCommand> out;
  const auto retry = CommandEntry(201, Session(PutCmd("key10", "again"), "client10", 10, 200), 4);
  ASSERT_TRUE(b_->Shard(1)->Apply({retry}, nullptr, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result.revision(), 10u);
  EXPECT_EQ(out[0].result.version(), 1u);

  // Installed state is durable.
  b_.reset();
  ASSERT_TRUE(KvStore::Open(dir_.Sub("b"), nullptr, &b_).ok());
  EXPECT_EQ(b_->Shard(1)->applied().index(), 201u);
  std::optional<kvpb::KeyRecord> rec;
  ASSERT_TRUE(b_->Shard(1)->Get("key10", &rec).ok());
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->revision(), 10u);
}

TEST_F(SnapshotTest, ImageIsConsistentWhileApplyContinues) {
  Populate();
  const std::string before = Content(Read(a_->Shard(1), 1 << 20));
  std::vector<kvpb::SnapshotChunk> chunks;
  bool applied_during_read = false;
  ASSERT_TRUE(a_->Shard(1)
                  ->ReadSnapshot(1024,
                                 [&](const kvpb::SnapshotChunk& c) {
                                   chunks.push_back(c);
                                   if (!applied_during_read) {  // writes behind the reader
                                     applied_during_read = true;
                                     std::vector<raftpb::Entry> more;
                                     for (uint64_t i = 201; i <= 300; ++i) {
                                       more.push_back(CommandEntry(
                                           i, PutCmd("key" + std::to_string(i - 100), "new")));
                                     }
                                     std::vector<AppliedCommand> out;
                                     EXPECT_TRUE(a_->Shard(1)->Apply(more, nullptr, &out).ok());
                                   }
                                   return true;
                                 })
                  .ok());
  EXPECT_EQ(a_->Shard(1)->applied().index(), 300u);
  EXPECT_EQ(chunks[0].applied().index(), 200u);
  EXPECT_EQ(Content(chunks), before);
}

TEST_F(SnapshotTest, SinkCanStopTheStream) {
  Populate();
  int calls = 0;
  ASSERT_TRUE(a_->Shard(1)
                  ->ReadSnapshot(1024,
                                 [&](const kvpb::SnapshotChunk&) {
                                   ++calls;
                                   return false;
                                 })
                  .ok());
  EXPECT_EQ(calls, 1);
}

TEST_F(SnapshotTest, EmptyShardIsOneLastChunk) {
  const auto chunks = Read(a_->Shard(3), 1024);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_TRUE(chunks[0].last());
  EXPECT_EQ(chunks[0].applied().index(), 0u);
  ASSERT_TRUE(b_->Shard(3)->InstallSnapshot(chunks).ok());
}

TEST_F(SnapshotTest, MalformedOrOlderSnapshotsAreRefusedAndChangeNothing) {
  Populate();
  auto chunks = Read(a_->Shard(1), 2048);
  ASSERT_GT(chunks.size(), 2u);
  std::vector<AppliedCommand> out;
  ASSERT_TRUE(b_->Shard(1)->Apply({CommandEntry(1, PutCmd("mine", "m"))}, nullptr, &out).ok());
  const std::string before = Dump(b_->Shard(1));

  EXPECT_EQ(b_->Shard(1)->InstallSnapshot({}).code(), raft::Code::kInvalidArgument);
  auto missing_last = chunks;
  missing_last.pop_back();
  EXPECT_EQ(b_->Shard(1)->InstallSnapshot(missing_last).code(), raft::Code::kInvalidArgument);
  auto swapped = chunks;
  std::swap(swapped[0], swapped[1]);
  EXPECT_EQ(b_->Shard(1)->InstallSnapshot(swapped).code(), raft::Code::kInvalidArgument);
  EXPECT_EQ(Dump(b_->Shard(1)), before);

  ASSERT_TRUE(b_->Shard(1)->InstallSnapshot(chunks).ok());
  const std::string installed = Dump(b_->Shard(1));
  auto older = chunks;
  older[0].mutable_applied()->set_index(150);
  EXPECT_EQ(b_->Shard(1)->InstallSnapshot(older).code(), raft::Code::kSnapOutOfDate);
  EXPECT_EQ(Dump(b_->Shard(1)), installed);
}

}  // namespace
}  // namespace kvd::kv
