// HttpClient's lock calls against a scripted server: request shapes, parsed answers, the retry
// rules of http_client.h ("Locks"), the longer timeout of a waiting acquire, and fenced writes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "rpc/client_fake_server.h"
#include "rpc/http_client.h"

namespace kvd::rpc {
namespace {

using testing::FakeHttpServer;
using testing::FakeReply;
using testing::FakeRequest;

ClientOptions Options(const FakeHttpServer& server) {
  ClientOptions o;
  o.endpoints = {server.endpoint()};
  o.request_timeout = std::chrono::milliseconds(2000);
  o.retry_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(2);
  return o;
}

FakeReply Granted() {
  FakeReply r = FakeReply::Json(200, R"({"token": 1207, "ttl_ms": 5000, "revision": 1207})");
  r.headers.push_back({"X-Kv-Shard", "3"});
  return r;
}

// Answers the scripted replies in order, then `fallback` forever.
FakeHttpServer::Handler Script(std::vector<FakeReply> replies, FakeReply fallback) {
  auto next = std::make_shared<std::atomic<size_t>>(0);
  return [replies = std::move(replies), fallback, next](const FakeRequest&) {
    size_t i = (*next)++;
    return i < replies.size() ? replies[i] : fallback;
  };
}

TEST(HttpClientLocks, AcquireSendsTheBodyAndParsesTheGrant) {
  FakeHttpServer server([](const FakeRequest&) { return Granted(); });
  HttpClient client(Options(server));
  LockResult r = client.LockAcquire("jobs/a b", "w\"1", 5000, 0);
  ASSERT_TRUE(r.ok()) << r.transport_error << r.error_message;
  EXPECT_EQ(r.token, 1207u);
  EXPECT_EQ(r.ttl_ms, 5000);
  EXPECT_EQ(r.revision, 1207u);
  EXPECT_EQ(r.shard, 3u);
  FakeRequest req = server.requests().at(0);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/v1/locks/jobs%2Fa%20b");
  EXPECT_EQ(req.body, R"({"owner":"w\"1","ttl_ms":5000,"wait_ms":0})");
  EXPECT_EQ(req.HeaderValue("Content-Type"), "application/json");
  EXPECT_EQ(req.HeaderValue("Idempotency-Key"), "");  // no client id configured
}

TEST(HttpClientLocks, HeldLockCarriesTheHolder) {
  FakeHttpServer server([](const FakeRequest&) {
    return FakeReply::Json(409, R"({"error": {"code": "lock_held", "message": "held",
        "holder": {"owner": "w2", "token": 9, "ttl_ms": 5000, "expires_in_ms": 3120}},
        "holder": {"owner": "w2", "token": 9, "ttl_ms": 5000, "expires_in_ms": 3120}})");
  });
  HttpClient client(Options(server));
  LockResult r = client.LockAcquire("l", "w1", 5000, 0);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.error_code, "lock_held");
  ASSERT_TRUE(r.holder.has_value());
  EXPECT_EQ(r.holder->owner, "w2");
  EXPECT_EQ(r.holder->token, 9u);
  EXPECT_EQ(r.holder->ttl_ms, 5000);
  EXPECT_EQ(r.holder->expires_in_ms, 3120);
  EXPECT_EQ(server.requests().size(), 1u);  // a 409 is an answer: not retried
}

TEST(HttpClientLocks, AcquireIsRetriedAfterAnUnknownOutcomeOnlyWithAnIdempotencyKey) {
  const FakeReply timeout = FakeReply::Error(504, "timeout", "not confirmed");
  {
    FakeHttpServer server(Script({timeout}, Granted()));
    HttpClient client(Options(server));
    LockResult r = client.LockAcquire("l", "o", 1000, 0);
    EXPECT_EQ(r.status, 504);
    EXPECT_TRUE(r.indeterminate);
    EXPECT_EQ(server.requests().size(), 1u);
  }
  {
    FakeHttpServer server(Script({timeout}, Granted()));
    ClientOptions options = Options(server);
    options.client_id = "me";
    options.first_seq = 40;
    HttpClient client(options);
    LockResult r = client.LockAcquire("l", "o", 1000, 0);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.attempts, 2);
    ASSERT_EQ(server.requests().size(), 2u);
    EXPECT_EQ(server.requests()[0].HeaderValue("Idempotency-Key"), "me:40");
    EXPECT_EQ(server.requests()[1].HeaderValue("Idempotency-Key"), "me:40");  // the same key
    ASSERT_TRUE(client.LockKeepalive("l", 1207).ok());
    EXPECT_EQ(server.requests()[2].HeaderValue("Idempotency-Key"), "me:41");
  }
  {
    FakeHttpServer server(Script({timeout}, Granted()));
    HttpClient client(Options(server));
    EXPECT_TRUE(client.LockAcquire("l", "o", 1000, 0, IdempotencyKey{"given", 3}).ok());
    EXPECT_EQ(server.requests()[1].HeaderValue("Idempotency-Key"), "given:3");
  }
}

