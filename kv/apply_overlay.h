// The pending writes of one ShardStateMachine::Stage call over kvdb (internal to kv/): reads see
// them first, so later commands of a call see earlier ones; Flush() puts them in the call's batch.
#pragma once

#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "kv/db_util.h"
#include "kv/keys.h"
#include "proto/kv.pb.h"
#include "raft/check.h"
#include "raft/status.h"

namespace kvd::kv {

// The pending writes of one Apply call over the db: reads see them first.
class Overlay {
 public:
  Overlay(leveldb::DB* db, uint64_t shard) : db_(db), shard_(shard) {}

  template <typename Message>
  raft::Status Read(const std::string& key, std::optional<Message>* out) const {
    out->reset();
    std::string value;
    if (auto it = writes_.find(key); it != writes_.end()) {
      if (!it->second) return raft::Status::Ok();
      value = *it->second;
    } else {
      leveldb::Status s = db_->Get(leveldb::ReadOptions(), key, &value);
      if (s.IsNotFound()) return raft::Status::Ok();
      if (!s.ok()) return FromLevelDb(s, "kvdb apply read");
    }
    Message m;
    KVD_CHECK_MSG(m.ParseFromString(value), "bad record in kvdb shard " << shard_);
    *out = std::move(m);
    return raft::Status::Ok();
  }
  void Put(const std::string& key, const google::protobuf::Message& m) {
    writes_[key] = m.SerializeAsString();
  }
  void Delete(const std::string& key) { writes_[key] = std::nullopt; }

  // The shard's sessions as they are with the pending writes, by client id.
  raft::Status Sessions(std::map<std::string, kvpb::ClientSession>* out) const {
    const std::string prefix = keys::SessionPrefix(shard_);
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      kvpb::ClientSession session;
      KVD_CHECK_MSG(
          session.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())),
          "bad session in kvdb shard " << shard_);
      (*out)[it->key().ToString().substr(prefix.size())] = std::move(session);
    }
    if (!it->status().ok()) return FromLevelDb(it->status(), "kvdb apply sessions");
    for (auto w = writes_.lower_bound(prefix); w != writes_.end() && w->first.starts_with(prefix);
         ++w) {
      const std::string client = w->first.substr(prefix.size());
      if (!w->second) {
        out->erase(client);
      } else {
        KVD_CHECK((*out)[client].ParseFromString(*w->second));
      }
    }
    return raft::Status::Ok();
  }

  void Flush(leveldb::WriteBatch* batch) const {
    for (const auto& [key, value] : writes_) {
      if (value) {
        batch->Put(key, *value);
      } else {
        batch->Delete(key);
      }
    }
  }

 private:
  leveldb::DB* db_;
  uint64_t shard_;
  std::map<std::string, std::optional<std::string>> writes_;  // db key -> value, or deleted
};

}  // namespace kvd::kv
