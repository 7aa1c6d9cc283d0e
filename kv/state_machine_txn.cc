// The read side of transactions in ShardStateMachine (state_machine.h): intents, records and
// prepared transactions, for reads that meet intents and for the recovery schedule.
#include <memory>
#include <utility>

#include "kv/db_util.h"
#include "kv/keys.h"
#include "kv/state_machine.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

template <typename Message>
Message Parse(const leveldb::Slice& value, uint64_t shard) {
  Message m;
  KVD_CHECK_MSG(m.ParseFromArray(value.data(), static_cast<int>(value.size())),
                "bad transaction state in shard " << shard);
  return m;
}

}  // namespace

raft::Status ShardStateMachine::GetIntent(const std::string& key,
                                          std::optional<kvpb::TxnIntent>* out) const {
  out->reset();
  std::string value;
  leveldb::Status s =
      db_->Get(leveldb::ReadOptions(), keys::TxnStateKey(keys::kTxnIntentTag, shard_, key), &value);
  if (s.IsNotFound()) return raft::Status::Ok();
  if (!s.ok()) return FromLevelDb(s, "kvdb intent read");
  *out = Parse<kvpb::TxnIntent>(value, shard_);
  return raft::Status::Ok();
}

raft::Status ShardStateMachine::Intents(
    const std::string& prefix, const std::string& after, const std::string& until, size_t limit,
    std::vector<std::pair<std::string, kvpb::TxnIntent>>* out) const {
  const std::string base = keys::TxnStatePrefix(keys::kTxnIntentTag, shard_);
  const std::string start = base + std::max(prefix, after);
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(start); it->Valid() && it->key().starts_with(base + prefix); it->Next()) {
    std::string key(it->key().data() + base.size(), it->key().size() - base.size());
    if (!after.empty() && key <= after) continue;
    if (!until.empty() && key > until) break;
    if (out->size() == limit) break;
    out->emplace_back(std::move(key), Parse<kvpb::TxnIntent>(it->value(), shard_));
  }
  return FromLevelDb(it->status(), "kvdb intent scan");
}

raft::Status ShardStateMachine::TxnRecords(
    size_t limit, std::vector<std::pair<std::string, kvpb::TxnRecord>>* out) const {
  const std::string base = keys::TxnStatePrefix(keys::kTxnRecordTag, shard_);
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(base); it->Valid() && it->key().starts_with(base) && out->size() < limit;
       it->Next()) {
    out->emplace_back(std::string(it->key().data() + base.size(), it->key().size() - base.size()),
                      Parse<kvpb::TxnRecord>(it->value(), shard_));
  }
  return FromLevelDb(it->status(), "kvdb transaction records");
}

raft::Status ShardStateMachine::PreparedTxns(
    std::vector<std::pair<std::string, TxnEffects::Prepared>>* out) const {
  const std::string base = keys::TxnStatePrefix(keys::kTxnPreparedTag, shard_);
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(base); it->Valid() && it->key().starts_with(base); it->Next()) {
    const auto p = Parse<kvpb::TxnPrepared>(it->value(), shard_);
    out->emplace_back(std::string(it->key().data() + base.size(), it->key().size() - base.size()),
                      TxnEffects::Prepared{p.record_shard(), p.prepared_ms()});
  }
  return FromLevelDb(it->status(), "kvdb prepared transactions");
}

}  // namespace kvd::kv
