// Flow control: inflight bounds and the probe/replicate/snapshot state machine of a follower's
// progress (Raft §5.3 nextIndex/matchIndex; thesis §10.2 pipelining).
#include "raft/progress.h"

#include <gtest/gtest.h>

namespace kvd::raft {
namespace {

TEST(InflightsTest, BoundedByCountAndBytes) {
  Inflights by_count(3, 0);
  by_count.Add(1, 100);
  by_count.Add(2, 100);
  EXPECT_FALSE(by_count.Full());
  by_count.Add(3, 100);
  EXPECT_TRUE(by_count.Full());
  by_count.FreeLE(2);
  EXPECT_EQ(by_count.Count(), 1);
  EXPECT_FALSE(by_count.Full());

  Inflights by_bytes(100, 250);
  by_bytes.Add(1, 100);
  by_bytes.Add(2, 100);
  EXPECT_FALSE(by_bytes.Full());
  by_bytes.Add(3, 100);
  EXPECT_TRUE(by_bytes.Full());
  by_bytes.FreeLE(1);
  EXPECT_FALSE(by_bytes.Full());
  by_bytes.Reset();
  EXPECT_EQ(by_bytes.Count(), 0);
}

Progress NewProgress(uint64_t next) { return Progress(next, 4, 0, false); }

TEST(ProgressTest, ProbeSendsOneMessageAtATime) {
  Progress pr = NewProgress(5);
  EXPECT_FALSE(pr.IsPaused());
  pr.SentEntries(2, 10, 6);
  EXPECT_TRUE(pr.IsPaused());
  EXPECT_EQ(pr.next, 5u);  // probing does not advance next optimistically
  EXPECT_TRUE(pr.MaybeUpdate(6));
  EXPECT_FALSE(pr.IsPaused());
  EXPECT_EQ(pr.match, 6u);
  EXPECT_EQ(pr.next, 7u);
}

TEST(ProgressTest, ReplicatePipelinesUntilInflightsFull) {
  Progress pr = NewProgress(1);
  pr.BecomeReplicate();
  for (uint64_t i = 1; i <= 4; ++i) {
    EXPECT_FALSE(pr.IsPaused());
    pr.SentEntries(1, 10, i);
    EXPECT_EQ(pr.next, i + 1);  // optimistic
  }
  EXPECT_TRUE(pr.IsPaused());
  EXPECT_TRUE(pr.MaybeUpdate(2));
  pr.inflights.FreeLE(2);
  EXPECT_FALSE(pr.IsPaused());
}

TEST(ProgressTest, MaybeDecrTo) {
  struct Case {
    ProgressState state;
    uint64_t match, next, rejected, hint;
    bool want_ok;
    uint64_t want_next;
  } cases[] = {
      // Replicate: a rejection at or below match is stale; otherwise fall back to match+1.
      {ProgressState::kReplicate, 5, 10, 5, 5, false, 10},
      {ProgressState::kReplicate, 5, 10, 9, 9, true, 6},
      // Probe: only a rejection of the latest probe (next-1) counts; use the hint.
      {ProgressState::kProbe, 0, 10, 5, 5, false, 10},
      {ProgressState::kProbe, 0, 10, 9, 3, true, 4},
      {ProgressState::kProbe, 0, 10, 9, 20, true, 9},  // hint beyond rejected: next = rejected
      {ProgressState::kProbe, 6, 10, 9, 2, true, 7},   // never below match+1
  };
  for (const auto& c : cases) {
    Progress pr = NewProgress(c.next);
    pr.match = c.match;
    if (c.state == ProgressState::kReplicate) {
      pr.state = ProgressState::kReplicate;
    }
    EXPECT_EQ(pr.MaybeDecrTo(c.rejected, c.hint), c.want_ok);
    EXPECT_EQ(pr.next, c.want_next) << "rejected " << c.rejected << " hint " << c.hint;
  }
}

TEST(ProgressTest, SnapshotPausesThenResumesAfterIt) {
  Progress pr = NewProgress(3);
  pr.BecomeSnapshot(20);
  EXPECT_TRUE(pr.IsPaused());
  pr.BecomeProbe();
  EXPECT_EQ(pr.next, 21u);
  // A failed snapshot (pending cleared first) probes from match.
  pr.BecomeSnapshot(20);
  pr.pending_snapshot = 0;
  pr.match = 2;
  pr.BecomeProbe();
  EXPECT_EQ(pr.next, 3u);
}

TEST(ProgressTest, StaleAcknowledgementDoesNotMoveMatchBack) {
  Progress pr = NewProgress(1);
  EXPECT_TRUE(pr.MaybeUpdate(7));
  EXPECT_FALSE(pr.MaybeUpdate(3));
  EXPECT_EQ(pr.match, 7u);
  EXPECT_EQ(pr.next, 8u);
}

}  // namespace
}  // namespace kvd::raft
