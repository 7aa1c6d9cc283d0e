// The replicated KV state machine of each data shard, stored in the node's "kvdb" LevelDB.
//
// Apply is deterministic: it reads only the entries and the current state (no local clock, no
// randomness; time is the shard clock, AppliedState.clock_ms, which only leader-stamped
// Command.leader_time_ms advances). Each Apply() call writes ONE WriteBatch
// holding the data changes, the client sessions and the AppliedState, so the state on disk is
// always "everything up to applied.index" — a restart resumes applying right after it and never
// applies an entry twice. kvdb writes need not be synced: after a crash the driver re-applies
// from the durable Raft log. Before the Raft log is compacted past index X, call Sync() so that
// kvdb is durable at or past X.
//
// Semantics (docs/api.md): Put creates (version 1) or overwrites (version+1); Delete removes;
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
#include <leveldb/write_batch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kv/lock_apply.h"
#include "kv/txn_apply.h"
#include "proto/kv.pb.h"
#include "proto/raft.pb.h"
#include "raft/status.h"

namespace kvd::kv {

class ShardStateMachine;

inline constexpr uint32_t kCommandFormat = 1;
// The meta shard holds the directory (kvpb::DirectoryRecord) under this reserved key; no user
// key maps to shard 0, so it never collides with user data.
inline constexpr uint64_t kMetaShard = 0;
inline constexpr char kDirectoryKey[] = "directory";  // the only Command.format Apply accepts
// Client sessions idle longer than this (leader time) are forgotten. It decides which retries are
// re-applied, so every replica of a shard must use the same value (cluster-wide configuration).
inline constexpr int64_t kDefaultSessionTtlMs = 10 * 60 * 1000;
// Apply drops expired sessions from disk at each command entry whose index is a multiple of this
// (a pure function of the log, so every replica keeps the same sessions). Between sweeps an
// expired session is already treated as absent.
inline constexpr uint64_t kSessionSweepInterval = 1024;

class KvStore {
 public:
  static raft::Status Open(const std::string& path, leveldb::Env* env,
                           std::unique_ptr<KvStore>* out,
                           int64_t session_ttl_ms = kDefaultSessionTtlMs);
  ~KvStore();
  ShardStateMachine* Shard(uint64_t shard);  // created on first use; owned by the store
  raft::Status Sync();                       // makes every earlier write durable
  leveldb::DB* db() { return db_.get(); }

 private:
  KvStore(std::unique_ptr<leveldb::Env> env, std::unique_ptr<leveldb::DB> db,
          int64_t session_ttl_ms);
  std::unique_ptr<leveldb::Env> env_;  // the wrapper db_ writes through (db_util.h); outlives db_
  std::unique_ptr<leveldb::DB> db_;
  const int64_t session_ttl_ms_;
  std::mutex mu_;
  std::map<uint64_t, std::unique_ptr<ShardStateMachine>> shards_;  // GUARDED_BY(mu_)
};

struct AppliedCommand {
  uint64_t index = 0;
  kvpb::Command command;  // as decoded from the entry (for matching waiting requests)
  kvpb::Result result;
  LockEffects locks;  // lock commands: waiters woken, and when the lock is next due
  TxnEffects txn;     // transaction commands: records and prepared transactions changed
};

// Result.message of a RESULT_QUEUED answer to a retried acquire (same Idempotency-Key) that is
// still waiting: the waiter is the first entry's, not this one's.
inline constexpr char kDuplicateWaiter[] = "duplicate of a waiting acquire";

struct ScanItem {
  std::string key;
  kvpb::KeyRecord record;
};

class ShardStateMachine {
 public:
  // Loads the shard's AppliedState (a read error or an unparsable record: KVD_CHECK).
  ShardStateMachine(leveldb::DB* db, uint64_t shard, int64_t session_ttl_ms);

  // Applies committed entries in order (normal entries: Command; empty ones: the leader's no-op;
  // conf-change entries: 'apply_conf_change' is called and its ConfState recorded). Appends one
  // AppliedCommand per command entry to *out.
  // Entries at or below applied().index are skipped, conf changes included: on restart the driver
  // creates the RawNode with applied = applied().index and the membership applied().conf_state
  // (e.g. by first compacting the raft log to applied(), after Sync()). A gap after applied()
  // is a broken invariant (KVD_CHECK). An undecodable command or one with an unknown format is
  // answered RESULT_INVALID. On a write error nothing is recorded, but 'apply_conf_change' may
  // have been called: the node must stop.
  using ConfChangeFn = std::function<raftpb::ConfState(const raftpb::ConfChange&)>;
  raft::Status Apply(const std::vector<raftpb::Entry>& entries,
                     const ConfChangeFn& apply_conf_change, std::vector<AppliedCommand>* out);

