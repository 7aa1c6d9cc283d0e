// Shard snapshots: ReadSnapshot streams a consistent image (one LevelDB snapshot) in bounded
// chunks; InstallSnapshot replaces the shard's state with one synced WriteBatch.
#include <google/protobuf/io/coded_stream.h>
#include <leveldb/write_batch.h>

#include <utility>

#include "kv/db_util.h"
#include "kv/keys.h"
#include "kv/state_machine.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

// Releases the LevelDB snapshot however ReadSnapshot returns.
class SnapshotGuard {
 public:
  explicit SnapshotGuard(leveldb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  ~SnapshotGuard() { db_->ReleaseSnapshot(snapshot_); }
  SnapshotGuard(const SnapshotGuard&) = delete;
  SnapshotGuard& operator=(const SnapshotGuard&) = delete;
  const leveldb::Snapshot* get() const { return snapshot_; }

 private:
  leveldb::DB* db_;
  const leveldb::Snapshot* snapshot_;
};

// Serialized size of one element of a repeated message field: tag, length, body.
size_t RepeatedFieldSize(const google::protobuf::Message& m) {
  const size_t body = m.ByteSizeLong();
  return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(body) + body;
}

// Fills chunks up to the byte bound and hands each full one to the sink.
class ChunkWriter {
 public:
  ChunkWriter(uint64_t shard, size_t max_bytes, const kvpb::AppliedState& applied,
              const std::function<bool(const kvpb::SnapshotChunk&)>& sink)
      : shard_(shard), max_bytes_(max_bytes), sink_(sink) {
    *chunk_.mutable_applied() = applied;
    Start();
  }

  // False once the sink asked to stop.
  template <typename Pair>
  bool Add(Pair pair, google::protobuf::RepeatedPtrField<Pair>* (kvpb::SnapshotChunk::*field)()) {
    const size_t item = RepeatedFieldSize(pair);
    if (items_ > 0 && bytes_ + item > max_bytes_) {
      if (!sink_(chunk_)) return false;
      chunk_.Clear();
      chunk_.set_seq(++seq_);
      Start();
    }
    *(chunk_.*field)()->Add() = std::move(pair);
    bytes_ += item;
    ++items_;
    return true;
  }

  void Finish() {
    chunk_.set_last(true);
    sink_(chunk_);
  }

 private:
  void Start() {
    chunk_.set_shard(shard_);
    bytes_ = chunk_.ByteSizeLong() + 2;  // + 'last = true' (tag and one byte)
    items_ = 0;
  }

  uint64_t shard_;
  size_t max_bytes_;
  const std::function<bool(const kvpb::SnapshotChunk&)>& sink_;
  kvpb::SnapshotChunk chunk_;
  uint64_t seq_ = 0;
  size_t bytes_ = 0;
  size_t items_ = 0;
};

}  // namespace

raft::Status ShardStateMachine::ReadSnapshot(
    size_t max_chunk_bytes, const std::function<bool(const kvpb::SnapshotChunk&)>& sink) const {
  SnapshotGuard snapshot(db_);
  leveldb::ReadOptions options;
  options.snapshot = snapshot.get();
  options.fill_cache = false;  // a one-off scan of the whole shard

  kvpb::AppliedState applied;  // as of the snapshot, not applied_: they may differ
  std::string value;
  leveldb::Status s = db_->Get(options, keys::AppliedKey(shard_), &value);
  if (!s.ok() && !s.IsNotFound()) return FromLevelDb(s, "kvdb snapshot");
  if (s.ok()) KVD_CHECK_MSG(applied.ParseFromString(value), "bad applied state " << shard_);

  ChunkWriter writer(shard_, max_chunk_bytes, applied, sink);
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(options));
  const std::string data_prefix = keys::DataPrefix(shard_);
  for (it->Seek(data_prefix); it->Valid() && it->key().starts_with(data_prefix); it->Next()) {
    kvpb::KvPair pair;
    pair.set_key(it->key().data() + data_prefix.size(), it->key().size() - data_prefix.size());
    KVD_CHECK_MSG(pair.mutable_record()->ParseFromArray(it->value().data(),
                                                        static_cast<int>(it->value().size())),
                  "bad key record in shard " << shard_);
    if (!writer.Add(std::move(pair), &kvpb::SnapshotChunk::mutable_pairs)) {
      return raft::Status::Ok();
    }
  }
  const std::string session_prefix = keys::SessionPrefix(shard_);
  for (it->Seek(session_prefix); it->Valid() && it->key().starts_with(session_prefix); it->Next()) {
    kvpb::SessionPair pair;
    pair.set_client_id(it->key().data() + session_prefix.size(),
                       it->key().size() - session_prefix.size());
    KVD_CHECK_MSG(pair.mutable_session()->ParseFromArray(it->value().data(),
                                                         static_cast<int>(it->value().size())),
                  "bad session in shard " << shard_);
    if (!writer.Add(std::move(pair), &kvpb::SnapshotChunk::mutable_sessions)) {
      return raft::Status::Ok();
    }
  }
  const std::string lock_prefix = keys::LockPrefix(shard_);
  for (it->Seek(lock_prefix); it->Valid() && it->key().starts_with(lock_prefix); it->Next()) {
    kvpb::LockPair pair;
    pair.set_name(it->key().data() + lock_prefix.size(), it->key().size() - lock_prefix.size());
    KVD_CHECK_MSG(pair.mutable_record()->ParseFromArray(it->value().data(),
                                                        static_cast<int>(it->value().size())),
                  "bad lock record in shard " << shard_);
    if (!writer.Add(std::move(pair), &kvpb::SnapshotChunk::mutable_locks)) {
      return raft::Status::Ok();
    }
  }
  const std::string fence_prefix = keys::FencePrefix(shard_);
  for (it->Seek(fence_prefix); it->Valid() && it->key().starts_with(fence_prefix); it->Next()) {
    kvpb::FencePair pair;
    pair.set_key(it->key().data() + fence_prefix.size(), it->key().size() - fence_prefix.size());
    KVD_CHECK_MSG(pair.mutable_record()->ParseFromArray(it->value().data(),
                                                        static_cast<int>(it->value().size())),
                  "bad fence record in shard " << shard_);
    if (!writer.Add(std::move(pair), &kvpb::SnapshotChunk::mutable_fences)) {
      return raft::Status::Ok();
    }
  }
  for (const char kind : keys::kTxnKinds) {
    const std::string prefix = keys::TxnStatePrefix(kind, shard_);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      kvpb::TxnStatePair pair;
      pair.set_kind(static_cast<uint32_t>(kind));
      pair.set_key(it->key().data() + prefix.size(), it->key().size() - prefix.size());
      pair.set_value(it->value().data(), it->value().size());
      if (!writer.Add(std::move(pair), &kvpb::SnapshotChunk::mutable_txn_state)) {
        return raft::Status::Ok();
      }
    }
  }
  if (!it->status().ok()) return FromLevelDb(it->status(), "kvdb snapshot");
  writer.Finish();
  return raft::Status::Ok();
}

