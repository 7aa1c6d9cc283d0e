// RaftLogStore and the read side of ShardLog (loading, raft::LogReader). Staging and Committed()
// are in shard_log_stage.cc.
#include "kv/raft_log_store.h"

#include <algorithm>
#include <set>
#include <utility>

#include "kv/db_util.h"
#include "kv/keys.h"
#include "raft/check.h"
#include "raft/memory_storage.h"

namespace kvd::kv {

raft::Status RaftLogStore::Open(const std::string& path, leveldb::Env* env,
                                std::unique_ptr<RaftLogStore>* out) {
  OpenDb opened;
  raft::Status s = OpenLevelDb(path, env, &opened);
  if (!s.ok()) return s;
  out->reset(new RaftLogStore(std::move(opened.env), std::move(opened.db)));
  return raft::Status::Ok();
}

RaftLogStore::RaftLogStore(std::unique_ptr<leveldb::Env> env, std::unique_ptr<leveldb::DB> db)
    : env_(std::move(env)), db_(std::move(db)) {}

RaftLogStore::~RaftLogStore() = default;

std::vector<uint64_t> RaftLogStore::Shards() const {
  // Each record kind is keyed tag + shard (+ ...): hop from one shard's records to the next.
  std::set<uint64_t> shards;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (auto prefix_of : {&keys::EntryPrefix, &keys::HardStateKey, &keys::SnapshotKey}) {
    const char tag = prefix_of(0)[0];
    it->Seek(prefix_of(0));
    while (it->Valid() && it->key().size() >= 9 && it->key()[0] == tag) {
      const uint64_t shard = keys::GetBigEndian64(std::string_view(it->key().data() + 1, 8));
      shards.insert(shard);
      if (shard == UINT64_MAX) break;
      it->Seek(prefix_of(shard + 1));
    }
  }
  KVD_CHECK_MSG(it->status().ok(), "raftdb scan: " << it->status().ToString());
  return {shards.begin(), shards.end()};
}

ShardLog* RaftLogStore::Shard(uint64_t shard) {
  auto& log = shards_[shard];
  if (!log) log = std::make_unique<ShardLog>(db_.get(), shard);
  return log.get();
}

raft::Status RaftLogStore::RecordBoot(uint64_t* boot) {
  std::string value;
  leveldb::Status s = db_->Get(leveldb::ReadOptions(), keys::BootKey(), &value);
  if (!s.ok() && !s.IsNotFound()) return FromLevelDb(s, "raftdb boot count");
  KVD_CHECK_MSG(s.IsNotFound() || value.size() == 8, "bad boot count in raftdb");
  const uint64_t next = (s.ok() ? keys::GetBigEndian64(value) : 0) + 1;
  std::string encoded;
  keys::PutBigEndian64(&encoded, next);
  leveldb::WriteOptions options;
  options.sync = true;
  raft::Status w = FromLevelDb(db_->Put(options, keys::BootKey(), encoded), "raftdb boot count");
  if (w.ok()) *boot = next;
  return w;
}

raft::Status RaftLogStore::Write(leveldb::WriteBatch* batch, bool sync) {
  leveldb::WriteOptions options;
  options.sync = sync;
  return FromLevelDb(db_->Write(options, batch), "raftdb write");
}

ShardLog::ShardLog(leveldb::DB* db, uint64_t shard) : db_(db), shard_(shard) { Load(); }

void ShardLog::Load() {
  std::string value;
  leveldb::Status s = db_->Get(leveldb::ReadOptions(), keys::HardStateKey(shard_), &value);
  KVD_CHECK_MSG(s.ok() || s.IsNotFound(), "raftdb shard " << shard_ << ": " << s.ToString());
  if (s.ok()) KVD_CHECK_MSG(hard_state_.ParseFromString(value), "bad hard state " << shard_);

  kvpb::SnapshotRecord record;
  s = db_->Get(leveldb::ReadOptions(), keys::SnapshotKey(shard_), &value);
  KVD_CHECK_MSG(s.ok() || s.IsNotFound(), "raftdb shard " << shard_ << ": " << s.ToString());
  if (s.ok()) KVD_CHECK_MSG(record.ParseFromString(value), "bad snapshot record " << shard_);
  ResetTo(record.metadata());

  const std::string prefix = keys::EntryPrefix(shard_);
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    uint64_t key_shard = 0, index = 0;
    KVD_CHECK(keys::ParseEntryKey(it->key().ToString(), &key_shard, &index));
    KVD_CHECK_MSG(index == last_index_ + 1,
                  "raftdb shard " << shard_ << ": entry " << index << " after " << last_index_);
    raftpb::Entry e;
    KVD_CHECK_MSG(e.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())),
                  "bad entry " << shard_ << "/" << index);
    KVD_CHECK_MSG(e.index() == index && e.term() >= terms_.back(),
                  "raftdb shard " << shard_ << ": entry " << index << " has index " << e.index()
                                  << " term " << e.term() << " after term " << terms_.back());
    terms_.push_back(e.term());
    CacheAppend(e);
    last_index_ = index;
  }
  KVD_CHECK_MSG(it->status().ok(), "raftdb shard " << shard_ << ": " << it->status().ToString());
  staged_first_ = first_index_;
  staged_last_ = last_index_;
}

