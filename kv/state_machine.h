// The replicated KV state machine of each data shard, stored in the node's "kvdb" LevelDB.
//
// Apply is deterministic: it reads only the entries and the current state (no local clock, no
// randomness; time comes from Command.leader_time_ms). Each Apply() call writes ONE WriteBatch
// holding the data changes, the client sessions and the AppliedState, so the state on disk is
// always "everything up to applied.index" — a restart resumes applying right after it and never
// applies an entry twice. kvdb writes need not be synced: after a crash the driver re-applies
// from the durable Raft log. Before the Raft log is compacted past index X, call Sync() so that
// kvdb is durable at or past X.
//
// Semantics (API.md): Put creates (version 1) or overwrites (version+1); Delete removes;
// if_version compares the key's current version (0 = absent) and on mismatch applies nothing
// (RESULT_VERSION_MISMATCH with current_version). revision = the entry's Raft index.
// Exactly-once: a command with client_id and seq <= the session's seq is not applied again; the
// stored result of the latest seq is returned (an older seq returns RESULT_INVALID: the client
// moved on). Sessions idle longer than the configured TTL (in leader time) are dropped.
//
// Ownership: KvStore owns the DB and its ShardStateMachines. Thread-safety: Apply/Install from
// the driver thread only; Get/Scan/ReadSnapshot may run on other threads (LevelDB reads are
// thread-safe and see only whole batches).
#pragma once

#include <leveldb/db.h>
#include <leveldb/env.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "proto/kv.pb.h"
#include "proto/raft.pb.h"
#include "raft/status.h"

namespace kvd::kv {

class ShardStateMachine;

class KvStore {
 public:
  static raft::Status Open(const std::string& path, leveldb::Env* env,
                           std::unique_ptr<KvStore>* out);
  ~KvStore();
  ShardStateMachine* Shard(uint64_t shard);  // created on first use; owned by the store
  raft::Status Sync();                       // makes every earlier write durable
  leveldb::DB* db() { return db_.get(); }

 private:
  explicit KvStore(std::unique_ptr<leveldb::DB> db);
  std::unique_ptr<leveldb::DB> db_;
  std::mutex mu_;
  std::map<uint64_t, std::unique_ptr<ShardStateMachine>> shards_;  // GUARDED_BY(mu_)
};

struct AppliedCommand {
  uint64_t index = 0;
  kvpb::Command command;  // as decoded from the entry (for matching waiting requests)
  kvpb::Result result;
};

struct ScanItem {
  std::string key;
  kvpb::KeyRecord record;
};

class ShardStateMachine {
 public:
  ShardStateMachine(leveldb::DB* db, uint64_t shard, int64_t session_ttl_ms);

  // Applies committed entries in order (normal entries: Command; empty ones: the leader's no-op;
  // conf-change entries: 'apply_conf_change' is called and its ConfState recorded). Appends one
  // AppliedCommand per command entry to *out.
  using ConfChangeFn = std::function<raftpb::ConfState(const raftpb::ConfChange&)>;
  raft::Status Apply(const std::vector<raftpb::Entry>& entries, const ConfChangeFn& apply_conf_change,
                     std::vector<AppliedCommand>* out);

  const kvpb::AppliedState& applied() const { return applied_; }

  raft::Status Get(const std::string& key, std::optional<kvpb::KeyRecord>* out) const;
  // Keys with 'prefix', strictly after 'after', in key order, at most 'limit'.
  raft::Status Scan(const std::string& prefix, const std::string& after, size_t limit,
                    std::vector<ScanItem>* out, bool* more) const;

  // Snapshot streaming: reads a consistent image of the shard (data, sessions, applied state)
  // and hands it out in chunks of at most ~max_chunk_bytes. Stops early if 'sink' returns false.
  raft::Status ReadSnapshot(size_t max_chunk_bytes,
                            const std::function<bool(const kvpb::SnapshotChunk&)>& sink) const;
  // Replaces the shard's whole state with the chunks (seq 0..last, in order) in one batch.
  raft::Status InstallSnapshot(const std::vector<kvpb::SnapshotChunk>& chunks);

 private:
  leveldb::DB* db_;
  uint64_t shard_;
  int64_t session_ttl_ms_;
  kvpb::AppliedState applied_;
};

// Encoding helpers for the driver and the HTTP layer.
std::string EncodeCommand(const kvpb::Command& c);
bool DecodeCommand(const std::string& data, kvpb::Command* c);

}  // namespace kvd::kv
