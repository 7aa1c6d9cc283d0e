// FaultEnv: a leveldb::Env for tests that simulates a machine crash by dropping every write that
// was not synced, in the spirit of LevelDB's own fault-injection tests.
//
// It tracks, for each file written through it, how many bytes were Sync()ed. A crash is:
//   1. SetCrashed(true): from now on nothing reaches the disk (appends, syncs, file creation,
//      renames and removals fail), so whatever the databases do while closing is lost;
//   2. destroy the databases (LevelDB flushes its buffers to the OS while closing; step 3 undoes
//      that);
//   3. DropUnsyncedData(): truncate every tracked file to its synced length (a file never synced
//      becomes empty), or to SetKeepUnsyncedBytes() more, to model a crash that got part of the
//      unsynced tail to disk;
//   4. SetCrashed(false) and reopen.
// Crash() does 1-4 around a callback that destroys the databases.
//
// Not modelled: directory entries. LevelDB 1.23's Env has no directory-sync call (its POSIX Env
// syncs the directory inside MANIFEST Sync()), so a created or renamed file is treated as durable
// once it exists. Files that existed before this env saw them are treated as fully synced.
//
// Also: SetFailSyncs() makes Sync() fail (nothing counted), and HoldBackgroundWork() keeps
// LevelDB's background compactions queued until released, so a crash can be placed
// deterministically before a memtable reaches disk.
//
// Thread-safety: safe to call from any thread (LevelDB syncs and compacts from its own thread).
#pragma once

#include <leveldb/env.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kvd::kv {

class FaultEnv final : public leveldb::EnvWrapper {
 public:
  FaultEnv() : EnvWrapper(leveldb::Env::Default()) {}

  leveldb::Status NewWritableFile(const std::string& fname,
                                  leveldb::WritableFile** result) override;
  leveldb::Status NewAppendableFile(const std::string& fname,
                                    leveldb::WritableFile** result) override;
  leveldb::Status RemoveFile(const std::string& fname) override;
  leveldb::Status RenameFile(const std::string& src, const std::string& target) override;
  void Schedule(void (*function)(void*), void* arg) override;

  void SetCrashed(bool crashed) { crashed_.store(crashed); }
  bool crashed() const { return crashed_.load(); }
  leveldb::Status DropUnsyncedData();
  // SetCrashed(true), release held background work, close_dbs(), DropUnsyncedData(),
  // SetCrashed(false).
  leveldb::Status Crash(const std::function<void()>& close_dbs);

  void SetKeepUnsyncedBytes(uint64_t bytes) { keep_unsynced_bytes_.store(bytes); }
  void SetFailSyncs(bool fail) { fail_syncs_.store(fail); }
  bool fail_syncs() const { return fail_syncs_.load(); }
  void HoldBackgroundWork(bool hold);  // false: runs what was held
  // Runs the held background work on the calling thread, and any it schedules in turn (at most
  // 'limit' items): with work held for good, a single-threaded simulation decides exactly when
  // LevelDB compacts. Call only while no call into the databases is in progress.
  void RunHeldWork(int limit = 64);

  uint64_t syncs() const { return syncs_.load(); }  // successful Sync() calls so far
  void MarkSynced(const std::string& fname, uint64_t bytes);

 private:
  std::atomic<bool> crashed_{false};
  std::atomic<bool> fail_syncs_{false};
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> keep_unsynced_bytes_{0};
  std::mutex mu_;
  std::map<std::string, uint64_t> synced_bytes_;         // GUARDED_BY(mu_); tracked files only
  bool hold_background_ = false;                         // GUARDED_BY(mu_)
  std::vector<std::pair<void (*)(void*), void*>> held_;  // GUARDED_BY(mu_)
};

}  // namespace kvd::kv
