// RaftLogStore: the durable Raft state of every shard replica on a node, in one LevelDB
// ("raftdb"): log entries, hard state, and the metadata of the snapshot the log was compacted to.
//
// Writes are staged into a caller-owned leveldb::WriteBatch so that the node's driver can persist
// the Readys of all its shards in ONE synced write (group commit, docs/design.md). After the write
// succeeds the driver calls Committed() so that the in-memory view (first/last index, terms,
// cached tail) reflects it; the raft core reads only through ShardLog (a raft::LogReader).
//
// Snapshot data is not stored here: a shard's snapshot is its key range in kvdb (see
// ShardStateMachine), streamed on demand. ShardLog::Snapshot() returns metadata only.
//
// Ownership: RaftLogStore owns the DB; ShardLogs are owned by the store and live until the store
// is destroyed. Thread-safety: none; the node's single driver thread owns it.
#pragma once

#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/write_batch.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proto/kv.pb.h"
#include "proto/raft.pb.h"
#include "raft/log_reader.h"
#include "raft/raw_node.h"

namespace kvd::kv {

class ShardLog;

class RaftLogStore {
 public:
  // Opens (creating if needed) the database at 'path'. 'env' (borrowed, may be null for the
  // default) is the only way it touches files, so tests can inject faults.
  static raft::Status Open(const std::string& path, leveldb::Env* env,
                           std::unique_ptr<RaftLogStore>* out);
  ~RaftLogStore();

  // Shard ids that have any durable state.
  std::vector<uint64_t> Shards() const;

  // The log of 'shard', loading it from disk (or creating it empty) on first use.
  ShardLog* Shard(uint64_t shard);

  // Counts this open of the store: reads the boot count, adds one and writes it back, synced,
  // so that no two opens ever share a count (request ids embed it).
  raft::Status RecordBoot(uint64_t* boot);

  // Writes a batch (sync: fsync before returning). On success the caller must call Committed()
  // on every ShardLog it staged into; on failure the node must stop (the in-memory view would
  // run ahead of disk).
  raft::Status Write(leveldb::WriteBatch* batch, bool sync);

 private:
  RaftLogStore(std::unique_ptr<leveldb::Env> env, std::unique_ptr<leveldb::DB> db);
  std::unique_ptr<leveldb::Env> env_;  // the wrapper db_ writes through (db_util.h); outlives db_
  std::unique_ptr<leveldb::DB> db_;
  std::map<uint64_t, std::unique_ptr<ShardLog>> shards_;
};

// One shard's durable log: what raft::RawNode reads, plus staging of the driver's writes.
class ShardLog final : public raft::LogReader {
 public:
  // Loads hard state, snapshot record, index range, terms and the cache tail. A database this
  // store did not write consistently (a gap in the log, an unparsable record) or a read error is a
  // broken invariant here: KVD_CHECK.
  ShardLog(leveldb::DB* db, uint64_t shard);

  // raft::LogReader
  raft::Status InitialState(raftpb::HardState* hard_state, raftpb::ConfState* conf) const override;
  raft::Status Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes,
                       std::vector<raftpb::Entry>* out) const override;
  raft::Status Term(uint64_t index, uint64_t* term) const override;
  uint64_t FirstIndex() const override;
  uint64_t LastIndex() const override;
  raft::Status Snapshot(raftpb::Snapshot* out) const override;  // metadata only

  // Staging. Each adds puts/deletes to 'batch' and remembers the pending in-memory change, which
  // Committed() applies after the batch is durable. Stage calls for one batch are made in order:
  // snapshot (if any), then entries, then hard state.
  void StageSnapshot(const raftpb::SnapshotMetadata& meta, leveldb::WriteBatch* batch);
  void StageEntries(const std::vector<raftpb::Entry>& entries, leveldb::WriteBatch* batch);
  void StageHardState(const raftpb::HardState& hs, leveldb::WriteBatch* batch);
  // Discards entries up to and including 'index' (<= applied; the state machine must already be
  // durable at or past it) and records 'meta' (index, term, conf state) as the snapshot point.
  // A no-op if 'index' is not past the current snapshot point. If 'index' is past LastIndex()
  // (kvdb installed a snapshot the log has not seen), the whole log is discarded, as by
  // StageSnapshot.
  void StageCompact(const raftpb::SnapshotMetadata& meta, leveldb::WriteBatch* batch);
  // Applies the staged changes to the in-memory view. Call once the batch is durable.
  void Committed();

  uint64_t shard() const { return shard_; }
  const raftpb::HardState& hard_state() const { return hard_state_; }
  const raftpb::SnapshotMetadata& snapshot_metadata() const { return snapshot_; }
  // Bytes (raft::EntrySize) of the tail entries held in memory; at most kMaxCacheBytes.
  uint64_t cached_bytes() const { return cache_bytes_; }

  static constexpr uint64_t kMaxCacheBytes = 1 << 20;
  static constexpr size_t kMaxCacheEntries = 4096;

 private:
  // The in-memory change of one Stage call; Committed() applies them in staging order.
  struct PendingOp {
    enum class Kind { kSnapshot, kEntries, kHardState, kCompact } kind;
    raftpb::SnapshotMetadata meta;       // kSnapshot, kCompact
    std::vector<raftpb::Entry> entries;  // kEntries: only those not already compacted
    raftpb::HardState hard_state;        // kHardState
  };

  void Load();
  void ResetTo(const raftpb::SnapshotMetadata& meta);  // empty log after 'meta'
  void CommitEntries(const std::vector<raftpb::Entry>& entries);
  void CommitCompact(const raftpb::SnapshotMetadata& meta);
  void CacheAppend(const raftpb::Entry& e);  // e.index() == LastIndex() + 1 after truncation
  uint64_t CacheFirstIndex() const { return last_index_ + 1 - cache_.size(); }
  void DeleteEntryKeys(uint64_t lo, uint64_t hi, leveldb::WriteBatch* batch) const;  // [lo, hi]
  void PutSnapshotRecord(const raftpb::SnapshotMetadata& meta, leveldb::WriteBatch* batch) const;

  leveldb::DB* db_;
  uint64_t shard_;
  raftpb::HardState hard_state_;
  raftpb::SnapshotMetadata snapshot_;
  // Durable view: entries [first_index_, last_index_] are in the db.
  uint64_t first_index_ = 1;
  uint64_t last_index_ = 0;
  std::deque<uint64_t> terms_;       // terms_[i]: term of index first_index_ - 1 + i
  std::deque<raftpb::Entry> cache_;  // the newest entries, ending at last_index_
  uint64_t cache_bytes_ = 0;
  // Staged view: the index range once the pending ops are committed.
  uint64_t staged_first_ = 1;
  uint64_t staged_last_ = 0;
  std::vector<PendingOp> pending_;
};

}  // namespace kvd::kv
