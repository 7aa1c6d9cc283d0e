// ProgressTracker: the current membership (voters, possibly joint; learners) with one Progress per
// member, plus the votes of the election in progress. Single-threaded; owned by Raft.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "proto/raft.pb.h"
#include "raft/progress.h"
#include "raft/quorum.h"

namespace kvd::raft {

struct TrackerConfig {
  JointConfig voters;
  bool auto_leave = false;
  std::set<uint64_t> learners;
  // Outgoing voters that become learners when the joint config is left (they cannot be both a
  // voter and a learner at once).
  std::set<uint64_t> learners_next;

  bool joint() const { return !voters.outgoing.ids.empty(); }
};

using ProgressMap = std::map<uint64_t, Progress>;

class ProgressTracker {
 public:
  ProgressTracker(int max_inflight, uint64_t max_inflight_bytes)
      : max_inflight_(max_inflight), max_inflight_bytes_(max_inflight_bytes) {}

  TrackerConfig config;
  ProgressMap progress;

  raftpb::ConfState ToConfState() const;
  bool IsSingleton() const;
  // The largest index replicated on a quorum (of both halves when joint).
  uint64_t Committed() const;
  // Whether a quorum of voters has been active (CheckQuorum); 'self' always counts.
  bool QuorumActive(uint64_t self) const;
  std::vector<uint64_t> VoterIds() const;

  void ResetVotes() { votes_.clear(); }
  void RecordVote(uint64_t id, bool granted);
  VoteResult TallyVotes(int* granted, int* rejected) const;

  int max_inflight() const { return max_inflight_; }
  uint64_t max_inflight_bytes() const { return max_inflight_bytes_; }

 private:
  int max_inflight_;
  uint64_t max_inflight_bytes_;
  std::map<uint64_t, bool> votes_;
};

}  // namespace kvd::raft
