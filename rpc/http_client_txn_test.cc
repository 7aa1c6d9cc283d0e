// HttpClient's transaction calls against a scripted server: the request body and headers, the
// parsed answer, the listing, and the resend rule of http_client.h ("Transactions"): after an
// unknown outcome only a keyed transaction known to be single-shard is sent again.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
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
using testing::RequestsBesidesDirectory;

constexpr int kVnodes = 8;
constexpr const char* kAnswer =
    R"({"succeeded": true, "revision": 812, "shards": [3, 7], "txn_id": "2-1f3a",
        "results": [{"put": {"key": "a", "version": 4}}, {"delete": {"key": "b", "deleted": true}},
                    {"get": {"key": "c", "found": false}},
                    {"get": {"key_base64": "/w==", "found": true, "value_base64": "AP4B",
                             "version": 2}},
                    {"get": {"key": "t", "found": true, "value": "text", "version": 9}}]})";

ClientOptions Options(const FakeHttpServer& server) {
  ClientOptions o;
  o.endpoints = {server.endpoint()};
  o.request_timeout = std::chrono::milliseconds(2000);
  o.retry_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(2);
  return o;
}

FakeReply Answer() {
  FakeReply r = FakeReply::Json(200, kAnswer);
  r.headers.push_back({"X-Kv-Revision", "812"});
  return r;
}

// Answers the scripted replies in order, then `fallback` forever; GET /v1/directory gets
// `directory` (a 503 when empty) and does not count.
FakeHttpServer::Handler Script(std::vector<FakeReply> replies, FakeReply fallback,
                               std::shared_ptr<std::string> directory = nullptr) {
  auto next = std::make_shared<std::atomic<size_t>>(0);
  return [replies = std::move(replies), fallback, next, directory](const FakeRequest& req) {
    if (req.target == "/v1/directory") {
      if (directory == nullptr) return FakeReply::Error(503, "unavailable", "none");
      return FakeReply::Json(200, *directory);
    }
    size_t i = (*next)++;
    return i < replies.size() ? replies[i] : fallback;
  };
}

// Two shards (1, 2), every node at `address`.
std::string DirectoryAt(const std::string& address) {
  return R"({"version": 4, "vnodes_per_shard": )" + std::to_string(kVnodes) +
         R"(, "replication": 1, "hash": "xxh3-64", "meta": {"shard": 0, "voters": [1]},
      "nodes": [{"id": 1, "http_address": ")" +
         address + R"(", "peer_address": "p1", "up": true}],
      "shards": [{"id": 1, "replicas": [1], "leader": 1, "leader_term": 1, "keys": 0,
                  "hash_share": 0.5},
                 {"id": 2, "replicas": [1], "leader": 1, "leader_term": 1, "keys": 0,
                  "hash_share": 0.5}]})";
}

// The n-th key "k<i>" that the ring of shards {1, 2} puts in `shard`.
std::string KeyInShard(uint64_t shard, int n = 0) {
  std::optional<kv::Ring> ring = kv::Ring::Build({1, 2}, kVnodes, nullptr);
  for (int i = 0;; ++i) {
    std::string key = "k" + std::to_string(i);
    if (ring->ShardFor(key) == shard && n-- == 0) return key;
  }
}

TxnRequest DocTxn() {
  TxnRequest t;
  t.compare.push_back({"a", TxnCompare::Target::kVersion, 3, "", false});
  t.compare.push_back({"b", TxnCompare::Target::kValue, 0, "x", false});
  t.compare.push_back({"c", TxnCompare::Target::kExists, 0, "", false});
  t.compare.push_back({"d", TxnCompare::Target::kValue, 0, std::string("\x00\xff", 2), false});
  t.success.push_back({TxnOpType::kPut, "a", "1"});
  t.success.push_back({TxnOpType::kDelete, "b", ""});
  t.success.push_back({TxnOpType::kGet, "c", ""});
  t.failure.push_back({TxnOpType::kPut, "a", "\xfe"});
  return t;
}

