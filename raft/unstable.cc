#include "raft/unstable.h"

#include "raft/check.h"

namespace kvd::raft {

std::optional<uint64_t> Unstable::MaybeFirstIndex() const {
  if (snapshot_) return snapshot_->metadata().index() + 1;
  return std::nullopt;
}

std::optional<uint64_t> Unstable::MaybeLastIndex() const {
  if (!entries_.empty()) return offset_ + entries_.size() - 1;
  if (snapshot_) return snapshot_->metadata().index();
  return std::nullopt;
}

std::optional<uint64_t> Unstable::MaybeTerm(uint64_t index) const {
  if (index < offset_) {
    if (snapshot_ && snapshot_->metadata().index() == index) return snapshot_->metadata().term();
    return std::nullopt;
  }
  auto last = MaybeLastIndex();
  if (!last || index > *last) return std::nullopt;
  return entries_[index - offset_].term();
}

void Unstable::StableTo(uint64_t index, uint64_t term) {
  auto t = MaybeTerm(index);
  if (!t || *t != term || index < offset_) return;  // replaced meanwhile: keep it unstable
  entries_.erase(entries_.begin(), entries_.begin() + (index + 1 - offset_));
  offset_ = index + 1;
}

void Unstable::StableSnapTo(uint64_t index) {
  if (snapshot_ && snapshot_->metadata().index() == index) snapshot_.reset();
}

void Unstable::Restore(const raftpb::Snapshot& snapshot) {
  offset_ = snapshot.metadata().index() + 1;
  entries_.clear();
  snapshot_ = snapshot;
}

void Unstable::TruncateAndAppend(const std::vector<raftpb::Entry>& entries) {
  if (entries.empty()) return;
  const uint64_t after = entries.front().index();
  if (after == offset_ + entries_.size()) {
    // Directly after the tail: plain append.
  } else if (after <= offset_) {
    // Replaces the whole tail.
    offset_ = after;
    entries_.clear();
  } else {
    entries_.resize(after - offset_);
  }
  entries_.insert(entries_.end(), entries.begin(), entries.end());
}

std::vector<raftpb::Entry> Unstable::Slice(uint64_t lo, uint64_t hi) const {
  KVD_CHECK_MSG(lo >= offset_ && hi <= offset_ + entries_.size() && lo <= hi,
                "unstable slice [" << lo << "," << hi << ") out of [" << offset_ << ","
                                   << offset_ + entries_.size() << ")");
  return std::vector<raftpb::Entry>(entries_.begin() + (lo - offset_),
                                    entries_.begin() + (hi - offset_));
}

}  // namespace kvd::raft
