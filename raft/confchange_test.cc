// Membership changes: simple changes alter at most one voter; larger ones go through joint
// consensus (Raft thesis §4.3); learners never vote; restoring a ConfState rebuilds the same
// configuration (snapshots, restarts).
#include "raft/confchange.h"

#include <gtest/gtest.h>

namespace kvd::raft {
namespace {

raftpb::ConfChangeSingle C(raftpb::ConfChangeType t, uint64_t id) {
  raftpb::ConfChangeSingle c;
  c.set_type(t);
  c.set_node_id(id);
  return c;
}
const auto kAdd = raftpb::CONF_ADD_NODE;
const auto kLearner = raftpb::CONF_ADD_LEARNER_NODE;
const auto kRemove = raftpb::CONF_REMOVE_NODE;

class ConfChangeTest : public ::testing::Test {
 protected:
  ProgressTracker tracker{16, 0};

  Status Simple(std::vector<raftpb::ConfChangeSingle> changes) {
    return Commit(Changer(tracker, 10).Simple(changes, &cfg_, &prs_));
  }
  Status Enter(std::vector<raftpb::ConfChangeSingle> changes, bool auto_leave = false) {
    return Commit(Changer(tracker, 10).EnterJoint(auto_leave, changes, &cfg_, &prs_));
  }
  Status Leave() { return Commit(Changer(tracker, 10).LeaveJoint(&cfg_, &prs_)); }

 private:
  Status Commit(Status s) {
    if (s.ok()) {
      tracker.config = cfg_;
      tracker.progress = prs_;
    }
    return s;
  }
  TrackerConfig cfg_;
  ProgressMap prs_;
};

TEST_F(ConfChangeTest, SimpleChangesAlterAtMostOneVoter) {
  ASSERT_TRUE(Simple({C(kAdd, 1)}).ok());
  ASSERT_TRUE(Simple({C(kAdd, 2)}).ok());
  ASSERT_TRUE(Simple({C(kAdd, 3)}).ok());
  EXPECT_EQ(tracker.config.voters.incoming.ids, (std::set<uint64_t>{1, 2, 3}));
  EXPECT_FALSE(Simple({C(kAdd, 4), C(kAdd, 5)}).ok());
  EXPECT_EQ(tracker.config.voters.incoming.ids.size(), 3u);  // unchanged on error
  // A learner does not count as a voter change.
  ASSERT_TRUE(Simple({C(kAdd, 4), C(kLearner, 5)}).ok());
  EXPECT_TRUE(tracker.progress.at(5).is_learner);
  EXPECT_FALSE(Simple({C(kRemove, 1), C(kRemove, 2), C(kRemove, 3), C(kRemove, 4)}).ok());
}

TEST_F(ConfChangeTest, JointConsensusReplacesTwoVoters) {
  for (uint64_t id : {1, 2, 3}) ASSERT_TRUE(Simple({C(kAdd, id)}).ok());
  ASSERT_TRUE(Enter({C(kRemove, 1), C(kRemove, 2), C(kAdd, 4), C(kAdd, 5)}, true).ok());
  EXPECT_TRUE(tracker.config.joint());
  EXPECT_TRUE(tracker.config.auto_leave);
  EXPECT_EQ(tracker.config.voters.incoming.ids, (std::set<uint64_t>{3, 4, 5}));
  EXPECT_EQ(tracker.config.voters.outgoing.ids, (std::set<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(tracker.progress.count(1));  // still tracked while joint
  EXPECT_FALSE(Enter({C(kAdd, 6)}).ok());  // already joint
  EXPECT_FALSE(Simple({C(kAdd, 6)}).ok());
  ASSERT_TRUE(Leave().ok());
  EXPECT_FALSE(tracker.config.joint());
  EXPECT_FALSE(tracker.progress.count(1));
  EXPECT_FALSE(tracker.progress.count(2));
  EXPECT_FALSE(Leave().ok());
}

TEST_F(ConfChangeTest, DemotedOutgoingVoterBecomesLearnerOnLeave) {
  for (uint64_t id : {1, 2, 3}) ASSERT_TRUE(Simple({C(kAdd, id)}).ok());
  ASSERT_TRUE(Enter({C(kLearner, 3), C(kAdd, 4)}).ok());
  EXPECT_EQ(tracker.config.learners_next, (std::set<uint64_t>{3}));
  EXPECT_FALSE(tracker.progress.at(3).is_learner);  // still votes in the outgoing half
  ASSERT_TRUE(Leave().ok());
  EXPECT_EQ(tracker.config.learners, (std::set<uint64_t>{3}));
  EXPECT_TRUE(tracker.progress.at(3).is_learner);
}

TEST_F(ConfChangeTest, LearnerPromotionKeepsProgress) {
  for (uint64_t id : {1, 2, 3}) ASSERT_TRUE(Simple({C(kAdd, id)}).ok());
  ASSERT_TRUE(Simple({C(kLearner, 4)}).ok());
  tracker.progress.at(4).match = 7;
  ASSERT_TRUE(Simple({C(kAdd, 4)}).ok());
  EXPECT_FALSE(tracker.progress.at(4).is_learner);
  EXPECT_EQ(tracker.progress.at(4).match, 7u);
  EXPECT_TRUE(tracker.config.learners.empty());
}

TEST(RestoreConfigTest, RoundTripsConfStates) {
  std::vector<raftpb::ConfState> states(3);
  for (uint64_t id : {1, 2, 3}) states[0].add_voters(id);
  states[0].add_learners(4);
  for (uint64_t id : {3, 4, 5}) states[1].add_voters(id);
  for (uint64_t id : {1, 2, 3}) states[1].add_voters_outgoing(id);
  states[1].add_learners_next(2);
  states[1].set_auto_leave(true);
  states[2].add_voters(7);
  for (const auto& cs : states) {
    ProgressTracker tracker(16, 0);
    ASSERT_TRUE(RestoreConfig(cs, 10, &tracker).ok());
    EXPECT_EQ(tracker.ToConfState().SerializeAsString(), cs.SerializeAsString())
        << cs.ShortDebugString() << " vs " << tracker.ToConfState().ShortDebugString();
  }
}

}  // namespace
}  // namespace kvd::raft
