#include "kv/fault_env.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace kvd::kv {
namespace {

leveldb::Status Down(const std::string& what) {
  return leveldb::Status::IOError(what, "simulated crash: the machine is down");
}

// Counts appended bytes and reports each successful Sync() to the env.
class TrackedFile final : public leveldb::WritableFile {
 public:
  TrackedFile(FaultEnv* env, std::string fname, leveldb::WritableFile* base, uint64_t size)
      : env_(env), fname_(std::move(fname)), base_(base), size_(size) {}

  leveldb::Status Append(const leveldb::Slice& data) override {
    if (env_->crashed()) return Down(fname_);
    leveldb::Status s = base_->Append(data);
    if (s.ok()) size_ += data.size();
    return s;
  }
  leveldb::Status Flush() override {
    if (env_->crashed()) return Down(fname_);
    return base_->Flush();
  }
  leveldb::Status Sync() override {
    if (env_->crashed()) return Down(fname_);
    if (env_->fail_syncs()) return leveldb::Status::IOError(fname_, "injected sync failure");
    leveldb::Status s = base_->Sync();
    if (s.ok()) env_->MarkSynced(fname_, size_);
    return s;
  }
  // Closing hands the buffer to the OS, which is not durability: DropUnsyncedData() undoes it.
  leveldb::Status Close() override { return base_->Close(); }

 private:
  FaultEnv* env_;
  std::string fname_;
  std::unique_ptr<leveldb::WritableFile> base_;
  uint64_t size_;
};

}  // namespace

leveldb::Status FaultEnv::NewWritableFile(const std::string& fname,
                                          leveldb::WritableFile** result) {
  if (crashed()) return Down(fname);
  leveldb::WritableFile* base = nullptr;
  leveldb::Status s = target()->NewWritableFile(fname, &base);
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    synced_bytes_[fname] = 0;  // created (or truncated) and nothing synced yet
  }
  *result = new TrackedFile(this, fname, base, 0);
  return s;
}

leveldb::Status FaultEnv::NewAppendableFile(const std::string& fname,
                                            leveldb::WritableFile** result) {
  if (crashed()) return Down(fname);
  uint64_t size = 0;
  if (!target()->GetFileSize(fname, &size).ok()) size = 0;
  leveldb::WritableFile* base = nullptr;
  leveldb::Status s = target()->NewAppendableFile(fname, &base);
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    synced_bytes_.try_emplace(fname, size);  // untracked content counts as durable
  }
  *result = new TrackedFile(this, fname, base, size);
  return s;
}

leveldb::Status FaultEnv::RemoveFile(const std::string& fname) {
  if (crashed()) return Down(fname);
  leveldb::Status s = target()->RemoveFile(fname);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    synced_bytes_.erase(fname);
  }
  return s;
}

leveldb::Status FaultEnv::RenameFile(const std::string& src, const std::string& target_name) {
  if (crashed()) return Down(src);
  leveldb::Status s = target()->RenameFile(src, target_name);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = synced_bytes_.find(src);
    if (it != synced_bytes_.end()) {
      synced_bytes_[target_name] = it->second;
      synced_bytes_.erase(src);
    } else {
      synced_bytes_.erase(target_name);
    }
  }
  return s;
}

void FaultEnv::MarkSynced(const std::string& fname, uint64_t bytes) {
  syncs_.fetch_add(1);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = synced_bytes_.find(fname);
  if (it != synced_bytes_.end()) it->second = bytes;
}

void FaultEnv::Schedule(void (*function)(void*), void* arg) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (hold_background_) {
      held_.emplace_back(function, arg);
      return;
    }
  }
  target()->Schedule(function, arg);
}

void FaultEnv::HoldBackgroundWork(bool hold) {
  std::vector<std::pair<void (*)(void*), void*>> release;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hold_background_ = hold;
    if (!hold) release.swap(held_);
  }
  for (const auto& [function, arg] : release) target()->Schedule(function, arg);
}

void FaultEnv::RunHeldWork(int limit) {
  for (int i = 0; i < limit; ++i) {
    std::pair<void (*)(void*), void*> work;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (held_.empty()) return;
      work = held_.front();
      held_.erase(held_.begin());
    }
    work.first(work.second);
  }
}

leveldb::Status FaultEnv::DropUnsyncedData() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [fname, synced] : synced_bytes_) {
    uint64_t size = 0;
    if (!target()->GetFileSize(fname, &size).ok()) continue;  // gone
    const uint64_t keep = std::min(size, synced + keep_unsynced_bytes_.load());
    if (::truncate(fname.c_str(), static_cast<off_t>(keep)) != 0) {
      return leveldb::Status::IOError(fname, std::strerror(errno));
    }
  }
  synced_bytes_.clear();  // what is left is what a restarted machine finds: durable as is
  return leveldb::Status::OK();
}

leveldb::Status FaultEnv::Crash(const std::function<void()>& close_dbs) {
  SetCrashed(true);
  HoldBackgroundWork(false);  // a held compaction must run (and fail) or closing would wait
  close_dbs();
  leveldb::Status s = DropUnsyncedData();
  SetCrashed(false);
  return s;
}

}  // namespace kvd::kv
