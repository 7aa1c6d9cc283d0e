// Smart routing (http_client.h, "Smart routing") against scripted fake servers: where the first
// attempt goes, what version the client sends, when it refreshes the directory, and that the
// retry policy is untouched.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "kv/ring.h"
#include "rpc/client_fake_server.h"
#include "rpc/http_client.h"

namespace kvd::rpc {
namespace {

using testing::FakeHttpServer;
using testing::FakeReply;
using testing::FakeRequest;
using testing::RefusingEndpoint;

constexpr int kVnodes = 8;

// A directory of two shards (1 and 2) whose leaders are nodes 1 and 2, at the given addresses;
// node 3 (address3) is a follower of both.
std::string DirectoryJson(uint64_t version, const std::string& address1,
                          const std::string& address2, const std::string& address3 = "") {
  return R"({"version": )" + std::to_string(version) + R"(, "vnodes_per_shard": )" +
         std::to_string(kVnodes) + R"(, "replication": 3, "hash": "xxh3-64",
      "meta": {"shard": 0, "voters": [1, 2, 3]},
      "nodes": [{"id": 1, "http_address": ")" +
         address1 + R"(", "peer_address": "p1", "up": true},
                {"id": 2, "http_address": ")" +
         address2 + R"(", "peer_address": "p2", "up": true},
                {"id": 3, "http_address": ")" +
         address3 + R"(", "peer_address": "p3", "up": true}],
      "shards": [{"id": 1, "replicas": [1, 2, 3], "leader": 1, "leader_term": 3, "keys": 5,
                  "hash_share": 0.5},
                 {"id": 2, "replicas": [2, 1, 3], "leader": 2, "leader_term": 3, "keys": 7,
                  "hash_share": 0.5}]})";
}

// The first key "k<i>" that the ring of shards {1, 2} puts in `shard`.
std::string KeyInShard(uint64_t shard) {
  std::optional<kv::Ring> ring = kv::Ring::Build({1, 2}, kVnodes, nullptr);
  for (int i = 0;; ++i) {
    std::string key = "k" + std::to_string(i);
    if (ring->ShardFor(key) == shard) return key;
  }
}

FakeReply Written(uint64_t directory_version) {
  FakeReply r = FakeReply::Json(200, R"({"version": 1, "revision": 2})");
  r.headers.push_back({"X-Kv-Directory-Version", std::to_string(directory_version)});
  return r;
}

std::vector<std::string> Targets(const FakeHttpServer& server) {
  std::vector<std::string> out;
  for (const FakeRequest& r : server.requests()) out.push_back(r.method + " " + r.target);
  return out;
}

ClientOptions Options(std::vector<std::string> endpoints) {
  ClientOptions o;
  o.endpoints = std::move(endpoints);
  o.retry_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(2);
  o.smart_routing = true;
  return o;
}

// Node 1 and node 2 each lead one shard; the entry endpoint (node 3) serves the directory.
class SmartRoutingTest : public ::testing::Test {
 protected:
  std::atomic<uint64_t> entry_version_{1};   // of the directory the entry node serves
  std::atomic<uint64_t> leader_version_{1};  // the leaders answer under this version
  FakeHttpServer leader1_{[this](const FakeRequest&) { return Written(leader_version_); }};
  FakeHttpServer leader2_{[this](const FakeRequest&) { return Written(leader_version_); }};
  FakeHttpServer entry_{[this](const FakeRequest& req) {
    if (req.target == "/v1/directory") {
      return FakeReply::Json(200, DirectoryJson(entry_version_, leader1_.endpoint(),
                                                leader2_.endpoint(), "127.0.0.1:1"));
    }
    return Written(entry_version_);
  }};
};

