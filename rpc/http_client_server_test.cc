// HttpClient against the real HttpServer (rpc/http_server.h) over an in-memory KvService: checks
// that both sides agree on the wire (percent-encoding, headers, JSON bodies, error codes).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>

#include "kv/service.h"
#include "rpc/http_client.h"
#include "rpc/http_server.h"

namespace kvd::rpc {
namespace {

// A single-shard map answering synchronously. `fail_writes` forces an error code on writes. Every
// answer carries the version of the directory set by SetDirectory() (none at first).
class MemoryService : public kv::KvService {
 public:
  std::atomic<kv::ErrorCode> fail_writes{kv::ErrorCode::kOk};

  void SetDirectory(kv::DirectoryView directory) {
    std::lock_guard lock(mu_);
    directory_ = std::move(directory);
  }
  uint64_t last_routed_by() const {  // directory_version of the last write or read
    std::lock_guard lock(mu_);
    return last_routed_by_;
  }

  void Write(kv::WriteRequest req, std::function<void(kv::WriteResponse)> done) override {
    kv::WriteResponse resp;
    resp.shard = 1;
    {
      std::lock_guard lock(mu_);
      resp.directory_version = directory_.version;
      last_routed_by_ = req.directory_version;
    }
    if (fail_writes != kv::ErrorCode::kOk) {
      resp.code = fail_writes;
      resp.message = "forced";
      return done(resp);
    }
    std::lock_guard lock(mu_);
    auto it = data_.find(req.key);
    uint64_t current = it == data_.end() ? 0 : it->second.version();
    if (req.if_version && *req.if_version != current) {
      resp.code = kv::ErrorCode::kVersionMismatch;
      resp.current_version = current;
      return done(resp);
    }
    resp.revision = ++revision_;
    if (req.is_delete) {
      resp.deleted = it != data_.end();
      if (resp.deleted) data_.erase(it);
      return done(resp);
    }
    kvpb::KeyRecord& record = data_[req.key];
    record.set_value(req.value);
    record.set_version(current + 1);
    record.set_revision(revision_);
    resp.version = current + 1;
    done(resp);
  }

  void Read(kv::ReadRequest req, std::function<void(kv::ReadResponse)> done) override {
    kv::ReadResponse resp;
    resp.shard = 1;
    std::lock_guard lock(mu_);
    resp.directory_version = directory_.version;
    last_routed_by_ = req.directory_version;
    if (auto it = data_.find(req.key); it != data_.end()) resp.record = it->second;
    resp.applied_index = revision_;
    done(resp);
  }

  void Scan(kv::ScanRequest req, std::function<void(kv::ScanResponse)> done) override {
    kv::ScanResponse resp;
    std::lock_guard lock(mu_);
    for (auto it = data_.upper_bound(req.after); it != data_.end(); ++it) {
      if (it->first.rfind(req.prefix, 0) != 0) continue;
      if (resp.items.size() == req.limit) {
        resp.more = true;
        break;
      }
      resp.items.emplace_back(it->first, it->second);
    }
    done(resp);
  }

  kv::ClusterStatus Status() const override {
    kv::ClusterStatus s;
    s.node_id = 1;
    s.directory_version = 2;
    s.nodes.push_back({1, "127.0.0.1:7001", "127.0.0.1:8001", true});
    s.shards.push_back({1, {1}, 1, 4, 9, 9, "leader"});
    return s;
  }
  kv::DirectoryView Directory() const override {
    std::lock_guard lock(mu_);
    return directory_;
  }
  bool IsReady() const override { return true; }
  std::string Metrics() const override { return ""; }

 private:
  mutable std::mutex mu_;
  kv::DirectoryView directory_;                  // guarded by mu_
  uint64_t last_routed_by_ = 0;                  // guarded by mu_
  std::map<std::string, kvpb::KeyRecord> data_;  // guarded by mu_
  uint64_t revision_ = 0;                        // guarded by mu_
};

class ClientServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<HttpServer>(service_, HttpOptions{});
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    ClientOptions o;
    o.endpoints = {"127.0.0.1:" + std::to_string(server_->port())};
    o.retry_backoff = std::chrono::milliseconds(1);
    o.max_backoff = std::chrono::milliseconds(2);
    client_ = std::make_unique<HttpClient>(o);
  }

