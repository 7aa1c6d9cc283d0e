// HttpClient failover and retry policy (http_client.h): connect failures move on, 503/429 retry,
// and an unknown outcome (504, timeout, dropped connection) is retried only when repeating the
// request is safe (a read, or a write with an idempotency key).
#include <gtest/gtest.h>

#include <atomic>

#include "rpc/client_fake_server.h"
#include "rpc/http_client.h"

namespace kvd::rpc {
namespace {

using testing::FakeHttpServer;
using testing::FakeReply;
using testing::FakeRequest;
using testing::RefusingEndpoint;

ClientOptions Options(std::vector<std::string> endpoints) {
  ClientOptions o;
  o.endpoints = std::move(endpoints);
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.request_timeout = std::chrono::milliseconds(2000);
  o.retry_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(2);
  return o;
}

FakeReply Ok() { return FakeReply::Json(200, R"({"version": 1, "revision": 7})"); }

// Answers the scripted replies in order, then `Ok()` forever.
FakeHttpServer::Handler Script(std::vector<FakeReply> replies) {
  auto next = std::make_shared<std::atomic<size_t>>(0);
  return [replies = std::move(replies), next](const FakeRequest&) {
    size_t i = (*next)++;
    return i < replies.size() ? replies[i] : Ok();
  };
}

TEST(HttpClientFailover, SkipsRefusingEndpointAndSticksToTheGoodOne) {
  FakeHttpServer good([](const FakeRequest&) { return Ok(); });
  HttpClient client(Options({RefusingEndpoint(), good.endpoint()}));
  Result first = client.Put("k", "v");  // an unkeyed write: safe, nothing was sent to the first
  ASSERT_TRUE(first.ok()) << first.transport_error;
  EXPECT_EQ(first.endpoint, good.endpoint());
  Result second = client.Get("k");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.attempts, 1);
  EXPECT_EQ(good.requests().size(), 2u);
  EXPECT_EQ(good.connections(), 1);
}

TEST(HttpClientFailover, NoEndpointAnswersIsConnectFailedNamingEach) {
  std::string a = RefusingEndpoint(), b = RefusingEndpoint();
  HttpClient client(Options({a, b}));
  Result r = client.Get("k");
  EXPECT_EQ(r.transport, Transport::kConnectFailed);
  EXPECT_FALSE(r.indeterminate);
  EXPECT_NE(r.transport_error.find(a + ": connection refused"), std::string::npos)
      << r.transport_error;
  EXPECT_NE(r.transport_error.find(b + ": connection refused"), std::string::npos);
}

TEST(HttpClientFailover, UnavailableMovesToTheNextEndpoint) {
  FakeHttpServer sick([](const FakeRequest&) {
    return FakeReply::Error(503, "no_leader", "no leader for shard 1");
  });
  FakeHttpServer healthy([](const FakeRequest&) { return Ok(); });
  HttpClient client(Options({sick.endpoint(), healthy.endpoint()}));
  Result r = client.Put("k", "v");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.endpoint, healthy.endpoint());
}

TEST(HttpClientRetry, UnavailableIsRetriedUpToMaxAttempts) {
  FakeHttpServer server([](const FakeRequest&) {
    FakeReply r = FakeReply::Error(503, "unavailable", "no quorum");
    r.headers.push_back({"Retry-After", "1"});
    return r;
  });
  HttpClient client(Options({server.endpoint()}));
  Result r = client.Put("k", "v");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.error_code, "unavailable");
  EXPECT_EQ(r.retry_after_ms, 1000u);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(server.requests().size(), 3u);

  ClientOptions no_retry = Options({server.endpoint()});
  no_retry.retry_unavailable = false;
  HttpClient once(no_retry);
  EXPECT_EQ(once.Put("k", "v").attempts, 1);
  EXPECT_EQ(server.requests().size(), 4u);
}

TEST(HttpClientRetry, OverloadedThenOk) {
  FakeHttpServer server(Script({FakeReply::Error(429, "overloaded", "shed")}));
  HttpClient client(Options({server.endpoint()}));
  Result r = client.Put("k", "v");
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.attempts, 2);
}