TEST(HttpClientLocks, KeepaliveAndReleaseAreRetriedAfterAnUnknownOutcome) {
  const FakeReply timeout = FakeReply::Error(504, "timeout", "not confirmed");
  FakeHttpServer server(Script({timeout, timeout}, Granted()));
  HttpClient client(Options(server));
  LockResult kept = client.LockKeepalive("l", 1207);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept.attempts, 3);
  EXPECT_EQ(kept.token, 1207u);
  FakeRequest req = server.requests().at(0);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/v1/locks/l/keepalive");
  EXPECT_EQ(req.body, R"({"token": 1207})");

  FakeHttpServer releaser(Script({timeout}, FakeReply::Json(200, R"({"released": true,
      "revision": 9})")));
  HttpClient client2(Options(releaser));
  LockResult released = client2.LockRelease("l", 1207);
  ASSERT_TRUE(released.ok());
  EXPECT_TRUE(released.released);
  EXPECT_EQ(released.revision, 9u);
  EXPECT_EQ(released.attempts, 2);
  EXPECT_EQ(releaser.requests().at(0).method, "DELETE");
  EXPECT_EQ(releaser.requests().at(0).target, "/v1/locks/l?token=1207");
}

// A 503 answers for its own attempt only: after an attempt with an unknown outcome, the call
// stays indeterminate (the acquire may hold the lock).
TEST(HttpClientLocks, RefusalAfterAnUnknownOutcomeIsStillUnknown) {
  const FakeReply timeout = FakeReply::Error(504, "timeout", "not confirmed");
  const FakeReply refused = FakeReply::Error(503, "unavailable", "no leader");
  FakeHttpServer server(Script({timeout, refused, refused}, Granted()));
  HttpClient client(Options(server));
  LockResult r = client.LockAcquire("l", "o", 1000, 0, IdempotencyKey{"me", 1});
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.indeterminate);

  FakeHttpServer only_refusals(Script({refused, refused, refused}, Granted()));
  HttpClient client2(Options(only_refusals));
  LockResult plain = client2.LockAcquire("l", "o", 1000, 0, IdempotencyKey{"me", 2});
  EXPECT_EQ(plain.status, 503);
  EXPECT_FALSE(plain.indeterminate);  // nothing was applied by any attempt
}

TEST(HttpClientLocks, FencedAndNotFoundAreAnswers) {
  FakeHttpServer server(Script({FakeReply::Error(409, "fenced", "not held with 5"),
                                FakeReply::Error(404, "not_found", "lock not found")},
                               Granted()));
  HttpClient client(Options(server));
  LockResult fenced = client.LockKeepalive("l", 5);
  EXPECT_EQ(fenced.status, 409);
  EXPECT_EQ(fenced.error_code, "fenced");
  EXPECT_FALSE(fenced.holder.has_value());
  LockResult missing = client.LockRelease("l", 5);
  EXPECT_TRUE(missing.not_found());
  EXPECT_EQ(server.requests().size(), 2u);
}

// The node holds a waiting acquire for up to wait_ms: the client's attempt waits that long more.
TEST(HttpClientLocks, WaitingAcquireGetsWaitMsOnTopOfTheRequestTimeout) {
  FakeHttpServer server([](const FakeRequest&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a slow grant
    return Granted();
  });
  ClientOptions options = Options(server);
  options.request_timeout = std::chrono::milliseconds(100);
  options.max_attempts = 1;
  HttpClient client(options);
  LockResult waited = client.LockAcquire("l", "o", 1000, 2000);
  EXPECT_TRUE(waited.ok()) << waited.transport_error;
  LockResult hurried = client.LockAcquire("l", "o", 1000, 0);
  EXPECT_EQ(hurried.transport, Transport::kTimeout);
  EXPECT_TRUE(hurried.indeterminate);
}