TEST_F(SmartRoutingTest, KeyRequestsGoToTheLeaderOfTheKeysShard) {
  HttpClient client(Options({entry_.endpoint()}));
  const std::string in1 = KeyInShard(1), in2 = KeyInShard(2);
  Result put1 = client.Put(in1, "v");
  ASSERT_TRUE(put1.ok()) << put1.transport_error;
  EXPECT_EQ(put1.endpoint, leader1_.endpoint());
  EXPECT_EQ(client.cached_directory_version(), 1u);
  Result get2 = client.Get(in2);
  EXPECT_EQ(get2.endpoint, leader2_.endpoint());
  Result del2 = client.Delete(in2);
  EXPECT_EQ(del2.endpoint, leader2_.endpoint());
  EXPECT_EQ(del2.directory_version, 1u);

  EXPECT_EQ(Targets(entry_), std::vector<std::string>{"GET /v1/directory"});  // fetched once
  ASSERT_EQ(leader1_.requests().size(), 1u);
  EXPECT_EQ(leader1_.requests()[0].target, KeyPath(in1));
  EXPECT_EQ(leader1_.requests()[0].HeaderValue("X-Kv-Directory-Version"), "1");
  EXPECT_EQ(Targets(leader2_),
            (std::vector<std::string>{"GET " + KeyPath(in2), "DELETE " + KeyPath(in2)}));

  // Scans are not routed: they go to the configured endpoint, without the header.
  EXPECT_EQ(client.Scan("k").endpoint, entry_.endpoint());
  EXPECT_EQ(entry_.requests().back().HeaderValue("X-Kv-Directory-Version"), "");
}

// A lock lives in the ring shard of its name: lock operations are routed like key requests; the
// listing, like a scan, is not.
TEST_F(SmartRoutingTest, LockRequestsGoToTheLeaderOfTheNamesShard) {
  HttpClient client(Options({entry_.endpoint()}));
  const std::string in1 = KeyInShard(1), in2 = KeyInShard(2);
  LockResult released = client.LockRelease(in2, 5);
  ASSERT_TRUE(released.ok()) << released.transport_error;
  EXPECT_EQ(released.endpoint, leader2_.endpoint());
  EXPECT_EQ(client.LockRelease(in1, 5).endpoint, leader1_.endpoint());
  EXPECT_EQ(client.LockKeepalive(in1, 5).endpoint, leader1_.endpoint());
  EXPECT_EQ(client.LockGet(in2).endpoint, leader2_.endpoint());
  EXPECT_EQ(Targets(leader2_), (std::vector<std::string>{"DELETE " + LockPath(in2) + "?token=5",
                                                         "GET " + LockPath(in2)}));
  EXPECT_EQ(leader2_.requests()[0].HeaderValue("X-Kv-Directory-Version"), "1");
  EXPECT_EQ(client.LockList().endpoint, entry_.endpoint());
  EXPECT_EQ(entry_.requests().back().HeaderValue("X-Kv-Directory-Version"), "");
}

TEST_F(SmartRoutingTest, ANewerVersionInAnAnswerTriggersARefreshBeforeTheNextKeyRequest) {
  HttpClient client(Options({entry_.endpoint()}));
  const std::string key = KeyInShard(2);
  ASSERT_TRUE(client.Put(key, "v").ok());
  EXPECT_EQ(client.cached_directory_version(), 1u);

  entry_version_ = 2;  // the entry node has moved on; leader 2 still answers under version 1
  ASSERT_TRUE(client.Get(key).ok());
  EXPECT_EQ(Targets(entry_).size(), 1u);  // nothing newer seen yet: no refresh

  Result moved = client.Scan("");  // the entry node answers with version 2 ...
  EXPECT_EQ(moved.directory_version, 2u);
  EXPECT_EQ(client.cached_directory_version(), 1u);  // ... refreshed only before a key request
  Result after = client.Get(key);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after.endpoint, leader2_.endpoint());
  EXPECT_EQ(client.cached_directory_version(), 2u);
  EXPECT_EQ(Targets(entry_), (std::vector<std::string>{"GET /v1/directory",
                                                       "GET /v1/kv?prefix=", "GET /v1/directory"}));
  EXPECT_EQ(leader2_.requests().back().HeaderValue("X-Kv-Directory-Version"), "2");
}

