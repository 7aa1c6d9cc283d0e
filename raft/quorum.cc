#include "raft/quorum.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace kvd::raft {

uint64_t MajorityConfig::CommittedIndex(const AckedIndexFn& acked) const {
  if (ids.empty()) return std::numeric_limits<uint64_t>::max();
  std::vector<uint64_t> indexes;
  indexes.reserve(ids.size());
  for (uint64_t id : ids) indexes.push_back(acked(id).value_or(0));
  std::sort(indexes.begin(), indexes.end(), std::greater<>());
  // With n voters a quorum is n/2+1; the quorum-th largest index is acknowledged by a quorum.
  return indexes[ids.size() / 2];
}

VoteResult MajorityConfig::Vote(const std::map<uint64_t, bool>& votes) const {
  if (ids.empty()) return VoteResult::kWon;  // an empty half never blocks a joint decision
  size_t yes = 0, missing = 0;
  for (uint64_t id : ids) {
    auto it = votes.find(id);
    if (it == votes.end()) {
      ++missing;
    } else if (it->second) {
      ++yes;
    }
  }
  const size_t quorum = ids.size() / 2 + 1;
  if (yes >= quorum) return VoteResult::kWon;
  if (yes + missing >= quorum) return VoteResult::kPending;
  return VoteResult::kLost;
}

std::string MajorityConfig::ToString() const {
  std::string s = "(";
  for (uint64_t id : ids) {
    if (s.size() > 1) s += " ";
    s += std::to_string(id);
  }
  return s + ")";
}

uint64_t JointConfig::CommittedIndex(const AckedIndexFn& acked) const {
  return std::min(incoming.CommittedIndex(acked), outgoing.CommittedIndex(acked));
}

VoteResult JointConfig::Vote(const std::map<uint64_t, bool>& votes) const {
  VoteResult a = incoming.Vote(votes);
  VoteResult b = outgoing.Vote(votes);
  if (a == b) return a;
  if (a == VoteResult::kLost || b == VoteResult::kLost) return VoteResult::kLost;
  return VoteResult::kPending;
}

std::set<uint64_t> JointConfig::AllIds() const {
  std::set<uint64_t> all = incoming.ids;
  all.insert(outgoing.ids.begin(), outgoing.ids.end());
  return all;
}

}  // namespace kvd::raft