raft::Status ShardStateMachine::InstallSnapshot(const std::vector<kvpb::SnapshotChunk>& chunks) {
  auto invalid = [](const std::string& why) {
    return raft::Status::Error(raft::Code::kInvalidArgument, "snapshot chunks: " + why);
  };
  if (chunks.empty()) return invalid("none");
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (chunks[i].seq() != i) return invalid("chunk " + std::to_string(i) + " out of order");
    if (chunks[i].last() != (i + 1 == chunks.size())) return invalid("'last' misplaced");
  }
  const kvpb::AppliedState& applied = chunks[0].applied();
  if (applied.index() < applied_.index()) {
    return raft::Status::Error(raft::Code::kSnapOutOfDate,
                               "snapshot at " + std::to_string(applied.index()) +
                                   " older than applied " + std::to_string(applied_.index()));
  }

  leveldb::WriteBatch batch;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  std::vector<std::string> prefixes = {keys::DataPrefix(shard_), keys::SessionPrefix(shard_),
                                       keys::LockPrefix(shard_), keys::FencePrefix(shard_)};
  for (const char kind : keys::kTxnKinds) prefixes.push_back(keys::TxnStatePrefix(kind, shard_));
  for (const std::string& prefix : prefixes) {
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      batch.Delete(it->key());
    }
  }
  if (!it->status().ok()) return FromLevelDb(it->status(), "kvdb install snapshot");
  for (const kvpb::SnapshotChunk& chunk : chunks) {
    for (const kvpb::KvPair& pair : chunk.pairs()) {
      if (pair.key().empty()) return invalid("empty key");
      batch.Put(keys::DataKey(shard_, pair.key()), pair.record().SerializeAsString());
    }
    for (const kvpb::SessionPair& pair : chunk.sessions()) {
      if (pair.client_id().empty()) return invalid("empty client id");
      batch.Put(keys::SessionKey(shard_, pair.client_id()), pair.session().SerializeAsString());
    }
    for (const kvpb::LockPair& pair : chunk.locks()) {
      if (pair.name().empty()) return invalid("empty lock name");
      batch.Put(keys::LockKey(shard_, pair.name()), pair.record().SerializeAsString());
    }
    for (const kvpb::FencePair& pair : chunk.fences()) {
      if (pair.key().empty()) return invalid("empty fenced key");
      batch.Put(keys::FenceKey(shard_, pair.key()), pair.record().SerializeAsString());
    }
    for (const kvpb::TxnStatePair& pair : chunk.txn_state()) {
      const char kind = static_cast<char>(pair.kind());
      if (pair.kind() > 0x7f ||
          std::string_view(keys::kTxnKinds, 4).find(kind) == std::string_view::npos ||
          pair.key().empty()) {
        return invalid("bad transaction state");
      }
      batch.Put(keys::TxnStateKey(kind, shard_, pair.key()), pair.value());
    }
  }
  batch.Put(keys::AppliedKey(shard_), applied.SerializeAsString());
  leveldb::WriteOptions options;
  options.sync = true;
  raft::Status s = FromLevelDb(db_->Write(options, &batch), "kvdb install snapshot");
  if (!s.ok()) return s;
  applied_ = applied;
  return raft::Status::Ok();
}

}  // namespace kvd::kv