TEST_F(SmartRoutingTest, TheCachedVersionIsSentEvenWhenStaleAndTheAnswerCorrectsIt) {
  HttpClient client(Options({entry_.endpoint()}));
  const std::string key = KeyInShard(1);
  ASSERT_TRUE(client.Put(key, "a").ok());
  entry_version_ = 2;
  leader_version_ = 2;  // leader 1 serves the request under its newer directory
  Result served = client.Put(key, "b");
  ASSERT_TRUE(served.ok());
  EXPECT_EQ(served.directory_version, 2u);
  EXPECT_EQ(leader1_.requests()[1].HeaderValue("X-Kv-Directory-Version"), "1");  // stale, as is
  EXPECT_EQ(client.cached_directory_version(), 1u);
  ASSERT_TRUE(client.Put(key, "c").ok());  // refreshed first
  EXPECT_EQ(client.cached_directory_version(), 2u);
  EXPECT_EQ(leader1_.requests()[2].HeaderValue("X-Kv-Directory-Version"), "2");
  EXPECT_EQ(Targets(entry_), (std::vector<std::string>{"GET /v1/directory", "GET /v1/directory"}));

  // An answer under an older directory than the cached one changes nothing.
  leader_version_ = 1;
  ASSERT_TRUE(client.Put(key, "d").ok());
  ASSERT_TRUE(client.Put(key, "e").ok());
  EXPECT_EQ(Targets(entry_).size(), 2u);
  EXPECT_EQ(leader1_.requests()[4].HeaderValue("X-Kv-Directory-Version"), "2");
}

TEST_F(SmartRoutingTest, ADeadLeaderFallsBackToTheOtherReplicasThenTheEndpoints) {
  const std::string dead = RefusingEndpoint();
  std::atomic<int> directory_fetches{0};
  FakeHttpServer entry([&](const FakeRequest& req) {
    if (req.target == "/v1/directory") {
      ++directory_fetches;
      // Shard 1: leader 1 dead, follower 2 alive. Shard 2: every replica dead.
      return FakeReply::Json(200, DirectoryJson(1, dead, leader2_.endpoint(), dead));
    }
    return Written(1);
  });
  HttpClient client(Options({entry.endpoint()}));
  Result r1 = client.Put(KeyInShard(1), "v");
  ASSERT_TRUE(r1.ok()) << r1.transport_error;
  EXPECT_EQ(r1.endpoint, leader2_.endpoint());  // the next replica of shard 1
  EXPECT_EQ(r1.attempts, 1);
  EXPECT_EQ(directory_fetches, 1);

  // The dead leader is evidence too: refresh before the next key request. The new copy still
  // names dead nodes, so shard 2's request ends at the configured endpoint.
  FakeHttpServer dead_shard2([&](const FakeRequest& req) {
    if (req.target == "/v1/directory") {
      ++directory_fetches;
      return FakeReply::Json(200, DirectoryJson(1, dead, dead, dead));
    }
    return Written(1);
  });
  HttpClient second(Options({dead_shard2.endpoint()}));
  Result r2 = second.Put(KeyInShard(2), "v");
  ASSERT_TRUE(r2.ok()) << r2.transport_error;
  EXPECT_EQ(r2.endpoint, dead_shard2.endpoint());
  EXPECT_EQ(r2.attempts, 1);
  ASSERT_TRUE(second.Put(KeyInShard(2), "v").ok());
  EXPECT_EQ(Targets(dead_shard2),
            (std::vector<std::string>{"GET /v1/directory", "PUT " + KeyPath(KeyInShard(2)),
                                      "GET /v1/directory", "PUT " + KeyPath(KeyInShard(2))}));
}

TEST_F(SmartRoutingTest, RoutingNeverAddsRetriesTheRetryPolicyWouldNotMake) {
  FakeHttpServer hanging_leader([](const FakeRequest&) { return FakeReply::CloseNoReply(); });
  FakeHttpServer entry([&](const FakeRequest& req) {
    if (req.target == "/v1/directory") {
      return FakeReply::Json(
          200, DirectoryJson(1, hanging_leader.endpoint(), hanging_leader.endpoint()));
    }
    return Written(1);
  });
  HttpClient client(Options({entry.endpoint()}));
  // A write without an Idempotency-Key that may have reached the leader is never repeated.
  Result lost = client.Put("k", "v");
  EXPECT_EQ(lost.transport, Transport::kTimeout);
  EXPECT_TRUE(lost.indeterminate);
  EXPECT_EQ(lost.attempts, 1);
  EXPECT_EQ(hanging_leader.requests().size(), 1u);
  EXPECT_EQ(Targets(entry), std::vector<std::string>{"GET /v1/directory"});

  // A 503 from the leader is retried as ever, on the configured endpoints.
  FakeHttpServer unavailable_leader(
      [](const FakeRequest&) { return FakeReply::Error(503, "unavailable", "no leader"); });
  FakeHttpServer entry2([&](const FakeRequest& req) {
    if (req.target == "/v1/directory") {
      return FakeReply::Json(
          200, DirectoryJson(1, unavailable_leader.endpoint(), unavailable_leader.endpoint()));
    }
    return Written(1);
  });
  HttpClient client2(Options({entry2.endpoint()}));
  Result retried = client2.Put("k", "v");
  ASSERT_TRUE(retried.ok());
  EXPECT_EQ(retried.attempts, 2);
  EXPECT_EQ(retried.endpoint, entry2.endpoint());
  EXPECT_EQ(unavailable_leader.requests().size(), 1u);
}