TEST(HttpClientLocks, GetAndListParseLocks) {
  FakeHttpServer server([](const FakeRequest& req) {
    if (req.target.starts_with("/v1/locks?") || req.target == "/v1/locks") {
      return FakeReply::Json(200, R"({"locks": [
          {"name": "a", "shard": 1, "last_token": 4, "holder": null, "waiters": []},
          {"name_base64": "/w==", "shard": 2, "last_token": 6,
           "holder": {"owner": "w", "token": 6, "ttl_ms": 100, "expires_in_ms": 50},
           "waiters": [{"owner": "x", "ttl_ms": 200, "wait_left_ms": 70}]}],
          "more": true, "next_after": "q"})");
    }
    return FakeReply::Json(200, R"({"name": "jobs", "shard": 3, "last_token": 1207,
        "holder": {"owner": "w1", "token": 1207, "ttl_ms": 5000, "expires_in_ms": 3120},
        "waiters": [{"owner": "w2", "ttl_ms": 5000, "wait_left_ms": 9000}]})");
  });
  HttpClient client(Options(server));
  LockInfoResult one = client.LockGet("jobs", /*stale=*/true);
  ASSERT_TRUE(one.ok()) << one.transport_error;
  EXPECT_EQ(server.requests().at(0).target, "/v1/locks/jobs?consistency=stale");
  EXPECT_EQ(one.lock.name, "jobs");
  EXPECT_EQ(one.lock.shard, 3u);
  EXPECT_EQ(one.lock.last_token, 1207u);
  ASSERT_TRUE(one.lock.holder.has_value());
  EXPECT_EQ(one.lock.holder->owner, "w1");
  EXPECT_EQ(one.lock.holder->expires_in_ms, 3120);
  ASSERT_EQ(one.lock.waiters.size(), 1u);
  EXPECT_EQ(one.lock.waiters[0].owner, "w2");
  EXPECT_EQ(one.lock.waiters[0].wait_left_ms, 9000);

  LockListResult list = client.LockList("a/b", 2, true);
  ASSERT_TRUE(list.ok()) << list.transport_error;
  EXPECT_EQ(server.requests().at(1).target, "/v1/locks?after=a%2Fb&limit=2&consistency=stale");
  ASSERT_EQ(list.locks.size(), 2u);
  EXPECT_FALSE(list.locks[0].holder.has_value());
  EXPECT_EQ(list.locks[1].name, "\xff");
  EXPECT_EQ(list.locks[1].holder->token, 6u);
  EXPECT_EQ(list.locks[1].waiters.at(0).wait_left_ms, 70);
  EXPECT_TRUE(list.more);
  EXPECT_EQ(list.next_after, "q");
  EXPECT_TRUE(client.LockList().ok());
  EXPECT_EQ(server.requests().at(2).target, "/v1/locks");
}

TEST(HttpClientLocks, MalformedAnswersAndBadArgumentsAreRefused) {
  FakeHttpServer server([](const FakeRequest&) { return FakeReply::Json(200, R"({"x": 1})"); });
  HttpClient client(Options(server));
  EXPECT_EQ(client.LockAcquire("l", "o", 1000).transport, Transport::kProtocolError);  // no token
  EXPECT_EQ(client.LockGet("l").transport, Transport::kProtocolError);
  EXPECT_EQ(client.LockList().transport, Transport::kProtocolError);
  const size_t sent = server.requests().size();
  EXPECT_EQ(client.LockAcquire("", "o", 1000).error_code, "bad_key");
  EXPECT_EQ(client.LockKeepalive("", 1).error_code, "bad_key");
  EXPECT_EQ(client.LockAcquire("l", "", 1000).transport, Transport::kProtocolError);
  EXPECT_EQ(client.LockAcquire("l", std::string(257, 'o'), 1000).transport,
            Transport::kProtocolError);
  EXPECT_EQ(client.LockAcquire("l", "\xff", 1000).transport, Transport::kProtocolError);
  EXPECT_EQ(server.requests().size(), sent);  // none of those was sent
}

TEST(HttpClientFence, PutAndDeleteCarryXFence) {
  FakeHttpServer server(
      [](const FakeRequest&) { return FakeReply::Json(200, R"({"version": 1, "revision": 2})"); });
  HttpClient client(Options(server));
  ASSERT_TRUE(client.Put("k", "v", std::nullopt, std::nullopt, LockFence{"a:b", 7}).ok());
  ASSERT_TRUE(client.Delete("k", std::nullopt, std::nullopt, LockFence{"jobs", 9}).ok());
  ASSERT_TRUE(client.Put("k", "v").ok());
  EXPECT_EQ(server.requests().at(0).HeaderValue("X-Fence"), "a:b:7");
  EXPECT_EQ(server.requests().at(1).HeaderValue("X-Fence"), "jobs:9");
  EXPECT_EQ(server.requests().at(2).HeaderValue("X-Fence"), "");
  for (const LockFence& bad :
       {LockFence{"", 1}, LockFence{"l", 0}, LockFence{"a\nb", 1}, LockFence{" l", 1}}) {
    Result r = client.Put("k", "v", std::nullopt, std::nullopt, bad);
    EXPECT_EQ(r.transport, Transport::kProtocolError);
    EXPECT_NE(r.transport_error.find("invalid fence"), std::string::npos);
  }
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(LockFence, ParsesAtTheLastColon) {
  std::optional<LockFence> f = LockFence::Parse("a:b:42");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->lock, "a:b");
  EXPECT_EQ(f->token, 42u);
  EXPECT_EQ(f->ToString(), "a:b:42");
  EXPECT_EQ(LockFence::Parse("{t}x:18446744073709551615")->token, 18446744073709551615u);
  for (const char* bad : {"", "x", ":1", "x:", "x:0", "x:-1", "x:+1", "x:1a", "x: 1", " x:1",
                          "x :1", "x:18446744073709551616", "a\tb:1"}) {
    std::string error;
    EXPECT_FALSE(LockFence::Parse(bad, &error).has_value()) << bad;
    EXPECT_FALSE(error.empty());
  }
  EXPECT_FALSE(LockFence::Parse(std::string(4097, 'n') + ":1").has_value());
  EXPECT_TRUE(LockFence::Parse(std::string(4096, 'n') + ":1").has_value());
}

}  // namespace
}  // namespace kvd::rpc
