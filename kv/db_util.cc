#include "kv/db_util.h"

#include <utility>

namespace kvd::kv {
namespace {

bool IsWriteAheadLog(const std::string& fname) {
  constexpr std::string_view kSuffix = ".log";
  return fname.size() > kSuffix.size() &&
         std::string_view(fname).substr(fname.size() - kSuffix.size()) == kSuffix;
}

// Syncs before closing; see db_util.h. Owns the wrapped file.
class SyncOnCloseFile final : public leveldb::WritableFile {
 public:
  SyncOnCloseFile(SyncClosedLogsEnv* env, leveldb::WritableFile* base) : env_(env), base_(base) {}
  ~SyncOnCloseFile() override {
    if (!closed_) (void)SyncBeforeClose();  // nowhere to report it; SetFailed() makes it sticky
  }

  leveldb::Status Append(const leveldb::Slice& data) override { return base_->Append(data); }
  leveldb::Status Flush() override { return base_->Flush(); }
  leveldb::Status Sync() override {
    if (env_->failed()) return leveldb::Status::IOError("an earlier log sync failed");
    return base_->Sync();
  }
  leveldb::Status Close() override {
    leveldb::Status s = SyncBeforeClose();
    leveldb::Status c = base_->Close();
    closed_ = true;
    return s.ok() ? c : s;
  }

 private:
  leveldb::Status SyncBeforeClose() {
    leveldb::Status s = Sync();
    if (!s.ok()) env_->SetFailed();
    return s;
  }

  SyncClosedLogsEnv* env_;
  std::unique_ptr<leveldb::WritableFile> base_;
  bool closed_ = false;
};

}  // namespace

leveldb::Status SyncClosedLogsEnv::NewWritableFile(const std::string& fname,
                                                   leveldb::WritableFile** result) {
  leveldb::Status s = target()->NewWritableFile(fname, result);
  if (s.ok() && IsWriteAheadLog(fname)) *result = new SyncOnCloseFile(this, *result);
  return s;
}

leveldb::Status SyncClosedLogsEnv::NewAppendableFile(const std::string& fname,
                                                     leveldb::WritableFile** result) {
  leveldb::Status s = target()->NewAppendableFile(fname, result);
  if (s.ok() && IsWriteAheadLog(fname)) *result = new SyncOnCloseFile(this, *result);
  return s;
}

raft::Status OpenLevelDb(const std::string& path, leveldb::Env* env, OpenDb* out) {
  auto wrapped = std::make_unique<SyncClosedLogsEnv>(env ? env : leveldb::Env::Default());
  leveldb::Options options;
  options.create_if_missing = true;
  options.env = wrapped.get();
  leveldb::DB* db = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, path, &db);
  if (!s.ok()) return FromLevelDb(s, "open " + path);
  out->env = std::move(wrapped);
  out->db.reset(db);
  return raft::Status::Ok();
}

raft::Status FromLevelDb(const leveldb::Status& s, std::string_view what) {
  if (s.ok()) return raft::Status::Ok();
  return raft::Status::Error(raft::Code::kUnavailable,
                             std::string(what) + ": leveldb: " + s.ToString());
}

}  // namespace kvd::kv
