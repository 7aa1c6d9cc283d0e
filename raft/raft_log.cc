#include "raft/raft_log.h"

#include <algorithm>

#include "raft/check.h"
#include "raft/memory_storage.h"

namespace kvd::raft {

RaftLog::RaftLog(const LogReader& storage, uint64_t max_apply_bytes)
    : storage_(storage),
      unstable_(storage.LastIndex() + 1),
      committed_(storage.FirstIndex() - 1),
      applied_(storage.FirstIndex() - 1),
      max_apply_bytes_(max_apply_bytes) {}

std::optional<uint64_t> RaftLog::MaybeAppend(uint64_t index, uint64_t log_term, uint64_t committed,
                                             const std::vector<raftpb::Entry>& entries) {
#ifndef KVD_RAFT_BUG_APPEND_NO_PREV_CHECK
  if (!MatchTerm(index, log_term)) return std::nullopt;
#else
  (void)log_term;  // planted bug: the previous entry's term is not checked
#endif
  const uint64_t last_new = index + entries.size();
  const uint64_t conflict = FindConflict(entries);
  if (conflict != 0) {
    KVD_CHECK_MSG(conflict > committed_,
                  "entry " << conflict << " conflicts with committed entry " << committed_);
    std::vector<raftpb::Entry> tail(entries.begin() + (conflict - index - 1), entries.end());
    Append(tail);
  }
  CommitTo(std::min(committed, last_new));
  return last_new;
}

uint64_t RaftLog::Append(const std::vector<raftpb::Entry>& entries) {
  if (entries.empty()) return LastIndex();
  KVD_CHECK_MSG(entries.front().index() > committed_,
                "appending at " << entries.front().index() << " below commit " << committed_);
  unstable_.TruncateAndAppend(entries);
  return LastIndex();
}

uint64_t RaftLog::FindConflict(const std::vector<raftpb::Entry>& entries) const {
  for (const auto& e : entries) {
    if (!MatchTerm(e.index(), e.term())) return e.index();
  }
  return 0;
}

std::pair<uint64_t, uint64_t> RaftLog::FindConflictByTerm(uint64_t index, uint64_t term) const {
  for (; index > 0; --index) {
    uint64_t t = 0;
    if (!Term(index, &t).ok()) break;  // compacted or unavailable: cannot look further
    if (t <= term) return {index, t};
  }
  return {index, 0};
}

bool RaftLog::HasNextCommittedEntries() const {
  if (unstable_.snapshot()) return false;  // the snapshot is applied first
  return committed_ > applied_;
}

std::vector<raftpb::Entry> RaftLog::NextCommittedEntries() const {
  std::vector<raftpb::Entry> out;
  if (!HasNextCommittedEntries()) return out;
  const uint64_t lo = std::max(applied_ + 1, FirstIndex());
  Status s = Slice(lo, committed_ + 1, max_apply_bytes_, &out);
  KVD_CHECK_MSG(s.ok(), "committed entries unreadable: " << s.ToString());
  return out;
}

uint64_t RaftLog::FirstIndex() const {
  if (auto i = unstable_.MaybeFirstIndex()) return *i;
  return storage_.FirstIndex();
}

uint64_t RaftLog::LastIndex() const {
  if (auto i = unstable_.MaybeLastIndex()) return *i;
  return storage_.LastIndex();
}

uint64_t RaftLog::LastTerm() const { return TermOrZero(LastIndex()); }

uint64_t RaftLog::StableLastIndex() const {
  if (unstable_.snapshot()) return 0;
  return std::min(storage_.LastIndex(), unstable_.offset() - 1);
}

Status RaftLog::Term(uint64_t index, uint64_t* term) const {
  const uint64_t dummy = FirstIndex() - 1;  // the snapshot's index still has a known term
  if (index < dummy) return Status::Error(Code::kCompacted, "term compacted");
  if (index > LastIndex()) return Status::Error(Code::kUnavailable, "term unavailable");
  if (auto t = unstable_.MaybeTerm(index)) {
    *term = *t;
    return Status::Ok();
  }
  return storage_.Term(index, term);
}

uint64_t RaftLog::TermOrZero(uint64_t index) const {
  uint64_t t = 0;
  return Term(index, &t).ok() ? t : 0;
}

bool RaftLog::MatchTerm(uint64_t index, uint64_t term) const {
  uint64_t t = 0;
  return Term(index, &t).ok() && t == term;
}

bool RaftLog::IsUpToDate(uint64_t last_index, uint64_t term) const {
  return term > LastTerm() || (term == LastTerm() && last_index >= LastIndex());
}

Status RaftLog::Slice(uint64_t lo, uint64_t hi, uint64_t max_bytes,
                      std::vector<raftpb::Entry>* out) const {
  if (lo >= hi) return Status::Ok();
  if (lo < FirstIndex()) return Status::Error(Code::kCompacted, "slice compacted");
  KVD_CHECK_MSG(hi <= LastIndex() + 1, "slice [" << lo << "," << hi << ") past " << LastIndex());
  const uint64_t split = unstable_.offset();
  if (lo < split) {
    Status s = storage_.Entries(lo, std::min(hi, split), max_bytes, out);
    if (!s.ok()) return s;
    // Storage stopped early because of the size limit: done.
    if (out->empty() || out->back().index() < std::min(hi, split) - 1) return Status::Ok();
  }
  if (hi > split) {
    uint64_t bytes = 0;
    for (const auto& e : *out) bytes += EntrySize(e);
    for (const auto& e : unstable_.Slice(std::max(lo, split), hi)) {
      bytes += EntrySize(e);
      if (!out->empty() && bytes > max_bytes) break;
      out->push_back(e);
    }
  }
  return Status::Ok();
}

bool RaftLog::MaybeCommit(uint64_t max_index, uint64_t term) {
#ifdef KVD_RAFT_BUG_COMMIT_PREVIOUS_TERM
  (void)term;  // planted bug: commits entries of earlier terms by counting replicas
  if (max_index > committed_ && max_index <= LastIndex()) {
#else
  if (max_index > committed_ && TermOrZero(max_index) == term) {
#endif
    CommitTo(max_index);
    return true;
  }
  return false;
}

void RaftLog::CommitTo(uint64_t index) {
  if (index <= committed_) return;  // never decrease commit
  KVD_CHECK_MSG(index <= LastIndex(), "commit " << index << " past last index " << LastIndex());
  committed_ = index;
}

void RaftLog::AppliedTo(uint64_t index) {
  if (index == 0) return;
  KVD_CHECK_MSG(index <= committed_ && index >= applied_,
                "applied " << index << " outside [" << applied_ << "," << committed_ << "]");
  applied_ = index;
}

void RaftLog::Restore(const raftpb::Snapshot& snapshot) {
  committed_ = snapshot.metadata().index();
  unstable_.Restore(snapshot);
}

Status RaftLog::Snapshot(raftpb::Snapshot* out) const {
  if (unstable_.snapshot()) {
    *out = *unstable_.snapshot();
    return Status::Ok();
  }
  return storage_.Snapshot(out);
}

}  // namespace kvd::raft
