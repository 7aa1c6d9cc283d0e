// The read side of locks in ShardStateMachine (state_machine.h): GetLock, ListLocks, LockEvents.
#include <memory>
#include <utility>

#include "kv/db_util.h"
#include "kv/keys.h"
#include "kv/lock_apply.h"
#include "kv/state_machine.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

kvpb::LockRecord ParseLock(const leveldb::Slice& value, uint64_t shard) {
  kvpb::LockRecord record;
  KVD_CHECK_MSG(record.ParseFromArray(value.data(), static_cast<int>(value.size())),
                "bad lock record in shard " << shard);
  return record;
}

}  // namespace

raft::Status ShardStateMachine::GetLock(const std::string& name,
                                        std::optional<kvpb::LockRecord>* out) const {
  out->reset();
  std::string value;
  leveldb::Status s = db_->Get(leveldb::ReadOptions(), keys::LockKey(shard_, name), &value);
  if (s.IsNotFound()) return raft::Status::Ok();
  if (!s.ok()) return FromLevelDb(s, "kvdb lock read");
  *out = ParseLock(value, shard_);
  return raft::Status::Ok();
}

raft::Status ShardStateMachine::ListLocks(
    const std::string& after, size_t limit,
    std::vector<std::pair<std::string, kvpb::LockRecord>>* out, bool* more,
    std::string* resume) const {
  *more = false;
  const std::string prefix = keys::LockPrefix(shard_);
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  const std::string start = keys::LockKey(shard_, after);
  it->Seek(start);
  if (!after.empty() && it->Valid() && it->key() == leveldb::Slice(start)) it->Next();
  size_t examined = 0;
  for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (out->size() == limit || examined == kMaxLocksExamined) {
      *more = true;
      break;
    }
    ++examined;
    std::string name(it->key().data() + prefix.size(), it->key().size() - prefix.size());
    *resume = name;
    kvpb::LockRecord record = ParseLock(it->value(), shard_);
    if (!record.has_holder() && record.waiters().empty()) continue;
    out->emplace_back(std::move(name), std::move(record));
  }
  return FromLevelDb(it->status(), "kvdb lock list");
}

raft::Status ShardStateMachine::LockEvents(std::map<std::string, int64_t>* out) const {
  out->clear();
  const std::string prefix = keys::LockPrefix(shard_);
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const int64_t next = NextLockEvent(ParseLock(it->value(), shard_));
    if (next == 0) continue;
    (*out)[std::string(it->key().data() + prefix.size(), it->key().size() - prefix.size())] = next;
  }
  return FromLevelDb(it->status(), "kvdb lock events");
}

}  // namespace kvd::kv
