#include "raft/memory_storage.h"

#include "raft/check.h"

namespace kvd::raft {

uint64_t EntrySize(const raftpb::Entry& e) { return e.data().size() + 16; }

MemoryStorage::MemoryStorage() { entries_.emplace_back(); }

Status MemoryStorage::InitialState(raftpb::HardState* hard_state, raftpb::ConfState* conf) const {
  *hard_state = hard_state_;
  *conf = snapshot_.metadata().conf_state();
  return Status::Ok();
}

uint64_t MemoryStorage::FirstIndex() const { return entries_[0].index() + 1; }

uint64_t MemoryStorage::LastIndex() const { return entries_[0].index() + entries_.size() - 1; }

Status MemoryStorage::Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes,
                              std::vector<raftpb::Entry>* out) const {
  const uint64_t offset = entries_[0].index();
  if (lo <= offset) return Status::Error(Code::kCompacted, "entries compacted");
  if (hi > LastIndex() + 1) return Status::Error(Code::kUnavailable, "entries past last index");
  uint64_t bytes = 0;
  for (uint64_t i = lo; i < hi; ++i) {
    const raftpb::Entry& e = entries_[i - offset];
    bytes += EntrySize(e);
    if (i > lo && bytes > max_bytes) break;
    out->push_back(e);
  }
  return Status::Ok();
}

Status MemoryStorage::Term(uint64_t index, uint64_t* term) const {
  const uint64_t offset = entries_[0].index();
  if (index < offset) return Status::Error(Code::kCompacted, "term compacted");
  if (index - offset >= entries_.size())
    return Status::Error(Code::kUnavailable, "term unavailable");
  *term = entries_[index - offset].term();
  return Status::Ok();
}

Status MemoryStorage::Snapshot(raftpb::Snapshot* out) const {
  *out = snapshot_;
  return Status::Ok();
}

Status MemoryStorage::ApplySnapshot(const raftpb::Snapshot& snapshot) {
  if (snapshot_.metadata().index() >= snapshot.metadata().index() &&
      snapshot.metadata().index() != 0) {
    return Status::Error(Code::kSnapOutOfDate, "snapshot is older than the one held");
  }
  snapshot_ = snapshot;
  entries_.clear();
  entries_.emplace_back();
  entries_[0].set_index(snapshot.metadata().index());
  entries_[0].set_term(snapshot.metadata().term());
  return Status::Ok();
}

Status MemoryStorage::CreateSnapshot(uint64_t index, const raftpb::ConfState& conf,
                                     std::string data) {
  if (index <= snapshot_.metadata().index()) {
    return Status::Error(Code::kSnapOutOfDate, "snapshot is older than the one held");
  }
  KVD_CHECK_MSG(index <= LastIndex(), "snapshot " << index << " past last " << LastIndex());
  const uint64_t offset = entries_[0].index();
  snapshot_.mutable_metadata()->set_index(index);
  snapshot_.mutable_metadata()->set_term(entries_[index - offset].term());
  *snapshot_.mutable_metadata()->mutable_conf_state() = conf;
  snapshot_.set_data(std::move(data));
  return Status::Ok();
}

Status MemoryStorage::Compact(uint64_t index) {
  const uint64_t offset = entries_[0].index();
  if (index <= offset) return Status::Error(Code::kCompacted, "already compacted");
  KVD_CHECK_MSG(index <= LastIndex(), "compact " << index << " past last " << LastIndex());
  std::vector<raftpb::Entry> kept;
  kept.reserve(entries_.size() - (index - offset));
  raftpb::Entry dummy;
  dummy.set_index(entries_[index - offset].index());
  dummy.set_term(entries_[index - offset].term());
  kept.push_back(std::move(dummy));
  for (uint64_t i = index - offset + 1; i < entries_.size(); ++i) kept.push_back(entries_[i]);
  entries_ = std::move(kept);
  return Status::Ok();
}

Status MemoryStorage::Append(const std::vector<raftpb::Entry>& entries) {
  if (entries.empty()) return Status::Ok();
  const uint64_t first = FirstIndex();
  const uint64_t last_new = entries.back().index();
  if (last_new < first) return Status::Ok();  // all compacted already
  size_t skip = entries.front().index() < first ? first - entries.front().index() : 0;
  const uint64_t start = entries[skip].index();
  const uint64_t offset = entries_[0].index();
  KVD_CHECK_MSG(start <= LastIndex() + 1,
                "gap in log: appending " << start << " after " << LastIndex());
  entries_.resize(start - offset);  // drop the conflicting suffix, if any
  for (size_t i = skip; i < entries.size(); ++i) entries_.push_back(entries[i]);
  return Status::Ok();
}

}  // namespace kvd::raft
