#include "raft/read_only.h"

namespace kvd::raft {

uint64_t ReadOnly::Flush(uint64_t commit_index, uint64_t self) {
  if (queued_.empty()) return 0;
  const uint64_t id = next_round_id_++;
  Round& round = rounds_[id];
  round.index = commit_index;
  round.requests = std::move(queued_);
  round.acks.insert(self);
  queued_.clear();
  return id;
}

std::vector<std::pair<uint64_t, ReadRequest>> ReadOnly::Ack(uint64_t round_id, uint64_t from,
                                                            const JointConfig& voters) {
  std::vector<std::pair<uint64_t, ReadRequest>> released;
  uint64_t newest_confirmed = 0;
  for (auto& [id, round] : rounds_) {
    if (id > round_id) break;
    round.acks.insert(from);
    std::map<uint64_t, bool> votes;
    for (uint64_t a : round.acks) votes[a] = true;
    if (voters.Vote(votes) == VoteResult::kWon) newest_confirmed = id;
  }
  if (newest_confirmed == 0) return released;
  auto end = rounds_.upper_bound(newest_confirmed);
  for (auto it = rounds_.begin(); it != end; ++it) {
    for (auto& r : it->second.requests) released.emplace_back(it->second.index, std::move(r));
  }
  rounds_.erase(rounds_.begin(), end);
  return released;
}

size_t ReadOnly::PendingCount() const {
  size_t n = queued_.size();
  for (const auto& [id, round] : rounds_) n += round.requests.size();
  return n;
}

void ReadOnly::Reset() {
  queued_.clear();
  rounds_.clear();
}

std::string ReadOnly::EncodeRoundId(uint64_t id) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[i] = static_cast<char>(id & 0xff);
    id >>= 8;
  }
  return s;
}

uint64_t ReadOnly::DecodeRoundId(const std::string& ctx) {
  if (ctx.size() != 8) return 0;
  uint64_t id = 0;
  for (unsigned char c : ctx) id = (id << 8) | c;
  return id;
}

}  // namespace kvd::raft