TEST(HttpClientRetry, UnkeyedWriteAfter504IsNeverRepeated) {
  FakeHttpServer server(Script({FakeReply::Error(504, "timeout", "commit not confirmed")}));
  HttpClient client(Options({server.endpoint()}));
  Result r = client.Put("k", "v");
  EXPECT_EQ(r.status, 504);
  EXPECT_TRUE(r.indeterminate);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpClientRetry, KeyedWriteAfter504IsRepeatedWithTheSameKey) {
  FakeHttpServer server(Script({FakeReply::Error(504, "timeout", "commit not confirmed")}));
  HttpClient client(Options({server.endpoint()}));
  Result r = client.Put("k", "v", std::nullopt, IdempotencyKey{"w1", 4});
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.indeterminate);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].HeaderValue("Idempotency-Key"), "w1:4");
  EXPECT_EQ(requests[1].HeaderValue("Idempotency-Key"), "w1:4");
}

TEST(HttpClientRetry, ClientIdAssignsIncreasingKeys) {
  FakeHttpServer server([](const FakeRequest&) { return Ok(); });
  ClientOptions o = Options({server.endpoint()});
  o.client_id = "c7";
  o.first_seq = 10;
  HttpClient client(o);
  ASSERT_TRUE(client.Put("a", "1").ok());
  ASSERT_TRUE(client.Delete("a").ok());
  ASSERT_TRUE(client.Put("b", "1", std::nullopt, IdempotencyKey{"x", 1}).ok());  // explicit wins
  auto requests = server.requests();
  EXPECT_EQ(requests[0].HeaderValue("Idempotency-Key"), "c7:10");
  EXPECT_EQ(requests[1].HeaderValue("Idempotency-Key"), "c7:11");
  EXPECT_EQ(requests[2].HeaderValue("Idempotency-Key"), "x:1");
}

TEST(HttpClientRetry, WriteWithoutResponseTimesOutOnceAndIsIndeterminate) {
  FakeHttpServer server([](const FakeRequest&) { return FakeReply::Hang(); });
  ClientOptions o = Options({server.endpoint()});
  o.request_timeout = std::chrono::milliseconds(100);
  HttpClient client(o);
  Result r = client.Put("k", "v");
  EXPECT_EQ(r.transport, Transport::kTimeout);
  EXPECT_TRUE(r.indeterminate);
  EXPECT_NE(r.transport_error.find("no response within 100 ms"), std::string::npos);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpClientRetry, DroppedConnectionAfterSendIsIndeterminateForWrites) {
  FakeHttpServer server(Script({FakeReply::CloseNoReply()}));
  HttpClient client(Options({server.endpoint()}));
  Result r = client.Put("k", "v");
  EXPECT_EQ(r.transport, Transport::kTimeout);
  EXPECT_TRUE(r.indeterminate);
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_TRUE(client.Put("k", "v").ok());  // the client recovers with a new connection
}

TEST(HttpClientRetry, KeyedWriteWhoseServerDiesWithItIsIndeterminate) {
  // The write goes out on a pooled connection; the server takes it and dies (the connection
  // drops unanswered and a reconnect is refused). It may have been applied: unknown, not "not
  // sent", however the later attempts end.
  FakeHttpServer server(Script({Ok(), FakeReply::WithAction(FakeReply::Action::kDie)}));
  HttpClient client(Options({server.endpoint()}));
  ASSERT_TRUE(client.Get("warm").ok());  // leaves a pooled connection
  Result r = client.Put("k", "v", std::nullopt, IdempotencyKey{"c", 1});
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.indeterminate) << TransportName(r.transport) << " " << r.transport_error;
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(HttpClientRetry, ReadsAreRepeatedAfterUnknownOutcome) {
  FakeHttpServer server(Script(
      {FakeReply::CloseNoReply(), FakeReply::Error(504, "timeout", "read index timed out")}));
  HttpClient client(Options({server.endpoint()}));
  Result r = client.Get("k");
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.attempts, 3);
}

TEST(HttpClientRetry, GenericRequestIsRepeatableOnlyWithIdempotencyKey) {
  FakeHttpServer server(
      [](const FakeRequest&) { return FakeReply::Error(504, "timeout", "unknown"); });
  HttpClient client(Options({server.endpoint()}));
  EXPECT_EQ(client.Request("POST", "/v1/txn", "{}").attempts, 1);
  EXPECT_EQ(client.Request("POST", "/v1/txn", "{}", {{"Idempotency-Key", "t:1"}}).attempts, 3);
}

TEST(HttpClientRetry, OversizedResponseIsProtocolError) {
  FakeHttpServer server([](const FakeRequest&) {
    FakeReply r;
    r.body = std::string(4096, 'x');
    return r;
  });
  ClientOptions o = Options({server.endpoint()});
  o.max_response_bytes = 1024;
  o.max_attempts = 1;
  HttpClient client(o);
  Result r = client.Get("k");
  EXPECT_EQ(r.transport, Transport::kProtocolError);
}

}  // namespace
}  // namespace kvd::rpc
