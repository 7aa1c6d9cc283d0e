// Quorum math (Raft §5.2, §5.3; joint consensus: Raft thesis §4.3).
// A MajorityConfig is a set of voters; a JointConfig needs a majority in both of its halves.
// Pure functions over sets; no state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace kvd::raft {

enum class VoteResult { kPending, kLost, kWon };

// Returns the acknowledged log index of a voter, or nullopt if it has acknowledged nothing.
using AckedIndexFn = std::function<std::optional<uint64_t>(uint64_t id)>;

struct MajorityConfig {
  std::set<uint64_t> ids;

  // The largest index acknowledged by a majority. An empty config returns UINT64_MAX so that it
  // never limits a joint config.
  uint64_t CommittedIndex(const AckedIndexFn& acked) const;
  // Won once a majority voted yes; lost once a majority can no longer be reached.
  VoteResult Vote(const std::map<uint64_t, bool>& votes) const;
  std::string ToString() const;
};

struct JointConfig {
  MajorityConfig incoming;
  MajorityConfig outgoing;  // empty unless in a joint configuration

  uint64_t CommittedIndex(const AckedIndexFn& acked) const;
  VoteResult Vote(const std::map<uint64_t, bool>& votes) const;
  std::set<uint64_t> AllIds() const;
};

}  // namespace kvd::raft
