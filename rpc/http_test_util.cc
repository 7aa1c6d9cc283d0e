#include "rpc/http_test_util.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>

namespace kvd::rpc::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// ---- FakeKvService ----

FakeKvService::FakeKvService() : worker_([this] { WorkerLoop(); }) {}

FakeKvService::~FakeKvService() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void FakeKvService::set_mode(Mode mode) {
  std::lock_guard lock(mu_);
  mode_ = mode;
}

void FakeKvService::FailWith(kv::ErrorCode code, std::string message, uint64_t current_version) {
  std::lock_guard lock(mu_);
  fail_code_ = code;
  fail_message_ = std::move(message);
  fail_current_version_ = current_version;
}

void FakeKvService::SetReady(bool ready) {
  std::lock_guard lock(mu_);
  ready_ = ready;
}

void FakeKvService::Seed(const std::string& key, const std::string& value) {
  std::lock_guard lock(mu_);
  kvpb::KeyRecord& r = data_[key];
  r.set_value(value);
  r.set_version(r.version() + 1);
  r.set_revision(++revision_);
}

void FakeKvService::SetDirectory(kv::DirectoryView directory) {
  std::lock_guard lock(mu_);
  directory_ = std::move(directory);
}

void FakeKvService::SetStatusDirectoryVersion(uint64_t version) {
  std::lock_guard lock(mu_);
  status_directory_version_ = version;
}

void FakeKvService::WaitForHeld(size_t n) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return held_.size() >= n; });
}

void FakeKvService::ReleaseHeld() {
  std::vector<std::function<void()>> held;
  {
    std::lock_guard lock(mu_);
    held.swap(held_);
  }
  for (auto& answer : held) answer();
}

kv::WriteRequest FakeKvService::last_write() const {
  std::lock_guard lock(mu_);
  return last_write_;
}

kv::ReadRequest FakeKvService::last_read() const {
  std::lock_guard lock(mu_);
  return last_read_;
}

kv::ScanRequest FakeKvService::last_scan() const {
  std::lock_guard lock(mu_);
  return last_scan_;
}

void FakeKvService::Write(kv::WriteRequest req, std::function<void(kv::WriteResponse)> done) {
  kv::WriteResponse resp;
  {
    std::lock_guard lock(mu_);
    last_write_ = req;
    resp.shard = 1;
    resp.directory_version = directory_.version;
    auto it = data_.find(req.key);
    const uint64_t current = it == data_.end() ? 0 : it->second.version();
    if (fail_code_ != kv::ErrorCode::kOk) {
      resp.code = fail_code_;
      resp.message = fail_message_;
      resp.current_version = fail_current_version_;
    } else if (req.if_version && *req.if_version != current) {
      resp.code = kv::ErrorCode::kVersionMismatch;
      resp.current_version = current;
    } else if (req.is_delete) {
      resp.deleted = it != data_.end();
      if (resp.deleted) data_.erase(it);
      resp.revision = ++revision_;
    } else {
      kvpb::KeyRecord& r = data_[req.key];
      r.set_value(req.value);
      r.set_version(current + 1);
      r.set_revision(++revision_);
      resp.version = r.version();
      resp.revision = r.revision();
    }
  }
  Deliver([done = std::move(done), resp = std::move(resp)] { done(resp); });
}

void FakeKvService::Read(kv::ReadRequest req, std::function<void(kv::ReadResponse)> done) {
  kv::ReadResponse resp;
  {
    std::lock_guard lock(mu_);
    last_read_ = req;
    resp.shard = 1;
    resp.directory_version = directory_.version;
    resp.applied_index = revision_;
    auto it = data_.find(req.key);
    if (fail_code_ != kv::ErrorCode::kOk) {
      resp.code = fail_code_;
      resp.message = fail_message_;
    } else if (it == data_.end()) {
      resp.code = kv::ErrorCode::kNotFound;
    } else {
      resp.record = it->second;
    }
  }
  Deliver([done = std::move(done), resp = std::move(resp)] { done(resp); });
}

void FakeKvService::Scan(kv::ScanRequest req, std::function<void(kv::ScanResponse)> done) {
  kv::ScanResponse resp;
  {
    std::lock_guard lock(mu_);
    last_scan_ = req;
    resp.directory_version = directory_.version;
    if (fail_code_ != kv::ErrorCode::kOk) {
      resp.code = fail_code_;
      resp.message = fail_message_;
    } else {
      for (auto it = data_.lower_bound(req.prefix); it != data_.end(); ++it) {
        if (!it->first.starts_with(req.prefix)) break;
        if (!req.after.empty() && it->first <= req.after) continue;
        if (resp.items.size() == req.limit) {
          resp.more = true;
          break;
        }
        resp.items.emplace_back(it->first, it->second);
      }
    }
  }
  Deliver([done = std::move(done), resp = std::move(resp)] { done(resp); });
}

kv::LockRequest FakeKvService::last_lock() const {
  std::lock_guard lock(mu_);
  return last_lock_;
}

kv::LockListRequest FakeKvService::last_lock_list() const {
  std::lock_guard lock(mu_);
  return last_lock_list_;
}

