// Quorum math: commit index = the largest index a majority acknowledged (Raft §5.3, §5.4);
// joint consensus needs both majorities (thesis §4.3).
#include "raft/quorum.h"

#include <gtest/gtest.h>

#include <limits>

namespace kvd::raft {
namespace {

AckedIndexFn Acks(std::map<uint64_t, uint64_t> acked) {
  return [acked](uint64_t id) -> std::optional<uint64_t> {
    auto it = acked.find(id);
    if (it == acked.end()) return std::nullopt;
    return it->second;
  };
}

TEST(MajorityConfigTest, CommittedIndexIsTheQuorumthLargestAck) {
  struct Case {
    std::set<uint64_t> voters;
    std::map<uint64_t, uint64_t> acked;
    uint64_t want;
  } cases[] = {
      {{1}, {{1, 5}}, 5},
      {{1, 2, 3}, {{1, 5}, {2, 3}, {3, 1}}, 3},
      {{1, 2, 3}, {{1, 5}}, 0},  // one ack of three: nothing committed
      {{1, 2, 3}, {{1, 5}, {2, 5}}, 5},
      {{1, 2, 3, 4}, {{1, 9}, {2, 8}, {3, 2}, {4, 1}}, 2},  // 4 voters need 3
      {{1, 2, 3, 4, 5}, {{1, 9}, {2, 8}, {3, 7}, {4, 1}, {5, 1}}, 7},
  };
  for (const auto& c : cases) {
    MajorityConfig cfg{c.voters};
    EXPECT_EQ(cfg.CommittedIndex(Acks(c.acked)), c.want) << cfg.ToString();
  }
}

TEST(MajorityConfigTest, EmptyConfigNeverLimits) {
  EXPECT_EQ(MajorityConfig{}.CommittedIndex(Acks({})), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(MajorityConfig{}.Vote({}), VoteResult::kWon);
}

TEST(MajorityConfigTest, VoteResult) {
  struct Case {
    std::set<uint64_t> voters;
    std::map<uint64_t, bool> votes;
    VoteResult want;
  } cases[] = {
      {{1, 2, 3}, {{1, true}}, VoteResult::kPending},
      {{1, 2, 3}, {{1, true}, {2, true}}, VoteResult::kWon},
      {{1, 2, 3}, {{1, true}, {2, false}}, VoteResult::kPending},
      {{1, 2, 3}, {{1, true}, {2, false}, {3, false}}, VoteResult::kLost},
      {{1, 2, 3, 4}, {{1, true}, {2, true}, {3, false}}, VoteResult::kPending},
      {{1, 2, 3, 4}, {{1, true}, {2, false}, {3, false}}, VoteResult::kLost},
      {{1, 2, 3}, {{1, true}, {9, true}}, VoteResult::kPending},  // non-voters do not count
  };
  for (const auto& c : cases) {
    EXPECT_EQ(MajorityConfig{c.voters}.Vote(c.votes), c.want);
  }
}

TEST(JointConfigTest, NeedsBothMajorities) {
  JointConfig joint{{{1, 2, 3}}, {{3, 4, 5}}};
  // Majority of the incoming half only.
  EXPECT_EQ(joint.Vote({{1, true}, {2, true}, {4, false}, {5, false}}), VoteResult::kLost);
  EXPECT_EQ(joint.Vote({{1, true}, {2, true}}), VoteResult::kPending);
  EXPECT_EQ(joint.Vote({{1, true}, {3, true}, {4, true}}), VoteResult::kWon);
  // Commit: min of both halves' quorum indexes.
  EXPECT_EQ(joint.CommittedIndex(Acks({{1, 9}, {2, 9}, {3, 4}, {4, 2}, {5, 1}})), 2u);
  EXPECT_EQ(joint.CommittedIndex(Acks({{1, 9}, {2, 9}, {3, 4}, {4, 4}, {5, 1}})), 4u);
  EXPECT_EQ(joint.AllIds(), (std::set<uint64_t>{1, 2, 3, 4, 5}));
}

}  // namespace
}  // namespace kvd::raft
