// Test helpers for the HTTP front end: an in-memory KvService whose answers can come inline, from
// another thread, or be held until the test releases them; and a small synchronous HTTP client
// (Beast inside http_test_util.cc only, so the test files compile quickly).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "kv/service.h"

namespace kvd::rpc::testing {

// A single-shard map. Writes take effect when called; only the delivery of the answer depends on
// the mode. Every answer carries the version of the directory set by SetDirectory() (none at
// first: version 0, so Directory() says "not known yet"). Thread-safe.
class FakeKvService : public kv::KvService {
 public:
  enum class Mode {
    kInline,  // the callback runs inside Write/Read/Scan
    kThread,  // the callback runs on the fake's own worker thread
    kHold,    // the callback waits until ReleaseHeld() (or forever)
  };

  FakeKvService();
  ~FakeKvService() override;  // joins the worker; held callbacks are dropped unanswered

  void set_mode(Mode mode);
  // Every later operation fails with 'code' (kOk: back to normal).
  void FailWith(kv::ErrorCode code, std::string message = "", uint64_t current_version = 0);
  void SetReady(bool ready);
  void Seed(const std::string& key, const std::string& value);
  void SetDirectory(kv::DirectoryView directory);
  // The directory_version Status() reports (7 by default; 0 like a node that leaves it unset).
  void SetStatusDirectoryVersion(uint64_t version);

  // kHold: blocks until at least n answers are held, then delivers them all on this thread.
  void WaitForHeld(size_t n);
  void ReleaseHeld();

  kv::WriteRequest last_write() const;
  kv::ReadRequest last_read() const;
  kv::ScanRequest last_scan() const;
  kv::LockRequest last_lock() const;
  kv::LockListRequest last_lock_list() const;

  void Write(kv::WriteRequest req, std::function<void(kv::WriteResponse)> done) override;
  void Read(kv::ReadRequest req, std::function<void(kv::ReadResponse)> done) override;
  void Scan(kv::ScanRequest req, std::function<void(kv::ScanResponse)> done) override;
  // Locks in shard 1, without clocks: a lease never runs out, waiting is not modelled (a held lock
  // answers kLockHeld at once), tokens are revisions. expires_in_ms reports the TTL.
  void Lock(kv::LockRequest req, std::function<void(kv::LockResponse)> done) override;
  void Locks(kv::LockListRequest req, std::function<void(kv::LockListResponse)> done) override;
  kv::ClusterStatus Status() const override;
  kv::DirectoryView Directory() const override;
  bool IsReady() const override;
  std::string Metrics() const override;

 private:
  void Deliver(std::function<void()> answer);
  void WorkerLoop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Mode mode_ = Mode::kInline;                     // GUARDED_BY(mu_)
  kv::ErrorCode fail_code_ = kv::ErrorCode::kOk;  // GUARDED_BY(mu_)
  std::string fail_message_;                      // GUARDED_BY(mu_)
  uint64_t fail_current_version_ = 0;             // GUARDED_BY(mu_)
  bool ready_ = true;                             // GUARDED_BY(mu_)
  kv::DirectoryView directory_;                   // GUARDED_BY(mu_)
  uint64_t status_directory_version_ = 7;         // GUARDED_BY(mu_)
  std::map<std::string, kvpb::KeyRecord> data_;   // GUARDED_BY(mu_)
  uint64_t revision_ = 0;                         // GUARDED_BY(mu_)
  kv::WriteRequest last_write_;                   // GUARDED_BY(mu_)
  kv::ReadRequest last_read_;                     // GUARDED_BY(mu_)
  kv::ScanRequest last_scan_;                     // GUARDED_BY(mu_)
  kv::LockRequest last_lock_;                     // GUARDED_BY(mu_)
  kv::LockListRequest last_lock_list_;            // GUARDED_BY(mu_)
  std::map<std::string, kv::LockInfo> locks_;     // GUARDED_BY(mu_)
  std::vector<std::function<void()>> held_;       // GUARDED_BY(mu_)
  std::deque<std::function<void()>> queue_;       // GUARDED_BY(mu_)
  bool stopping_ = false;                         // GUARDED_BY(mu_)
  std::thread worker_;
};

struct TestResponse {
  int status = 0;                              // 0: no response (the connection ended or timed out)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string Header(const std::string& lower_name) const;  // "" if absent
};

// One client connection to 127.0.0.1:port. Every operation gives up after 10 s, so a broken
// server fails the test instead of hanging it.
class TestConnection {
 public:
  explicit TestConnection(uint16_t port);
  ~TestConnection();

  TestResponse Request(const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::vector<std::pair<std::string, std::string>>& headers = {});
  void WriteRaw(std::string_view bytes);
  // 'head': the response answers a HEAD request, so it has no body whatever its Content-Length.
  TestResponse ReadResponse(bool head = false);
  // Reads (and discards) until the server closes the connection. True if it did; false if the
  // connection was still open after the timeout.
  bool WaitForClose();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The value at a JSON pointer ("/error/code") of 'body': strings as their text, anything else
// serialised ("1", "true", "[...]"); "<missing>" or "<invalid json>" otherwise.
std::string JsonAt(const std::string& body, std::string_view pointer);

}  // namespace kvd::rpc::testing