void FakeKvService::Lock(kv::LockRequest req, std::function<void(kv::LockResponse)> done) {
  kv::LockResponse resp;
  {
    std::lock_guard lock(mu_);
    last_lock_ = req;
    resp.shard = 1;
    resp.directory_version = directory_.version;
    auto it = locks_.find(req.name);
    if (fail_code_ != kv::ErrorCode::kOk) {
      resp.code = fail_code_;
      resp.message = fail_message_;
    } else if (req.op == kv::LockOp::kAcquire) {
      if (it != locks_.end() && it->second.holder) {
        resp.code = kv::ErrorCode::kLockHeld;
        resp.holder = it->second.holder;
      } else {
        kv::LockInfo& info = locks_[req.name];
        info.name = req.name;
        info.shard = 1;
        info.last_token = ++revision_;
        info.holder = kv::LockHolder{req.owner, info.last_token, req.ttl_ms, req.ttl_ms};
        resp.token = info.last_token;
        resp.ttl_ms = req.ttl_ms;
        resp.revision = revision_;
      }
    } else if (it == locks_.end()) {
      resp.code = kv::ErrorCode::kNotFound;
    } else if (!it->second.holder || it->second.holder->token != req.token) {
      resp.code = kv::ErrorCode::kFenced;
    } else {
      resp.token = req.token;
      resp.ttl_ms = it->second.holder->ttl_ms;
      resp.revision = ++revision_;
      if (req.op == kv::LockOp::kRelease) it->second.holder.reset();
    }
  }
  Deliver([done = std::move(done), resp = std::move(resp)] { done(resp); });
}

void FakeKvService::Locks(kv::LockListRequest req, std::function<void(kv::LockListResponse)> done) {
  kv::LockListResponse resp;
  {
    std::lock_guard lock(mu_);
    last_lock_list_ = req;
    resp.directory_version = directory_.version;
    if (fail_code_ != kv::ErrorCode::kOk) {
      resp.code = fail_code_;
      resp.message = fail_message_;
    } else if (!req.name.empty()) {
      auto it = locks_.find(req.name);
      if (it == locks_.end()) {
        resp.code = kv::ErrorCode::kNotFound;
      } else {
        resp.locks.push_back(it->second);
      }
    } else {
      for (auto it = locks_.upper_bound(req.after); it != locks_.end(); ++it) {
        if (!it->second.holder && it->second.waiters.empty()) continue;
        if (resp.locks.size() == req.limit) {
          resp.more = true;
          resp.next_after = resp.locks.back().name;
          break;
        }
        resp.locks.push_back(it->second);
      }
    }
  }
  Deliver([done = std::move(done), resp = std::move(resp)] { done(resp); });
}

kv::ClusterStatus FakeKvService::Status() const {
  kv::ClusterStatus s;
  s.node_id = 1;
  {
    std::lock_guard lock(mu_);
    s.directory_version = status_directory_version_;
  }
  s.nodes = {{1, "127.0.0.1:7001", "127.0.0.1:8001", true},
             {2, "127.0.0.2:7001", "127.0.0.2:8001", false}};
  s.shards = {{1, {1, 2, 3}, 1, 4, 10, 9, "leader"}};
  return s;
}

kv::DirectoryView FakeKvService::Directory() const {
  std::lock_guard lock(mu_);
  return directory_;
}

bool FakeKvService::IsReady() const {
  std::lock_guard lock(mu_);
  return ready_;
}

std::string FakeKvService::Metrics() const { return "# TYPE kvd_node_up gauge\nkvd_node_up 1\n"; }

void FakeKvService::Deliver(std::function<void()> answer) {
  std::unique_lock lock(mu_);
  switch (mode_) {
    case Mode::kInline:
      lock.unlock();
      answer();
      return;
    case Mode::kThread:
      queue_.push_back(std::move(answer));
      break;
    case Mode::kHold:
      held_.push_back(std::move(answer));
      break;
  }
  lock.unlock();
  cv_.notify_all();
}

void FakeKvService::WorkerLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::function<void()> answer = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    answer();
    lock.lock();
  }
}

// ---- TestConnection ----

namespace {
constexpr auto kClientTimeout = std::chrono::seconds(10);
}

std::string TestResponse::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

struct TestConnection::Impl {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;

  // Runs one asynchronous operation to completion on this thread, bounded by the timeout.
  template <class StartOp>
  beast::error_code Run(StartOp start) {
    beast::error_code result;
    stream.expires_after(kClientTimeout);
    start([&result](beast::error_code ec, size_t) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }
};

TestConnection::TestConnection(uint16_t port) : impl_(std::make_unique<Impl>()) {
  impl_->stream.connect(tcp::endpoint(net::ip::address_v4::loopback(), port));
}

TestConnection::~TestConnection() = default;

TestResponse TestConnection::Request(
    const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) req.insert(name, value);
  req.body() = body;
  req.prepare_payload();
  if (impl_->Run([&](auto handler) { http::async_write(impl_->stream, req, handler); })) return {};
  return ReadResponse(/*head=*/method == "HEAD");
}

void TestConnection::WriteRaw(std::string_view bytes) {
  impl_->Run([&](auto handler) {
    net::async_write(impl_->stream, net::buffer(bytes.data(), bytes.size()), handler);
  });
}

TestResponse TestConnection::ReadResponse(bool head) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  parser.skip(head);
  if (impl_->Run(
          [&](auto handler) { http::async_read(impl_->stream, impl_->buffer, parser, handler); })) {
    return {};
  }
  http::response<http::string_body> res = parser.release();
  TestResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.headers[name] = std::string(field.value());
  }
  out.body = std::move(res.body());
  return out;
}

bool TestConnection::WaitForClose() {
  for (;;) {
    impl_->buffer.consume(impl_->buffer.size());
    beast::error_code ec = impl_->Run([&](auto handler) {
      impl_->stream.async_read_some(impl_->buffer.prepare(64 << 10), handler);
    });
    if (ec == beast::error::timeout) return false;
    if (ec) return true;  // end of stream or reset
  }
}

std::string JsonAt(const std::string& body, std::string_view pointer) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec) return "<invalid json>";
  const boost::json::value* at = v.find_pointer(pointer, ec);
  if (at == nullptr) return "<missing>";
  if (at->is_string()) return std::string(at->get_string());
  return boost::json::serialize(*at);
}

}  // namespace kvd::rpc::testing
