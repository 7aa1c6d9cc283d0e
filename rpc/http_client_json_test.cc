// HttpClient's reading of JSON bodies: scan pages (with base64 values) and cluster status.
#include <gtest/gtest.h>

#include "rpc/client_fake_server.h"
#include "rpc/client_json.h"
#include "rpc/http_client.h"

namespace kvd::rpc {
namespace {

using testing::FakeHttpServer;
using testing::FakeReply;
using testing::FakeRequest;

ClientOptions Options(std::string endpoint) {
  ClientOptions o;
  o.endpoints = {std::move(endpoint)};
  o.max_attempts = 1;
  return o;
}

TEST(ClientJson, Base64DecodesWithAndWithoutPadding) {
  std::string out;
  ASSERT_TRUE(Base64Decode("AP9h", out));
  EXPECT_EQ(out, std::string("\x00\xff\x61", 3));
  ASSERT_TRUE(Base64Decode("aGk=", out));
  EXPECT_EQ(out, "hi");
  ASSERT_TRUE(Base64Decode("aGk", out));
  EXPECT_EQ(out, "hi");
  EXPECT_FALSE(Base64Decode("a*b", out));
}

TEST(HttpClientScan, EncodesQueryAndDecodesItems) {
  FakeHttpServer server([](const FakeRequest&) {
    return FakeReply::Json(200, R"({"items": [
        {"key": "p/a", "value": "1", "version": 2, "revision": 10},
        {"key": "p/b", "value_base64": "AP8=", "version": 1, "revision": 12}], "more": true})");
  });
  HttpClient client(Options(server.endpoint()));
  ScanResult r = client.Scan("p/", "p/ ", 2);
  ASSERT_TRUE(r.ok()) << r.transport_error;
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[0].key, "p/a");
  EXPECT_EQ(r.items[0].value, "1");
  EXPECT_EQ(r.items[0].version, 2u);
  EXPECT_EQ(r.items[1].value, std::string("\x00\xff", 2));
  EXPECT_TRUE(r.items[1].value_was_base64);
  EXPECT_EQ(r.items[1].revision, 12u);
  EXPECT_TRUE(r.more);
  EXPECT_EQ(server.requests()[0].target, "/v1/kv?prefix=p%2F&after=p%2F%20&limit=2");
}

TEST(HttpClientScan, MalformedPageIsProtocolError) {
  FakeHttpServer server([](const FakeRequest&) { return FakeReply::Json(200, R"({"x": 1})"); });
  HttpClient client(Options(server.endpoint()));
  ScanResult r = client.Scan("");
  EXPECT_EQ(r.transport, Transport::kProtocolError);
  EXPECT_EQ(server.requests()[0].target, "/v1/kv?prefix=");
}

TEST(HttpClientCluster, ParsesNodesAndShards) {
  const std::string body = R"({"node_id": 2, "directory_version": 7,
      "nodes": [{"id": 1, "peer_address": "127.0.0.1:7001", "http_address": "127.0.0.1:8001",
                 "up": true},
                {"id": 2, "addresses": {"peer": "127.0.0.2:7001", "http": "127.0.0.2:8001"},
                 "status": "down"}],
      "shards": [{"id": 1, "replicas": [1, 2, 3], "leader": 2, "term": 5, "commit_index": 40,
                  "applied_index": 39},
                 {"id": 2, "replicas": [{"id": 1}], "leader": {"id": 1}, "term": 1}]})";
  FakeHttpServer server([&](const FakeRequest&) { return FakeReply::Json(200, body); });
  HttpClient client(Options(server.endpoint()));
  ClusterStatusResult r = client.ClusterStatus();
  ASSERT_TRUE(r.ok()) << r.transport_error;
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.node_id, 2u);
  EXPECT_EQ(r.directory_version, 7u);
  ASSERT_EQ(r.nodes.size(), 2u);
  EXPECT_EQ(r.nodes[0].http_address, "127.0.0.1:8001");
  EXPECT_TRUE(r.nodes[0].up);
  EXPECT_EQ(r.nodes[1].peer_address, "127.0.0.2:7001");
  EXPECT_FALSE(r.nodes[1].up);
  ASSERT_EQ(r.shards.size(), 2u);
  EXPECT_EQ(r.shards[0].replicas, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(r.shards[0].leader, 2u);
  EXPECT_EQ(r.shards[0].commit_index, 40u);
  EXPECT_EQ(r.shards[0].applied_index, 39u);
  EXPECT_EQ(r.shards[1].leader, 1u);
  EXPECT_EQ(r.shards[1].replicas, (std::vector<uint64_t>{1}));
  EXPECT_EQ(server.requests()[0].target, "/v1/cluster");
}

TEST(HttpClientHealth, HealthAndReadyHitTheirPaths) {
  FakeHttpServer server([](const FakeRequest& req) {
    FakeReply r;
    r.status = req.target == "/healthz" ? 200 : 503;
    return r;
  });
  HttpClient client(Options(server.endpoint()));
  EXPECT_TRUE(client.Health().ok());
  EXPECT_EQ(client.Ready().status, 503);
}

}  // namespace
}  // namespace kvd::rpc
