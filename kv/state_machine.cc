// KvStore, and the read side of ShardStateMachine (Get, Scan). Apply is in state_machine_apply.cc,
// snapshot streaming and installation in state_machine_snapshot.cc.
#include "kv/state_machine.h"

#include <leveldb/write_batch.h>

#include <algorithm>
#include <utility>

#include "kv/db_util.h"
#include "kv/keys.h"
#include "raft/check.h"

namespace kvd::kv {

raft::Status KvStore::Open(const std::string& path, leveldb::Env* env,
                           std::unique_ptr<KvStore>* out, int64_t session_ttl_ms) {
  if (session_ttl_ms <= 0) {
    return raft::Status::Error(raft::Code::kInvalidArgument, "session ttl must be positive");
  }
  OpenDb opened;
  raft::Status s = OpenLevelDb(path, env, &opened);
  if (!s.ok()) return s;
  out->reset(new KvStore(std::move(opened.env), std::move(opened.db), session_ttl_ms));
  return raft::Status::Ok();
}

KvStore::KvStore(std::unique_ptr<leveldb::Env> env, std::unique_ptr<leveldb::DB> db,
                 int64_t session_ttl_ms)
    : env_(std::move(env)), db_(std::move(db)), session_ttl_ms_(session_ttl_ms) {}

KvStore::~KvStore() = default;

ShardStateMachine* KvStore::Shard(uint64_t shard) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& sm = shards_[shard];
  if (!sm) sm = std::make_unique<ShardStateMachine>(db_.get(), shard, session_ttl_ms_);
  return sm.get();
}

raft::Status KvStore::Sync() {
  // An empty synced write syncs the log, and with it every record before it (db_util.h explains
  // why that includes the logs LevelDB has already switched away from).
  leveldb::WriteBatch empty;
  leveldb::WriteOptions options;
  options.sync = true;
  return FromLevelDb(db_->Write(options, &empty), "kvdb sync");
}

ShardStateMachine::ShardStateMachine(leveldb::DB* db, uint64_t shard, int64_t session_ttl_ms)
    : db_(db), shard_(shard), session_ttl_ms_(session_ttl_ms) {
  KVD_CHECK(session_ttl_ms_ > 0);
  std::string value;
  leveldb::Status s = db_->Get(leveldb::ReadOptions(), keys::AppliedKey(shard_), &value);
  KVD_CHECK_MSG(s.ok() || s.IsNotFound(), "kvdb shard " << shard_ << ": " << s.ToString());
  if (s.ok()) KVD_CHECK_MSG(applied_.ParseFromString(value), "bad applied state " << shard_);
}

raft::Status ShardStateMachine::Directory(std::optional<kvpb::DirectoryRecord>* out) const {
  out->reset();
  std::optional<kvpb::KeyRecord> record;
  raft::Status s = Get(kDirectoryKey, &record);
  if (!s.ok() || !record) return s;
  kvpb::DirectoryRecord dir;
  KVD_CHECK_MSG(dir.ParseFromString(record->value()), "bad directory record in shard " << shard_);
  *out = std::move(dir);
  return raft::Status::Ok();
}

raft::Status ShardStateMachine::Get(const std::string& key,
                                    std::optional<kvpb::KeyRecord>* out) const {
  out->reset();
  std::string value;
  leveldb::Status s = db_->Get(leveldb::ReadOptions(), keys::DataKey(shard_, key), &value);
  if (s.IsNotFound()) return raft::Status::Ok();
  if (!s.ok()) return FromLevelDb(s, "kvdb get");
  kvpb::KeyRecord record;
  KVD_CHECK_MSG(record.ParseFromString(value), "bad key record in shard " << shard_);
  *out = std::move(record);
  return raft::Status::Ok();
}

raft::Status ShardStateMachine::Scan(const std::string& prefix, const std::string& after,
                                     size_t limit, std::vector<ScanItem>* out, bool* more,
                                     size_t max_bytes) const {
  *more = false;
  const std::string data_prefix = keys::DataPrefix(shard_);
  const std::string scan_prefix = keys::DataKey(shard_, prefix);
  // One iterator: a consistent view of the shard even while Apply writes.
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  if (after >= prefix) {
    it->Seek(keys::DataKey(shard_, after));
    if (it->Valid() && it->key() == leveldb::Slice(keys::DataKey(shard_, after))) it->Next();
  } else {
    it->Seek(scan_prefix);
  }
  size_t taken = 0;
  size_t bytes = 0;  // keys and values returned so far
  for (; it->Valid() && it->key().starts_with(scan_prefix); it->Next()) {
    // The stored record's size bounds its value's; judged before parsing, so a page never holds
    // more than max_bytes plus its first record.
    const size_t item_bytes = it->key().size() - data_prefix.size() + it->value().size();
    if (taken == limit || (taken > 0 && item_bytes > max_bytes - std::min(bytes, max_bytes))) {
      *more = true;
      break;
    }
    bytes += item_bytes;
    ScanItem item;
    item.key.assign(it->key().data() + data_prefix.size(), it->key().size() - data_prefix.size());
    KVD_CHECK_MSG(
        item.record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())),
        "bad key record in shard " << shard_);
    out->push_back(std::move(item));
    ++taken;
  }
  return FromLevelDb(it->status(), "kvdb scan");
}

std::string EncodeCommand(const kvpb::Command& c) {
  if (c.format() != 0) return c.SerializeAsString();
  kvpb::Command stamped = c;
  stamped.set_format(kCommandFormat);
  return stamped.SerializeAsString();
}

bool DecodeCommand(const std::string& data, kvpb::Command* c) { return c->ParseFromString(data); }

}  // namespace kvd::kv
