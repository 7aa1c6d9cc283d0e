// RaftLogStore: the durable Raft state of every shard replica on a node, in one LevelDB
// ("raftdb"): log entries, hard state, and the metadata of the snapshot the log was compacted to.
//
// Writes are staged into a caller-owned leveldb::WriteBatch so that the node's driver can persist
// the Readys of all its shards in ONE synced write (group commit, DESIGN.md §4). After the write
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

  // Writes a batch (sync: fsync before returning). On success the caller must call Committed()
  // on every ShardLog it staged into; on failure the node must stop (the in-memory view would
  // run ahead of disk).
  raft::Status Write(leveldb::WriteBatch* batch, bool sync);

 private:
  explicit RaftLogStore(std::unique_ptr<leveldb::DB> db);
  std::unique_ptr<leveldb::DB> db_;
  std::map<uint64_t, std::unique_ptr<ShardLog>> shards_;
};

// One shard's durable log: what raft::RawNode reads, plus staging of the driver's writes.
class ShardLog final : public raft::LogReader {
 public:
  ShardLog(leveldb::DB* db, uint64_t shard);  // loads hard state, snapshot record, index range

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
  void StageCompact(const raftpb::SnapshotMetadata& meta, leveldb::WriteBatch* batch);
  void Committed();

  uint64_t shard() const { return shard_; }
  const raftpb::HardState& hard_state() const { return hard_state_; }
  const raftpb::SnapshotMetadata& snapshot_metadata() const { return snapshot_; }

 private:
  // ... implementation state: the index range, a term per retained index (cheap Term()), a
  // bounded cache of recent entries, and the pending changes of the staged batch.
  leveldb::DB* db_;
  uint64_t shard_;
  raftpb::HardState hard_state_;
  raftpb::SnapshotMetadata snapshot_;
};

}  // namespace kvd::kv