  MemoryService service_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(ClientServerTest, OddKeysRoundTrip) {
  for (const std::string& key : std::vector<std::string>{
           "plain", "a b/c", "ключ", "100%+?#&=", std::string("nul\0byte", 8)}) {
    Result put = client_->Put(key, "v:" + key);
    ASSERT_TRUE(put.ok()) << put.status << " " << put.error_message;
    EXPECT_EQ(put.version, 1u);
    EXPECT_EQ(put.shard, 1u);
    Result get = client_->Get(key);
    ASSERT_TRUE(get.ok()) << get.status << " " << get.error_message;
    EXPECT_EQ(get.body, "v:" + key);
    EXPECT_EQ(get.version, 1u);
    EXPECT_EQ(get.revision, put.revision);
  }
  ScanResult scan = client_->Scan("");
  ASSERT_TRUE(scan.ok()) << scan.transport_error;
  ASSERT_EQ(scan.items.size(), 5u);
  EXPECT_EQ(scan.items[0].key, "100%+?#&=");
  EXPECT_EQ(scan.items[3].key, std::string("plain"));
}

TEST_F(ClientServerTest, CasDeleteAndErrors) {
  ASSERT_TRUE(client_->Put("k", "1").ok());
  Result mismatch = client_->Cas("k", 7, "2");
  EXPECT_EQ(mismatch.status, 412);
  EXPECT_EQ(mismatch.error_code, "version_mismatch");
  EXPECT_EQ(mismatch.current_version, 1u);
  EXPECT_TRUE(client_->Cas("k", 1, "2").ok());
  Result del = client_->Delete("k");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del.deleted, true);
  EXPECT_EQ(client_->Delete("k").deleted, false);
  Result missing = client_->Get("k");
  EXPECT_TRUE(missing.not_found());
  EXPECT_EQ(missing.error_code, "not_found");
}

TEST_F(ClientServerTest, ScanPagesAndBinaryValues) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client_->Put("p/" + std::to_string(i), "\xff").ok());
  ScanResult page = client_->Scan("p/", "p/1", 2);
  ASSERT_TRUE(page.ok()) << page.transport_error;
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].key, "p/2");
  EXPECT_EQ(page.items[0].value, "\xff");
  EXPECT_TRUE(page.items[0].value_was_base64);
  EXPECT_TRUE(page.more);
}

TEST_F(ClientServerTest, UnavailableAndTimeoutCodes) {
  service_.fail_writes = kv::ErrorCode::kUnavailable;
  Result unavailable = client_->Put("k", "v");
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(unavailable.attempts, 3);
  EXPECT_FALSE(unavailable.indeterminate);
  service_.fail_writes = kv::ErrorCode::kTimeout;
  Result unknown = client_->Put("k", "v");
  EXPECT_EQ(unknown.status, 504);
  EXPECT_TRUE(unknown.indeterminate);
  EXPECT_EQ(unknown.attempts, 1);
}

TEST_F(ClientServerTest, ClusterStatusAndHealth) {
  ClusterStatusResult status = client_->ClusterStatus();
  ASSERT_TRUE(status.ok()) << status.transport_error;
  EXPECT_EQ(status.node_id, 1u);
  EXPECT_EQ(status.directory_version, 2u);
  ASSERT_EQ(status.shards.size(), 1u);
  EXPECT_EQ(status.shards[0].leader, 1u);
  EXPECT_EQ(status.shards[0].role, "leader");
  ASSERT_EQ(status.nodes.size(), 1u);
  EXPECT_EQ(status.nodes[0].http_address, "127.0.0.1:8001");
  EXPECT_TRUE(client_->Health().ok());
  EXPECT_TRUE(client_->Ready().ok());
}

// Smart routing against the real server: the directory names this server as the only node, so
// requests are routed to it with the cached version, and the server's answers carry its version.
TEST_F(ClientServerTest, SmartRoutingAgreesWithTheServerOnTheWire) {
  ClientOptions o = client_->options();
  o.smart_routing = true;
  HttpClient routed(o);
  Result before = routed.Put("k", "v");  // no directory yet: 503 on /v1/directory, then as usual
  ASSERT_TRUE(before.ok()) << before.status << " " << before.transport_error;
  EXPECT_EQ(routed.cached_directory_version(), 0u);
  EXPECT_EQ(service_.last_routed_by(), 0u);
  EXPECT_FALSE(before.directory_version.has_value());

  kv::DirectoryView d;
  d.version = 4;
  d.vnodes_per_shard = 8;
  d.replication = 1;
  d.meta_voters = {1};
  d.nodes = {{1, "127.0.0.1:7001", o.endpoints[0], true}};
  d.shards = {{1, {1}, 1, 2, 10, 0.5}, {2, {1}, 1, 2, 10, 0.5}};
  service_.SetDirectory(d);
  DirectoryResult dir = routed.Directory();
  ASSERT_TRUE(dir.ok()) << dir.status << " " << dir.transport_error;
  EXPECT_EQ(dir.version, 4u);
  EXPECT_EQ(dir.hash, "xxh3-64");
  ASSERT_EQ(dir.shards.size(), 2u);
  EXPECT_EQ(dir.shards[1].id, 2u);
  EXPECT_EQ(dir.shards[1].hash_share, 0.5);
  ASSERT_EQ(dir.nodes.size(), 1u);
  EXPECT_EQ(dir.nodes[0].http_address, o.endpoints[0]);
  EXPECT_EQ(routed.cached_directory_version(), 4u);

  Result put = routed.Put("k", "v2");
  ASSERT_TRUE(put.ok()) << put.status << " " << put.error_message;
  EXPECT_EQ(service_.last_routed_by(), 4u);
  EXPECT_EQ(put.directory_version, 4u);
  Result get = routed.Get("k");
  EXPECT_EQ(get.body, "v2");
  EXPECT_EQ(get.directory_version, 4u);
  EXPECT_EQ(service_.last_routed_by(), 4u);
}

}  // namespace
}  // namespace kvd::rpc
