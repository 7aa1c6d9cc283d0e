#include "raft/tracker.h"

namespace kvd::raft {

raftpb::ConfState ProgressTracker::ToConfState() const {
  raftpb::ConfState cs;
  for (uint64_t id : config.voters.incoming.ids) cs.add_voters(id);
  for (uint64_t id : config.voters.outgoing.ids) cs.add_voters_outgoing(id);
  for (uint64_t id : config.learners) cs.add_learners(id);
  for (uint64_t id : config.learners_next) cs.add_learners_next(id);
  cs.set_auto_leave(config.auto_leave);
  return cs;
}

bool ProgressTracker::IsSingleton() const {
  return config.voters.incoming.ids.size() == 1 && !config.joint();
}

uint64_t ProgressTracker::Committed() const {
  return config.voters.CommittedIndex([this](uint64_t id) -> std::optional<uint64_t> {
    auto it = progress.find(id);
    if (it == progress.end()) return std::nullopt;
    return it->second.match;
  });
}

bool ProgressTracker::QuorumActive(uint64_t self) const {
  std::map<uint64_t, bool> active;
  for (const auto& [id, pr] : progress) {
    if (pr.is_learner) continue;
    active[id] = id == self || pr.recent_active;
  }
  return config.voters.Vote(active) == VoteResult::kWon;
}

std::vector<uint64_t> ProgressTracker::VoterIds() const {
  auto all = config.voters.AllIds();
  return {all.begin(), all.end()};
}

void ProgressTracker::RecordVote(uint64_t id, bool granted) { votes_.emplace(id, granted); }

VoteResult ProgressTracker::TallyVotes(int* granted, int* rejected) const {
  *granted = *rejected = 0;
  for (const auto& [id, pr] : progress) {
    if (pr.is_learner) continue;
    auto it = votes_.find(id);
    if (it == votes_.end()) continue;
    ++(it->second ? *granted : *rejected);
  }
  return config.voters.Vote(votes_);
}

}  // namespace kvd::raft