  // Apply in two steps, so that a driver round can write every shard's changes in ONE kvdb
  // batch: Stage() appends this call's writes (data, sessions, AppliedState) to *batch and
  // appends the results to *out; once the caller has written the batch, CommitStaged() makes
  // applied() reflect it (if the write failed, the node must stop). Nothing is staged if no
  // entry was new. One staged call per shard at a time.
  raft::Status Stage(const std::vector<raftpb::Entry>& entries,
                     const ConfChangeFn& apply_conf_change, std::vector<AppliedCommand>* out,
                     leveldb::WriteBatch* batch);
  void CommitStaged();

  const kvpb::AppliedState& applied() const { return applied_; }

  raft::Status Get(const std::string& key, std::optional<kvpb::KeyRecord>* out) const;
  // The meta shard's directory record, if one was applied (kMetaShard only).
  raft::Status Directory(std::optional<kvpb::DirectoryRecord>* out) const;
  // Keys with 'prefix', strictly after 'after', in key order, at most 'limit' items and about
  // 'max_bytes' of keys and values: an item that would take the total past max_bytes is left
  // for the next page (*more = true), except that the first item is always returned, however
  // large. So one call holds at most max_bytes plus one record in memory, not 'limit' records.
  static constexpr size_t kDefaultScanMaxBytes = size_t{4} << 20;
  raft::Status Scan(const std::string& prefix, const std::string& after, size_t limit,
                    std::vector<ScanItem>* out, bool* more,
                    size_t max_bytes = kDefaultScanMaxBytes) const;

  // Locks as applied here (reads; any thread). GetLock: the record of 'name', if it was ever
  // acquired. ListLocks: records that are held or have waiters, names after 'after', in order,
  // at most 'limit'; *more: there may be more after *resume (a page also ends after examining
  // kMaxLocksExamined records, held or not). LockEvents: every lock with waiters and when it is
  // next due (shard time), for the leader's LockTick schedule after a restart or a snapshot.
  raft::Status GetLock(const std::string& name, std::optional<kvpb::LockRecord>* out) const;
  raft::Status ListLocks(const std::string& after, size_t limit,
                         std::vector<std::pair<std::string, kvpb::LockRecord>>* out, bool* more,
                         std::string* resume) const;
  static constexpr size_t kMaxLocksExamined = 100000;
  raft::Status LockEvents(std::map<std::string, int64_t>* out) const;

  // Transactions as applied here (reads; any thread; kv/state_machine_txn.cc). GetIntent: the
  // transaction holding 'key', if any. Intents: those on keys with 'prefix', after 'after' and
  // (if 'until' is not empty) at most 'until', at most 'limit'. TxnRecords: the records this
  // shard holds (at most 'limit'), by id. PreparedTxns: every prepared transaction here.
  raft::Status GetIntent(const std::string& key, std::optional<kvpb::TxnIntent>* out) const;
  raft::Status Intents(const std::string& prefix, const std::string& after,
                       const std::string& until, size_t limit,
                       std::vector<std::pair<std::string, kvpb::TxnIntent>>* out) const;
  raft::Status TxnRecords(size_t limit,
                          std::vector<std::pair<std::string, kvpb::TxnRecord>>* out) const;
  raft::Status PreparedTxns(std::vector<std::pair<std::string, TxnEffects::Prepared>>* out) const;

  // Snapshot streaming: reads a consistent image of the shard (data, sessions, locks, fences,
  // applied state)
  // and hands it out in chunks of at most ~max_chunk_bytes. Stops early if 'sink' returns false.
  raft::Status ReadSnapshot(size_t max_chunk_bytes,
                            const std::function<bool(const kvpb::SnapshotChunk&)>& sink) const;
  // Replaces the shard's whole state with the chunks (seq 0..last, in order) in one batch.
  // The batch is synced, so the driver installs here BEFORE recording the snapshot in raftdb: a
  // crash in between leaves kvdb ahead of the log (safe), never behind a compacted log.
  // chunk.shard names the source and is not checked (the driver routes chunks).
  // kInvalidArgument for a malformed chunk sequence; kSnapOutOfDate if older than applied().
  raft::Status InstallSnapshot(const std::vector<kvpb::SnapshotChunk>& chunks);

 private:
  leveldb::DB* db_;
  uint64_t shard_;
  int64_t session_ttl_ms_;
  kvpb::AppliedState applied_;
  kvpb::AppliedState staged_;  // Stage()'s result until CommitStaged()
  bool has_staged_ = false;
};

// Encoding helpers for the driver and the HTTP layer.
std::string EncodeCommand(const kvpb::Command& c);
bool DecodeCommand(const std::string& data, kvpb::Command* c);

}  // namespace kvd::kv
