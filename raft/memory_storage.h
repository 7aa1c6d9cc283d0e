// MemoryStorage: an in-memory LogReader with the writes a driver performs. Used by tests and the
// simulator; the real node persists to LevelDB instead. Not thread-safe: one owner drives it.
//
// Layout: entries_[0] is a dummy entry holding the index and term of the last compacted entry
// (the snapshot's), so Term(FirstIndex()-1) is always answerable.
#pragma once

#include <vector>

#include "raft/log_reader.h"

namespace kvd::raft {

class MemoryStorage final : public LogReader {
 public:
  MemoryStorage();

  Status InitialState(raftpb::HardState* hard_state, raftpb::ConfState* conf) const override;
  Status Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes,
                 std::vector<raftpb::Entry>* out) const override;
  Status Term(uint64_t index, uint64_t* term) const override;
  uint64_t FirstIndex() const override;
  uint64_t LastIndex() const override;
  Status Snapshot(raftpb::Snapshot* out) const override;

  void SetHardState(const raftpb::HardState& hs) { hard_state_ = hs; }
  const raftpb::HardState& hard_state() const { return hard_state_; }

  // Replaces the whole log with the snapshot. kSnapOutOfDate if it is older than the current one.
  Status ApplySnapshot(const raftpb::Snapshot& snapshot);

  // Records a snapshot of the state machine at 'index' (<= LastIndex) with its membership.
  Status CreateSnapshot(uint64_t index, const raftpb::ConfState& conf, std::string data);

  // Discards entries before 'index' (which must be <= LastIndex). kCompacted if already gone.
  Status Compact(uint64_t index);

  // Appends entries, replacing any conflicting suffix. Entries must be contiguous and may not
  // leave a gap after LastIndex(); those already compacted are ignored.
  Status Append(const std::vector<raftpb::Entry>& entries);

 private:
  raftpb::HardState hard_state_;
  raftpb::Snapshot snapshot_;
  std::vector<raftpb::Entry> entries_;
};

// Sum of the payload sizes used for size limits (data plus a small fixed overhead).
uint64_t EntrySize(const raftpb::Entry& e);

}  // namespace kvd::raft
