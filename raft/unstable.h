// Unstable: the tail of the log (and possibly an incoming snapshot) that the core has accepted
// but the driver has not yet persisted. Entries move to stable storage when the driver calls
// StableTo after persisting them. Single-threaded; owned by RaftLog.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "proto/raft.pb.h"

namespace kvd::raft {

class Unstable {
 public:
  explicit Unstable(uint64_t offset) : offset_(offset) {}

  // Index of the first entry that could be here, if a snapshot is pending.
  std::optional<uint64_t> MaybeFirstIndex() const;
  std::optional<uint64_t> MaybeLastIndex() const;
  std::optional<uint64_t> MaybeTerm(uint64_t index) const;

  // The entries at and below (index, term) are durable now.
  void StableTo(uint64_t index, uint64_t term);
  void StableSnapTo(uint64_t index);
  void Restore(const raftpb::Snapshot& snapshot);
  // Appends, truncating any entries at or after the first new index.
  void TruncateAndAppend(const std::vector<raftpb::Entry>& entries);
  // Entries [lo, hi); both within this tail.
  std::vector<raftpb::Entry> Slice(uint64_t lo, uint64_t hi) const;

  uint64_t offset() const { return offset_; }
  const std::vector<raftpb::Entry>& entries() const { return entries_; }
  const std::optional<raftpb::Snapshot>& snapshot() const { return snapshot_; }

 private:
  std::optional<raftpb::Snapshot> snapshot_;
  std::vector<raftpb::Entry> entries_;
  uint64_t offset_;  // index of entries_[0]
};

}  // namespace kvd::raft
