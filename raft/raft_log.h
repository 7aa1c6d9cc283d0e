// RaftLog: the replica's view of its log = durable storage (LogReader, read-only) followed by the
// unstable tail, plus the commit and apply cursors. Invariant: applied <= committed <= last.
// Single-threaded; owned by Raft.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "raft/log_reader.h"
#include "raft/unstable.h"

namespace kvd::raft {

class RaftLog {
 public:
  RaftLog(const LogReader& storage, uint64_t max_apply_bytes);

  // Appends 'entries' following the entry (index, log_term) if this log has it (Raft §5.3),
  // truncating conflicts, and advances commit to min(committed, last new index).
  // Returns the last index of the new entries, or nullopt if (index, log_term) does not match.
  std::optional<uint64_t> MaybeAppend(uint64_t index, uint64_t log_term, uint64_t committed,
                                      const std::vector<raftpb::Entry>& entries);
  // Appends entries that directly follow (or replace part of) the uncommitted tail.
  uint64_t Append(const std::vector<raftpb::Entry>& entries);

  // First index of 'entries' whose term differs from this log's (or that this log lacks); 0 if
  // every entry is already present.
  uint64_t FindConflict(const std::vector<raftpb::Entry>& entries) const;
  // The largest index <= 'index' whose term is <= 'term', with that term: the leader's and
  // follower's fast-backtracking hint (Raft thesis 5.3 optimization).
  std::pair<uint64_t, uint64_t> FindConflictByTerm(uint64_t index, uint64_t term) const;

  const std::vector<raftpb::Entry>& UnstableEntries() const { return unstable_.entries(); }
  const std::optional<raftpb::Snapshot>& UnstableSnapshot() const { return unstable_.snapshot(); }
  bool HasNextCommittedEntries() const;
  std::vector<raftpb::Entry> NextCommittedEntries() const;

  uint64_t FirstIndex() const;
  uint64_t LastIndex() const;
  uint64_t LastTerm() const;
  // Index of the last entry known durable (0 while a snapshot is being installed).
  uint64_t StableLastIndex() const;

  // Term of entry 'index'; 0 for an index out of range (compacted or past the end).
  uint64_t TermOrZero(uint64_t index) const;
  Status Term(uint64_t index, uint64_t* term) const;
  bool MatchTerm(uint64_t index, uint64_t term) const;
  // Whether a log ending at (last_index, term) is at least as up to date as this one (§5.4.1).
  bool IsUpToDate(uint64_t last_index, uint64_t term) const;

  // Entries [lo, hi) limited to max_bytes (at least one).
  Status Slice(uint64_t lo, uint64_t hi, uint64_t max_bytes, std::vector<raftpb::Entry>* out) const;

  // Commits up to max_index if that entry is of 'term' (only entries of the leader's own term are
  // committed by counting replicas: Raft §5.4.2).
  bool MaybeCommit(uint64_t max_index, uint64_t term);
  void CommitTo(uint64_t index);
  void AppliedTo(uint64_t index);
  void StableTo(uint64_t index, uint64_t term) { unstable_.StableTo(index, term); }
  void StableSnapTo(uint64_t index) { unstable_.StableSnapTo(index); }
  void Restore(const raftpb::Snapshot& snapshot);
  Status Snapshot(raftpb::Snapshot* out) const;

  uint64_t committed() const { return committed_; }
  uint64_t applied() const { return applied_; }

 private:
  const LogReader& storage_;
  Unstable unstable_;
  uint64_t committed_;
  uint64_t applied_;
  uint64_t max_apply_bytes_;
};

}  // namespace kvd::raft