TEST(HttpClientTxn, SendsTheDocumentedBodyAndParsesTheAnswer) {
  FakeHttpServer server([](const FakeRequest&) { return Answer(); });
  HttpClient client(Options(server));
  TxnResult r = client.Txn(DocTxn(), IdempotencyKey{"app", 5}, LockFence{"jobs", 9});
  ASSERT_TRUE(r.ok()) << r.transport_error << r.error_message;
  FakeRequest req = server.requests().at(0);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/v1/txn");
  EXPECT_EQ(req.body,
            R"({"compare":[{"key":"a","version":3},{"key":"b","value":"x"},)"
            R"({"key":"c","exists":false},{"key":"d","value_base64":"AP8="}],)"
            R"("success":[{"put":{"key":"a","value":"1"}},{"delete":{"key":"b"}},)"
            R"({"get":{"key":"c"}}],"failure":[{"put":{"key":"a","value_base64":"/g=="}}]})");
  EXPECT_EQ(req.HeaderValue("Content-Type"), "application/json");
  EXPECT_EQ(req.HeaderValue("Idempotency-Key"), "app:5");
  EXPECT_EQ(req.HeaderValue("X-Fence"), "jobs:9");

  EXPECT_TRUE(r.succeeded);
  EXPECT_EQ(r.revision, 812u);
  EXPECT_EQ(r.shards, (std::vector<uint64_t>{3, 7}));
  EXPECT_EQ(r.txn_id, "2-1f3a");
  ASSERT_EQ(r.results.size(), 5u);
  EXPECT_EQ(r.results[0].type, TxnOpType::kPut);
  EXPECT_EQ(r.results[0].key, "a");
  EXPECT_EQ(r.results[0].version, 4u);
  EXPECT_EQ(r.results[1].type, TxnOpType::kDelete);
  EXPECT_TRUE(r.results[1].deleted);
  EXPECT_EQ(r.results[2].type, TxnOpType::kGet);
  EXPECT_FALSE(r.results[2].found);
  EXPECT_EQ(r.results[3].key, "\xff");
  EXPECT_TRUE(r.results[3].found);
  EXPECT_EQ(r.results[3].value, std::string("\x00\xfe\x01", 3));
  EXPECT_TRUE(r.results[3].value_was_base64);
  EXPECT_EQ(r.results[3].version, 2u);
  EXPECT_EQ(r.results[4].value, "text");
  EXPECT_FALSE(r.results[4].value_was_base64);

  // Nothing to send but braces; no headers that were not asked for.
  ASSERT_TRUE(client.Txn(TxnRequest()).ok());
  EXPECT_EQ(server.requests().at(1).body, "{}");
  EXPECT_EQ(server.requests().at(1).HeaderValue("Idempotency-Key"), "");
  EXPECT_EQ(server.requests().at(1).HeaderValue("X-Fence"), "");
}

