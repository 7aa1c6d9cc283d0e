// LevelDB plumbing shared by the two stores of a node (raftdb, kvdb): how a database is opened and
// how LevelDB statuses become raft::Status values.
//
// Why a wrapper Env: LevelDB closes the write-ahead log it switches away from (when a memtable
// fills) WITHOUT syncing it. A record written with sync=false into that old log is therefore not
// made durable by a later sync=true write, which syncs only the new log; a crash would keep the
// later write and drop the earlier one. KvStore writes with sync=false and relies on Sync() making
// every earlier write durable, so every database here is opened through SyncClosedLogsEnv, which
// fsyncs each *.log file before it is closed (once per memtable switch, ~4 MiB of writes). If that
// fsync fails, every later log sync through the env fails too (so the next sync=true write
// reports it): the loss cannot go unnoticed.
#pragma once

#include <leveldb/db.h>
#include <leveldb/env.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "raft/status.h"

namespace kvd::kv {

class SyncClosedLogsEnv final : public leveldb::EnvWrapper {
 public:
  explicit SyncClosedLogsEnv(leveldb::Env* target) : EnvWrapper(target) {}

  leveldb::Status NewWritableFile(const std::string& fname,
                                  leveldb::WritableFile** result) override;
  leveldb::Status NewAppendableFile(const std::string& fname,
                                    leveldb::WritableFile** result) override;

  // Set when syncing a closing log failed; from then on every log Sync() through this env fails.
  bool failed() const { return failed_.load(); }
  void SetFailed() { failed_.store(true); }

 private:
  std::atomic<bool> failed_{false};
};

// An open database and the env wrapper it uses. Destroy db before env (member order does it).
struct OpenDb {
  std::unique_ptr<leveldb::Env> env;
  std::unique_ptr<leveldb::DB> db;
};

// Opens (creating if needed) the database at 'path' through SyncClosedLogsEnv(env or default).
raft::Status OpenLevelDb(const std::string& path, leveldb::Env* env, OpenDb* out);

// LevelDB failures (I/O errors, corruption) as raft::Status. raft::Code has no I/O code, so they
// are kUnavailable with a message that starts with 'what' and says "leveldb".
raft::Status FromLevelDb(const leveldb::Status& s, std::string_view what);

}  // namespace kvd::kv
