// The log: append with the log-matching check (Raft §5.3), conflict truncation, commit rules
// (§5.4.2), the up-to-date comparison for votes (§5.4.1), fast-backtracking hints, and the
// stable/unstable split that the persistence contract depends on.
#include "raft/raft_log.h"

#include <gtest/gtest.h>

#include "raft/memory_storage.h"

namespace kvd::raft {
namespace {

raftpb::Entry E(uint64_t index, uint64_t term, std::string data = "") {
  raftpb::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(std::move(data));
  return e;
}

std::vector<raftpb::Entry> Terms(uint64_t first_index, std::vector<uint64_t> terms) {
  std::vector<raftpb::Entry> out;
  for (size_t i = 0; i < terms.size(); ++i) out.push_back(E(first_index + i, terms[i]));
  return out;
}

std::vector<uint64_t> TermsOf(const RaftLog& log) {
  std::vector<uint64_t> out;
  for (uint64_t i = log.FirstIndex(); i <= log.LastIndex(); ++i) out.push_back(log.TermOrZero(i));
  return out;
}

TEST(RaftLogTest, MaybeAppendChecksThePreviousEntry) {
  // Existing log: terms 1 1 2 at indexes 1..3.
  struct Case {
    uint64_t index, log_term, commit;
    std::vector<raftpb::Entry> entries;
    bool want_ok;
    std::vector<uint64_t> want_terms;
    uint64_t want_commit;
  } cases[] = {
      {3, 3, 3, Terms(4, {4}), false, {1, 1, 2}, 0},          // prev term mismatch: reject
      {4, 2, 3, Terms(5, {4}), false, {1, 1, 2}, 0},          // prev index missing: reject
      {3, 2, 3, {}, true, {1, 1, 2}, 3},                      // heartbeat-like, commits
      {3, 2, 5, Terms(4, {3, 3}), true, {1, 1, 2, 3, 3}, 5},  // append
      {1, 1, 9, Terms(2, {1, 2}), true, {1, 1, 2}, 3},        // duplicate: nothing truncated
      {1, 1, 2, Terms(2, {3}), true, {1, 3}, 2},              // conflict at 2: tail replaced
      {3, 2, 9, {}, true, {1, 1, 2}, 3},                      // commit limited to last new index
  };
  for (const auto& c : cases) {
    MemoryStorage storage;
    ASSERT_TRUE(storage.Append(Terms(1, {1, 1, 2})).ok());
    RaftLog log(storage, 1 << 20);
    auto got = log.MaybeAppend(c.index, c.log_term, c.commit, c.entries);
    EXPECT_EQ(got.has_value(), c.want_ok) << "prev " << c.log_term << "/" << c.index;
    EXPECT_EQ(TermsOf(log), c.want_terms);
    EXPECT_EQ(log.committed(), c.want_commit);
  }
}

TEST(RaftLogTest, CommitsOnlyCurrentTermEntriesByCounting) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.Append(Terms(1, {1, 2, 2, 3})).ok());
  RaftLog log(storage, 1 << 20);
  // Raft §5.4.2 / figure 8: index 3 (term 2) is on a quorum, but the leader is in term 3.
  EXPECT_FALSE(log.MaybeCommit(3, 3));
  EXPECT_EQ(log.committed(), 0u);
  EXPECT_TRUE(log.MaybeCommit(4, 3));
  EXPECT_EQ(log.committed(), 4u);
  EXPECT_FALSE(log.MaybeCommit(2, 3));  // never moves back
  EXPECT_EQ(log.committed(), 4u);
}

TEST(RaftLogTest, IsUpToDate) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.Append(Terms(1, {1, 2, 3})).ok());
  RaftLog log(storage, 1 << 20);
  struct Case {
    uint64_t last_index, term;
    bool want;
  } cases[] = {{2, 4, true},  {3, 4, true},  {4, 4, true}, {2, 2, false},
               {4, 2, false}, {2, 3, false}, {3, 3, true}, {4, 3, true}};
  for (const auto& c : cases) {
    EXPECT_EQ(log.IsUpToDate(c.last_index, c.term), c.want) << c.term << "/" << c.last_index;
  }
}