TEST(HttpClientTxn, JsonBodiesAreSentAsGiven) {
  FakeHttpServer server([](const FakeRequest&) { return Answer(); });
  ClientOptions options = Options(server);
  options.client_id = "me";
  options.first_seq = 7;
  HttpClient client(options);
  const std::string body = R"({"success": [{"get": {"key": "a"}}], "extra": 1})";
  TxnResult r = client.TxnJson(body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(server.requests().at(0).body, body);
  EXPECT_EQ(server.requests().at(0).HeaderValue("Idempotency-Key"), "me:7");  // from client_id
  EXPECT_TRUE(client.TxnJson("not json").ok());  // the server judges it
}

TEST(HttpClientTxn, ErrorsAndMalformedAnswers) {
  FakeHttpServer server(Script(
      {FakeReply::Error(409, "conflict", "intents held"),
       FakeReply::Error(409, "fenced", "stale token"), FakeReply::Json(200, R"({"revision": 3})")},
      Answer()));
  HttpClient client(Options(server));
  TxnResult conflict = client.Txn(DocTxn());
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.error_code, "conflict");
  EXPECT_FALSE(conflict.indeterminate);
  EXPECT_EQ(client.Txn(DocTxn()).error_code, "fenced");
  TxnResult malformed = client.Txn(DocTxn());  // decided, but how is unknown
  EXPECT_EQ(malformed.transport, Transport::kProtocolError);
  EXPECT_TRUE(malformed.indeterminate);
  EXPECT_EQ(server.requests().size(), 3u);  // none of those is retried

  TxnRequest bad_key;
  bad_key.success.push_back({TxnOpType::kGet, "\xff", ""});
  TxnResult local = client.Txn(bad_key);
  EXPECT_EQ(local.transport, Transport::kProtocolError);
  EXPECT_NE(local.transport_error.find("UTF-8"), std::string::npos);
  TxnRequest bad_compare;
  bad_compare.compare.push_back({"\xc0", TxnCompare::Target::kExists, 0, "", true});
  EXPECT_EQ(client.Txn(bad_compare).transport, Transport::kProtocolError);
  EXPECT_EQ(client.Txn(DocTxn(), std::nullopt, LockFence{"", 1}).transport,
            Transport::kProtocolError);
  EXPECT_EQ(client.Txn(DocTxn(), IdempotencyKey{"has space", 1}).transport,
            Transport::kProtocolError);
  EXPECT_EQ(server.requests().size(), 3u);  // nothing more was sent
}

TEST(HttpClientTxn, RefusalsAreRetriedWithoutAKey) {
  FakeHttpServer server(Script({FakeReply::Error(503, "unavailable", "no leader")}, Answer()));
  HttpClient client(Options(server));
  TxnResult r = client.Txn(DocTxn());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.attempts, 2);
  EXPECT_FALSE(r.indeterminate);
}

TEST(HttpClientTxn, WithoutAKnownSingleShardAnUnknownOutcomeIsNotResent) {
  const FakeReply timeout = FakeReply::Error(504, "timeout", "not confirmed");
  for (bool keyed : {false, true}) {
    SCOPED_TRACE(keyed);
    FakeHttpServer server(Script({timeout}, Answer()));
    HttpClient client(Options(server));  // no smart routing: the shards are unknown
    std::optional<IdempotencyKey> key;
    if (keyed) key = IdempotencyKey{"app", 1};
    TxnResult r = client.Txn(DocTxn(), key);
    EXPECT_EQ(r.status, 504);
    EXPECT_TRUE(r.indeterminate);
    EXPECT_EQ(server.requests().size(), 1u);
  }
  FakeHttpServer hang([](const FakeRequest&) { return FakeReply::Hang(); });
  ClientOptions options = Options(hang);
  options.request_timeout = std::chrono::milliseconds(100);
  HttpClient client(options);
  TxnResult r = client.Txn(DocTxn(), IdempotencyKey{"app", 2});
  EXPECT_EQ(r.transport, Transport::kTimeout);
  EXPECT_TRUE(r.indeterminate);
  EXPECT_EQ(hang.requests().size(), 1u);
}

TEST(HttpClientTxn, KeyedSingleShardTransactionsAreResentAndRouted) {
  const FakeReply timeout = FakeReply::Error(504, "timeout", "not confirmed");
  auto directory = std::make_shared<std::string>();
  FakeHttpServer server(Script({timeout}, Answer(), directory));
  *directory = DirectoryAt(server.endpoint());
  ClientOptions options = Options(server);
  options.smart_routing = true;
  options.client_id = "me";
  HttpClient client(options);

  TxnRequest one;  // two keys of shard 1
  one.compare.push_back({KeyInShard(1, 0), TxnCompare::Target::kVersion, 0, "", false});
  one.success.push_back({TxnOpType::kPut, KeyInShard(1, 1), "v"});
  TxnResult r = client.Txn(one);
  ASSERT_TRUE(r.ok()) << r.status << r.transport_error;
  EXPECT_EQ(r.attempts, 2);
  auto requests = RequestsBesidesDirectory(server);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].HeaderValue("Idempotency-Key"), "me:1");
  EXPECT_EQ(requests[1].HeaderValue("Idempotency-Key"), "me:1");  // the same key: exactly once
  EXPECT_EQ(requests[0].HeaderValue("X-Kv-Directory-Version"), "4");
  EXPECT_EQ(client.cached_directory_version(), 4u);
}