void ShardLog::ResetTo(const raftpb::SnapshotMetadata& meta) {
  snapshot_ = meta;
  first_index_ = meta.index() + 1;
  last_index_ = meta.index();
  terms_.assign(1, meta.term());
  cache_.clear();
  cache_bytes_ = 0;
}

void ShardLog::CacheAppend(const raftpb::Entry& e) {
  KVD_CHECK_MSG(cache_.empty() || cache_.back().index() + 1 == e.index(),
                "cache gap before " << e.index());
  cache_.push_back(e);
  cache_bytes_ += raft::EntrySize(e);
  while (!cache_.empty() && (cache_bytes_ > kMaxCacheBytes || cache_.size() > kMaxCacheEntries)) {
    cache_bytes_ -= raft::EntrySize(cache_.front());
    cache_.pop_front();
  }
}

raft::Status ShardLog::InitialState(raftpb::HardState* hard_state, raftpb::ConfState* conf) const {
  *hard_state = hard_state_;
  *conf = snapshot_.conf_state();
  return raft::Status::Ok();
}

uint64_t ShardLog::FirstIndex() const { return first_index_; }
uint64_t ShardLog::LastIndex() const { return last_index_; }

raft::Status ShardLog::Term(uint64_t index, uint64_t* term) const {
  if (index < first_index_ - 1) return raft::Status::Error(raft::Code::kCompacted, "compacted");
  if (index > last_index_) return raft::Status::Error(raft::Code::kUnavailable, "past last");
  *term = terms_[index - (first_index_ - 1)];
  return raft::Status::Ok();
}

raft::Status ShardLog::Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes,
                               std::vector<raftpb::Entry>* out) const {
  if (lo < first_index_) return raft::Status::Error(raft::Code::kCompacted, "entries compacted");
  if (hi > last_index_ + 1) {
    return raft::Status::Error(raft::Code::kUnavailable, "entries past last index");
  }
  uint64_t bytes = 0;
  uint64_t next = lo;
  // False once the size limit is reached; the first entry is always taken.
  auto take = [&](const raftpb::Entry& e) {
    bytes += raft::EntrySize(e);
    if (next > lo && bytes > max_bytes) return false;
    out->push_back(e);
    ++next;
    return true;
  };
  const uint64_t cache_first = CacheFirstIndex();
  if (next < hi && next < cache_first) {
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
    const uint64_t disk_hi = std::min(hi, cache_first);
    for (it->Seek(keys::EntryKey(shard_, lo)); next < disk_hi; it->Next()) {
      if (!it->Valid()) break;
      uint64_t key_shard = 0, index = 0;
      const bool parsed = keys::ParseEntryKey(it->key().ToString(), &key_shard, &index);
      KVD_CHECK_MSG(parsed && key_shard == shard_ && index == next,
                    "raftdb shard " << shard_ << ": entry " << next << " missing");
      raftpb::Entry e;
      KVD_CHECK_MSG(e.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())),
                    "bad entry " << shard_ << "/" << index);
      if (!take(e)) return raft::Status::Ok();
    }
    if (!it->status().ok()) return FromLevelDb(it->status(), "raftdb read entries");
    KVD_CHECK_MSG(next == disk_hi, "raftdb shard " << shard_ << ": entry " << next << " missing");
  }
  for (uint64_t i = next; i < hi; ++i) {
    if (!take(cache_[i - cache_first])) break;
  }
  return raft::Status::Ok();
}

raft::Status ShardLog::Snapshot(raftpb::Snapshot* out) const {
  out->Clear();
  *out->mutable_metadata() = snapshot_;
  return raft::Status::Ok();
}

}  // namespace kvd::kv