TEST(SmartRoutingOff, NoDirectoryRequestsAndNoHeader) {
  FakeHttpServer server([](const FakeRequest&) { return Written(5); });
  ClientOptions o = Options({server.endpoint()});
  o.smart_routing = false;
  HttpClient client(o);
  Result put = client.Put("k", "v");
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(put.directory_version, 5u);  // still reported
  ASSERT_TRUE(client.Get("k").ok());
  EXPECT_EQ(Targets(server), (std::vector<std::string>{"PUT /v1/kv/k", "GET /v1/kv/k"}));
  EXPECT_EQ(server.requests()[0].HeaderValue("X-Kv-Directory-Version"), "");
  EXPECT_EQ(client.cached_directory_version(), 0u);
}

TEST(SmartRoutingUnknownDirectory, ServedByTheEndpointsAndNotRefetchedWithoutNewEvidence) {
  FakeHttpServer server([](const FakeRequest& req) {
    if (req.target == "/v1/directory") {
      return FakeReply::Error(503, "unavailable", "this node does not know the directory yet");
    }
    return FakeReply::Json(200, R"({"version": 1, "revision": 2})");
  });
  HttpClient client(Options({server.endpoint()}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.Put("k", "v").ok());
  // One refresh (one attempt: a 503 there is not retried), then plain requests without a header.
  EXPECT_EQ(Targets(server), (std::vector<std::string>{"GET /v1/directory", "PUT /v1/kv/k",
                                                       "PUT /v1/kv/k", "PUT /v1/kv/k"}));
  EXPECT_EQ(server.requests()[1].HeaderValue("X-Kv-Directory-Version"), "");
  EXPECT_EQ(client.cached_directory_version(), 0u);

  DirectoryResult d = client.Directory();  // the public call follows the retry policy
  EXPECT_EQ(d.status, 503);
  EXPECT_EQ(d.error_code, "unavailable");
  EXPECT_EQ(d.attempts, 3);
}

TEST(SmartRoutingDirectory, MalformedOrUnroutableDirectoriesAreNotUsed) {
  std::atomic<int> which{0};
  FakeHttpServer server([&](const FakeRequest& req) {
    if (req.target != "/v1/directory") return FakeReply::Json(200, R"({"revision": 2})");
    switch (which.load()) {
      case 0:
        return FakeReply::Json(200, R"({"shards": []})");  // no version
      case 1:
        return FakeReply::Json(200, R"({"version": 3, "vnodes_per_shard": 8, "hash": "md5",
                                        "shards": [{"id": 1}]})");
      default:
        return FakeReply::Json(200, R"({"version": 3, "vnodes_per_shard": 0,
                                        "shards": [{"id": 1}]})");
    }
  });
  HttpClient client(Options({server.endpoint()}));
  DirectoryResult bad = client.Directory();
  EXPECT_EQ(bad.transport, Transport::kProtocolError);
  EXPECT_EQ(bad.transport_error, server.endpoint() + ": malformed directory");
  for (int i = 1; i <= 2; ++i) {
    which = i;
    DirectoryResult parsed = client.Directory();
    EXPECT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.version, 3u);
    EXPECT_EQ(client.cached_directory_version(), 0u);  // parsed, but not routable
  }
}

}  // namespace
}  // namespace kvd::rpc