TEST(HttpClientTxn, CrossShardTransactionsAreNotResentEvenWithAKey) {
  const FakeReply timeout = FakeReply::Error(504, "timeout", "not confirmed");
  auto directory = std::make_shared<std::string>();
  FakeHttpServer server(Script({timeout, timeout, timeout}, Answer(), directory));
  *directory = DirectoryAt(server.endpoint());
  ClientOptions options = Options(server);
  options.smart_routing = true;
  HttpClient client(options);

  TxnRequest cross;
  cross.success.push_back({TxnOpType::kPut, KeyInShard(1), "v"});
  cross.failure.push_back({TxnOpType::kGet, KeyInShard(2), ""});
  TxnResult r = client.Txn(cross, IdempotencyKey{"app", 1});
  EXPECT_EQ(r.status, 504);
  EXPECT_TRUE(r.indeterminate);
  EXPECT_EQ(RequestsBesidesDirectory(server).size(), 1u);

  // The same rule for a JSON body: its keys are read from it.
  const std::string body = R"({"compare": [{"key": ")" + KeyInShard(1) +
                           R"(", "exists": true}], "success": [{"delete": {"key": ")" +
                           KeyInShard(2) + R"("}}]})";
  TxnResult j = client.TxnJson(body, IdempotencyKey{"app", 2});
  EXPECT_EQ(j.status, 504);
  EXPECT_EQ(RequestsBesidesDirectory(server).size(), 2u);
  // A single-shard body with a key is resent.
  const std::string single = R"({"success": [{"get": {"key": ")" + KeyInShard(2) + R"("}}]})";
  TxnResult resent = client.TxnJson(single, IdempotencyKey{"app", 3});
  EXPECT_TRUE(resent.ok());
  EXPECT_EQ(resent.attempts, 2);
}

TEST(HttpClientTxn, ListParsesTheInDoubtTransactions) {
  FakeHttpServer server([](const FakeRequest&) {
    return FakeReply::Json(200, R"({"txns": [{"id": "2-1f3a", "state": "pending", "age_ms": 120,
        "expires_in_ms": 1880, "record_shard": 3, "participants": [3, 7]}], "more": true})");
  });
  HttpClient client(Options(server));
  TxnListResult r = client.TxnList(5);
  ASSERT_TRUE(r.ok()) << r.transport_error;
  EXPECT_EQ(server.requests().at(0).target, "/v1/txns?limit=5");
  ASSERT_EQ(r.txns.size(), 1u);
  EXPECT_EQ(r.txns[0].id, "2-1f3a");
  EXPECT_EQ(r.txns[0].state, "pending");
  EXPECT_EQ(r.txns[0].age_ms, 120);
  EXPECT_EQ(r.txns[0].expires_in_ms, 1880);
  EXPECT_EQ(r.txns[0].record_shard, 3u);
  EXPECT_EQ(r.txns[0].participants, (std::vector<uint64_t>{3, 7}));
  EXPECT_TRUE(r.more);
  EXPECT_TRUE(client.TxnList().ok());
  EXPECT_EQ(server.requests().at(1).target, "/v1/txns");

  FakeHttpServer bad([](const FakeRequest&) { return FakeReply::Json(200, R"({"x": 1})"); });
  HttpClient bad_client(Options(bad));
  EXPECT_EQ(bad_client.TxnList().transport, Transport::kProtocolError);
}

}  // namespace
}  // namespace kvd::rpc
