// HttpClient against a scripted fake server (client_fake_server.h): request shapes, response
// parsing, connection reuse, failover and the retry policy documented in http_client.h.
#include "rpc/http_client.h"

#include <gtest/gtest.h>

#include <atomic>

#include "rpc/client_fake_server.h"

namespace kvd::rpc {
namespace {

using testing::FakeHttpServer;
using testing::FakeReply;
using testing::FakeRequest;

ClientOptions Options(std::vector<std::string> endpoints) {
  ClientOptions o;
  o.endpoints = std::move(endpoints);
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.request_timeout = std::chrono::milliseconds(2000);
  o.retry_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(2);
  return o;
}

FakeReply Ok(std::string body = R"({"version": 1, "revision": 7})") {
  return FakeReply::Json(200, std::move(body));
}

TEST(PercentEncode, EncodesEverythingButUnreserved) {
  EXPECT_EQ(PercentEncode("azAZ09-._~"), "azAZ09-._~");
  EXPECT_EQ(PercentEncode("a b/c?d%e"), "a%20b%2Fc%3Fd%25e");
  EXPECT_EQ(PercentEncode("\xD0\xBA\x01"), "%D0%BA%01");
  EXPECT_EQ(KeyPath("users/1"), "/v1/kv/users%2F1");
}

TEST(IdempotencyKey, ParsesIdColonPositiveSeq) {
  auto key = IdempotencyKey::Parse("a:b:7");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->client_id, "a:b");
  EXPECT_EQ(key->seq, 7u);
  EXPECT_EQ(key->ToString(), "a:b:7");
  EXPECT_FALSE(IdempotencyKey::Parse("w1:0"));
  EXPECT_FALSE(IdempotencyKey::Parse("w1"));
  EXPECT_FALSE(IdempotencyKey::Parse(":5"));
  EXPECT_FALSE(IdempotencyKey::Parse("w1:5x"));
  EXPECT_FALSE(IdempotencyKey::Parse("w 1:5"));
}

TEST(HttpClient, PutSendsEncodedKeyVersionAndIdempotencyKey) {
  FakeHttpServer server([](const FakeRequest&) {
    FakeReply r = Ok(R"({"version": 4, "revision": 19})");
    r.headers.push_back({"X-Kv-Shard", "3"});
    return r;
  });
  HttpClient client(Options({server.endpoint()}));
  Result r = client.Put("a b/ü", std::string("v\0x", 3), 3, IdempotencyKey{"w1", 9});
  ASSERT_TRUE(r.ok()) << r.transport_error;
  EXPECT_EQ(r.version, 4u);
  EXPECT_EQ(r.revision, 19u);
  EXPECT_EQ(r.shard, 3u);
  EXPECT_FALSE(r.indeterminate);
  ASSERT_EQ(server.requests().size(), 1u);
  FakeRequest req = server.requests()[0];
  EXPECT_EQ(req.method, "PUT");
  EXPECT_EQ(req.target, "/v1/kv/a%20b%2F%C3%BC?if_version=3");
  EXPECT_EQ(req.body, std::string("v\0x", 3));
  EXPECT_EQ(req.HeaderValue("Idempotency-Key"), "w1:9");
  EXPECT_EQ(req.HeaderValue("Host"), server.endpoint());
}

TEST(HttpClient, GetReturnsValueAndHeaders) {
  FakeHttpServer server([](const FakeRequest& req) {
    if (req.target == "/v1/kv/missing") return FakeReply::Error(404, "not_found", "no such key");
    FakeReply r;
    r.body = "hello";
    r.headers = {{"X-Kv-Version", "2"}, {"X-Kv-Revision", "11"}, {"X-Kv-Shard", "1"}};
    return r;
  });
  HttpClient client(Options({server.endpoint()}));
  Result r = client.Get("k", /*stale=*/true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.version, 2u);
  EXPECT_EQ(r.revision, 11u);
  EXPECT_EQ(r.shard, 1u);
  EXPECT_EQ(server.requests()[0].target, "/v1/kv/k?consistency=stale");

  Result missing = client.Get("missing");
  EXPECT_TRUE(missing.not_found());
  EXPECT_EQ(missing.error_code, "not_found");
  EXPECT_EQ(missing.error_message, "no such key");
}

TEST(HttpClient, VersionMismatchCarriesCurrentVersion) {
  FakeHttpServer server([](const FakeRequest&) {
    return FakeReply::Json(
        412, R"({"error": {"code": "version_mismatch", "message": "m"}, "current_version": 5})");
  });
  HttpClient client(Options({server.endpoint()}));
  Result r = client.Cas("k", 2, "v");
  EXPECT_EQ(r.status, 412);
  EXPECT_EQ(r.error_code, "version_mismatch");
  EXPECT_EQ(r.current_version, 5u);
  EXPECT_EQ(server.requests()[0].target, "/v1/kv/k?if_version=2");
}

TEST(HttpClient, NonJsonErrorKeepsFirstLine) {
  FakeHttpServer server([](const FakeRequest&) {
    FakeReply r;
    r.status = 500;
    r.body = "upstream broke\nstack...";
    return r;
  });
  HttpClient client(Options({server.endpoint()}));
  Result r = client.Get("k");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.error_code, "");
  EXPECT_EQ(r.error_message, "upstream broke");
}

TEST(HttpClient, DeleteReportsWhetherKeyExisted) {
  FakeHttpServer server(
      [](const FakeRequest&) { return Ok(R"({"deleted": false, "revision": 3})"); });
  HttpClient client(Options({server.endpoint()}));
  Result r = client.Delete("k", 4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.deleted, false);
  EXPECT_EQ(r.revision, 3u);
  EXPECT_EQ(server.requests()[0].method, "DELETE");
  EXPECT_EQ(server.requests()[0].target, "/v1/kv/k?if_version=4");
}

TEST(HttpClient, EmptyKeyIsRejectedWithoutARequest) {
  FakeHttpServer server([](const FakeRequest&) { return Ok(); });
  HttpClient client(Options({server.endpoint()}));
  Result r = client.Put("", "v");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code, "bad_key");
  EXPECT_TRUE(server.requests().empty());
}

TEST(HttpClient, ReusesOneKeepAliveConnection) {
  FakeHttpServer server([](const FakeRequest&) { return Ok(); });
  HttpClient client(Options({server.endpoint()}));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client.Put("k", "v").ok());
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.requests().size(), 5u);
}

TEST(HttpClient, ReconnectsWhenServerClosedIdleConnection) {
  FakeHttpServer server([](const FakeRequest&) {
    FakeReply r = Ok();
    r.close_after = true;  // keep-alive promised, then closed: a stale pooled connection
    return r;
  });
  HttpClient client(Options({server.endpoint()}));
  ASSERT_TRUE(client.Put("k", "1").ok());
  server.WaitForClosedConnections(1);
  Result second = client.Put("k", "2");  // an unkeyed write: must not be sent twice
  ASSERT_TRUE(second.ok()) << second.transport_error;
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.connections(), 2);
}

}  // namespace
}  // namespace kvd::rpc
