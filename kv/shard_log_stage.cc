// ShardLog's write side: staging into the driver's WriteBatch, and Committed(), which applies the
// staged changes to the in-memory view once the batch is durable. Staging tracks the index range
// the log will have (staged_first_/staged_last_) so that each Stage call deletes exactly the keys
// that exist at that point of the batch.
#include <algorithm>

#include "kv/keys.h"
#include "kv/raft_log_store.h"
#include "raft/check.h"
#include "raft/memory_storage.h"

namespace kvd::kv {

void ShardLog::DeleteEntryKeys(uint64_t lo, uint64_t hi, leveldb::WriteBatch* batch) const {
  for (uint64_t i = lo; i <= hi && i >= lo; ++i) batch->Delete(keys::EntryKey(shard_, i));
}

void ShardLog::PutSnapshotRecord(const raftpb::SnapshotMetadata& meta,
                                 leveldb::WriteBatch* batch) const {
  kvpb::SnapshotRecord record;
  *record.mutable_metadata() = meta;
  batch->Put(keys::SnapshotKey(shard_), record.SerializeAsString());
}

void ShardLog::StageSnapshot(const raftpb::SnapshotMetadata& meta, leveldb::WriteBatch* batch) {
  KVD_CHECK_MSG(meta.index() + 1 >= staged_first_, "shard " << shard_ << ": snapshot "
                                                            << meta.index() << " older than "
                                                            << staged_first_ - 1);
  DeleteEntryKeys(staged_first_, staged_last_, batch);
  PutSnapshotRecord(meta, batch);
  staged_first_ = meta.index() + 1;
  staged_last_ = meta.index();
  pending_.push_back({PendingOp::Kind::kSnapshot, meta, {}, {}});
}

void ShardLog::StageEntries(const std::vector<raftpb::Entry>& entries, leveldb::WriteBatch* batch) {
  if (entries.empty()) return;
  for (size_t i = 1; i < entries.size(); ++i) {
    KVD_CHECK_MSG(entries[i].index() == entries[0].index() + i,
                  "shard " << shard_ << ": entries not contiguous at " << entries[i].index());
  }
  if (entries.back().index() < staged_first_) return;  // all compacted already
  const size_t skip =
      entries.front().index() < staged_first_ ? staged_first_ - entries.front().index() : 0;
  const uint64_t start = entries[skip].index();
  const uint64_t new_last = entries.back().index();
  KVD_CHECK_MSG(start <= staged_last_ + 1, "shard " << shard_ << ": gap in log: appending " << start
                                                    << " after " << staged_last_);
  PendingOp op{PendingOp::Kind::kEntries, {}, {}, {}};
  op.entries.assign(entries.begin() + skip, entries.end());
  for (const raftpb::Entry& e : op.entries) {
    batch->Put(keys::EntryKey(shard_, e.index()), e.SerializeAsString());
  }
  DeleteEntryKeys(new_last + 1, staged_last_, batch);  // the conflicting suffix beyond, if any
  staged_last_ = new_last;
  pending_.push_back(std::move(op));
}

void ShardLog::StageHardState(const raftpb::HardState& hs, leveldb::WriteBatch* batch) {
  batch->Put(keys::HardStateKey(shard_), hs.SerializeAsString());
  pending_.push_back({PendingOp::Kind::kHardState, {}, {}, hs});
}

void ShardLog::StageCompact(const raftpb::SnapshotMetadata& meta, leveldb::WriteBatch* batch) {
  if (meta.index() + 1 <= staged_first_) return;  // not past the current snapshot point
  DeleteEntryKeys(staged_first_, std::min(meta.index(), staged_last_), batch);
  PutSnapshotRecord(meta, batch);
  staged_first_ = meta.index() + 1;
  staged_last_ = std::max(staged_last_, meta.index());
  pending_.push_back({PendingOp::Kind::kCompact, meta, {}, {}});
}

void ShardLog::Committed() {
  for (const PendingOp& op : pending_) {
    switch (op.kind) {
      case PendingOp::Kind::kSnapshot:
        ResetTo(op.meta);
        break;
      case PendingOp::Kind::kEntries:
        CommitEntries(op.entries);
        break;
      case PendingOp::Kind::kHardState:
        hard_state_ = op.hard_state;
        break;
      case PendingOp::Kind::kCompact:
        CommitCompact(op.meta);
        break;
    }
  }
  pending_.clear();
  KVD_CHECK_MSG(first_index_ == staged_first_ && last_index_ == staged_last_,
                "shard " << shard_ << ": committed [" << first_index_ << "," << last_index_
                         << "] staged [" << staged_first_ << "," << staged_last_ << "]");
}

void ShardLog::CommitEntries(const std::vector<raftpb::Entry>& entries) {
  const uint64_t start = entries.front().index();
  KVD_CHECK(start >= first_index_ && start <= last_index_ + 1);
  terms_.resize(start - (first_index_ - 1));
  while (!cache_.empty() && cache_.back().index() >= start) {
    cache_bytes_ -= raft::EntrySize(cache_.back());
    cache_.pop_back();
  }
  last_index_ = start - 1;  // the cache now ends here (or is empty)
  for (const raftpb::Entry& e : entries) {
    terms_.push_back(e.term());
    CacheAppend(e);
    last_index_ = e.index();
  }
}

void ShardLog::CommitCompact(const raftpb::SnapshotMetadata& meta) {
  const uint64_t index = meta.index();
  if (index >= last_index_) {
    KVD_CHECK_MSG(index > last_index_ || terms_.back() == meta.term(),
                  "shard " << shard_ << ": compact to " << index << " term " << meta.term()
                           << " but the log has term " << terms_.back());
    ResetTo(meta);
    return;
  }
  const uint64_t drop = index - (first_index_ - 1);
  KVD_CHECK_MSG(terms_[drop] == meta.term(), "shard " << shard_ << ": compact to " << index
                                                      << " term " << meta.term()
                                                      << " but the log has " << terms_[drop]);
  terms_.erase(terms_.begin(), terms_.begin() + static_cast<std::ptrdiff_t>(drop));
  while (!cache_.empty() && cache_.front().index() <= index) {
    cache_bytes_ -= raft::EntrySize(cache_.front());
    cache_.pop_front();
  }
  first_index_ = index + 1;
  snapshot_ = meta;
}

}  // namespace kvd::kv
