// Changer: computes the membership that results from a configuration change, validating it
// (Raft thesis §4.3, joint consensus). It never mutates its inputs: it returns a new
// (TrackerConfig, ProgressMap) pair or an error. Stateless; safe to use from one thread.
#pragma once

#include <vector>

#include "proto/raft.pb.h"
#include "raft/status.h"
#include "raft/tracker.h"

namespace kvd::raft {

class Changer {
 public:
  Changer(const ProgressTracker& tracker, uint64_t last_index)
      : tracker_(tracker), last_index_(last_index) {}

  // Enters a joint config: the outgoing half is the current voters, the incoming half the current
  // voters with 'changes' applied.
  Status EnterJoint(bool auto_leave, const std::vector<raftpb::ConfChangeSingle>& changes,
                    TrackerConfig* cfg, ProgressMap* prs) const;
  // Leaves the joint config: outgoing voters not in the incoming half are dropped, learners_next
  // become learners.
  Status LeaveJoint(TrackerConfig* cfg, ProgressMap* prs) const;
  // Applies changes that alter at most one voter, outside a joint config.
  Status Simple(const std::vector<raftpb::ConfChangeSingle>& changes, TrackerConfig* cfg,
                ProgressMap* prs) const;

 private:
  Status Apply(const std::vector<raftpb::ConfChangeSingle>& changes, TrackerConfig* cfg,
               ProgressMap* prs) const;
  void MakeVoter(uint64_t id, TrackerConfig* cfg, ProgressMap* prs) const;
  void MakeLearner(uint64_t id, TrackerConfig* cfg, ProgressMap* prs) const;
  void Remove(uint64_t id, TrackerConfig* cfg, ProgressMap* prs) const;
  void InitProgress(uint64_t id, bool learner, TrackerConfig* cfg, ProgressMap* prs) const;
  static Status CheckInvariants(const TrackerConfig& cfg, const ProgressMap& prs);

  const ProgressTracker& tracker_;
  uint64_t last_index_;
};

// Rebuilds a tracker's membership from a persisted ConfState (on start and snapshot restore).
Status RestoreConfig(const raftpb::ConfState& cs, uint64_t last_index, ProgressTracker* tracker);

// Splits a ConfChange into its (auto_leave, use_joint) treatment.
bool ConfChangeEntersJoint(const raftpb::ConfChange& cc, bool* auto_leave);
bool ConfChangeLeavesJoint(const raftpb::ConfChange& cc);

}  // namespace kvd::raft