TEST(RaftLogTest, FindConflictByTermSkipsWholeTerms) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.Append(Terms(1, {1, 1, 2, 2, 2, 5, 5})).ok());
  RaftLog log(storage, 1 << 20);
  struct Case {
    uint64_t index, term, want_index, want_term;
  } cases[] = {
      {7, 5, 7, 5}, {7, 4, 5, 2}, {7, 2, 5, 2}, {7, 1, 2, 1}, {7, 0, 0, 0}, {4, 3, 4, 2},
  };
  for (const auto& c : cases) {
    auto [index, term] = log.FindConflictByTerm(c.index, c.term);
    EXPECT_EQ(index, c.want_index) << c.term << "/" << c.index;
    EXPECT_EQ(term, c.want_term);
  }
}

TEST(RaftLogTest, UnstableEntriesBecomeStableOnlyWhenPersisted) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.Append(Terms(1, {1, 1})).ok());
  RaftLog log(storage, 1 << 20);
  log.Append(Terms(3, {2, 2}));
  EXPECT_EQ(log.LastIndex(), 4u);
  EXPECT_EQ(log.StableLastIndex(), 2u);
  ASSERT_EQ(log.UnstableEntries().size(), 2u);
  ASSERT_TRUE(storage.Append(log.UnstableEntries()).ok());
  log.StableTo(4, 2);
  EXPECT_TRUE(log.UnstableEntries().empty());
  EXPECT_EQ(log.StableLastIndex(), 4u);
  // A stale acknowledgement for a replaced entry leaves the new one unstable.
  log.Append(Terms(4, {3}));
  log.StableTo(4, 2);
  EXPECT_EQ(log.UnstableEntries().size(), 1u);
  EXPECT_EQ(log.StableLastIndex(), 3u);
}

TEST(RaftLogTest, NextCommittedEntriesRespectAppliedAndSizeLimit) {
  MemoryStorage storage;
  ASSERT_TRUE(storage
                  .Append({E(1, 1, std::string(100, 'a')), E(2, 1, std::string(100, 'b')),
                           E(3, 1, std::string(100, 'c'))})
                  .ok());
  RaftLog log(storage, 150);  // room for one entry per batch (at least one is always returned)
  log.CommitTo(3);
  auto batch = log.NextCommittedEntries();
  ASSERT_EQ(batch.size(), 1u);
  log.AppliedTo(batch.back().index());
  batch = log.NextCommittedEntries();
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].index(), 2u);
}

TEST(RaftLogTest, RestoreFromSnapshotResetsTheLog) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.Append(Terms(1, {1, 1})).ok());
  RaftLog log(storage, 1 << 20);
  raftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(10);
  snap.mutable_metadata()->set_term(4);
  log.Restore(snap);
  EXPECT_EQ(log.committed(), 10u);
  EXPECT_EQ(log.FirstIndex(), 11u);
  EXPECT_EQ(log.LastIndex(), 10u);
  EXPECT_EQ(log.LastTerm(), 4u);
  EXPECT_FALSE(log.HasNextCommittedEntries());  // the snapshot is applied first
  EXPECT_EQ(log.StableLastIndex(), 0u);
}

TEST(MemoryStorageTest, CompactAndSnapshot) {
  MemoryStorage storage;
  ASSERT_TRUE(storage.Append(Terms(1, {1, 1, 2, 2, 3})).ok());
  raftpb::ConfState cs;
  cs.add_voters(1);
  ASSERT_TRUE(storage.CreateSnapshot(3, cs, "state").ok());
  ASSERT_TRUE(storage.Compact(3).ok());
  EXPECT_EQ(storage.FirstIndex(), 4u);
  uint64_t term = 0;
  EXPECT_TRUE(storage.Term(3, &term).ok());  // the snapshot's term stays answerable
  EXPECT_EQ(term, 2u);
  EXPECT_EQ(storage.Term(2, &term).code(), Code::kCompacted);
  std::vector<raftpb::Entry> out;
  EXPECT_EQ(storage.Entries(2, 4, 1 << 20, &out).code(), Code::kCompacted);
  EXPECT_EQ(storage.Compact(2).code(), Code::kCompacted);
  EXPECT_EQ(storage.CreateSnapshot(2, cs, "old").code(), Code::kSnapOutOfDate);
  // Appending over a conflicting suffix replaces it.
  ASSERT_TRUE(storage.Append(Terms(5, {4, 4})).ok());
  EXPECT_EQ(storage.LastIndex(), 6u);
  EXPECT_TRUE(storage.Term(5, &term).ok());
  EXPECT_EQ(term, 4u);
}

}  // namespace
}  // namespace kvd::raft
