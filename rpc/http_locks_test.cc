// The lock routes of docs/api.md ("Locks") end to end over a real socket, against the in-memory
// service: every route, every error mapping, the bounds, and the answer timeout of a waiting
// acquire.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "rpc/http_api_fixture.h"
#include "rpc/http_json.h"
#include "rpc/http_server.h"
#include "rpc/http_test_util.h"

namespace kvd::rpc {
namespace {

using testing::FakeKvService;
using testing::JsonAt;
using testing::TestConnection;
using testing::TestResponse;

class HttpLocksTest : public testing::HttpApiFixture {};

TEST_F(HttpLocksTest, AcquireKeepaliveGetRelease) {
  TestResponse acquired =
      Call("POST", "/v1/locks/jobs", R"({"owner": "w1", "ttl_ms": 5000, "wait_ms": 250})");
  ASSERT_EQ(acquired.status, 200) << acquired.body;
  EXPECT_EQ(acquired.Header("content-type"), "application/json");
  EXPECT_EQ(JsonAt(acquired.body, "/token"), "1");
  EXPECT_EQ(JsonAt(acquired.body, "/ttl_ms"), "5000");
  EXPECT_EQ(JsonAt(acquired.body, "/revision"), "1");
  EXPECT_EQ(acquired.Header("x-kv-shard"), "1");
  EXPECT_EQ(acquired.Header("x-kv-revision"), "1");
  kv::LockRequest req = service_.last_lock();
  EXPECT_EQ(req.op, kv::LockOp::kAcquire);
  EXPECT_EQ(req.name, "jobs");
  EXPECT_EQ(req.owner, "w1");
  EXPECT_EQ(req.ttl_ms, 5000);
  EXPECT_EQ(req.wait_ms, 250);

  TestResponse kept = Call("POST", "/v1/locks/jobs/keepalive", R"({"token": 1})");
  ASSERT_EQ(kept.status, 200) << kept.body;
  EXPECT_EQ(JsonAt(kept.body, "/token"), "1");
  EXPECT_EQ(JsonAt(kept.body, "/ttl_ms"), "5000");
  EXPECT_EQ(JsonAt(kept.body, "/revision"), "2");
  EXPECT_EQ(service_.last_lock().op, kv::LockOp::kKeepalive);
  EXPECT_EQ(service_.last_lock().token, 1u);

  TestResponse got = Call("GET", "/v1/locks/jobs");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(JsonAt(got.body, "/name"), "jobs");
  EXPECT_EQ(JsonAt(got.body, "/shard"), "1");
  EXPECT_EQ(JsonAt(got.body, "/last_token"), "1");
  EXPECT_EQ(JsonAt(got.body, "/holder/owner"), "w1");
  EXPECT_EQ(JsonAt(got.body, "/holder/token"), "1");
  EXPECT_EQ(JsonAt(got.body, "/holder/ttl_ms"), "5000");
  EXPECT_EQ(JsonAt(got.body, "/holder/expires_in_ms"), "5000");
  EXPECT_EQ(JsonAt(got.body, "/waiters"), "[]");
  EXPECT_EQ(service_.last_lock_list().name, "jobs");
  EXPECT_FALSE(service_.last_lock_list().stale);

  TestResponse released = Call("DELETE", "/v1/locks/jobs?token=1");
  ASSERT_EQ(released.status, 200) << released.body;
  EXPECT_EQ(JsonAt(released.body, "/released"), "true");
  EXPECT_EQ(JsonAt(released.body, "/revision"), "3");
  EXPECT_EQ(service_.last_lock().op, kv::LockOp::kRelease);
  EXPECT_EQ(service_.last_lock().token, 1u);

  EXPECT_EQ(JsonAt(Call("GET", "/v1/locks/jobs").body, "/holder"), "null");
  ExpectError(Call("POST", "/v1/locks/jobs/keepalive", R"({"token": 1})"), 409, "fenced");
  ExpectError(Call("DELETE", "/v1/locks/jobs?token=1"), 409, "fenced");
  ExpectError(Call("GET", "/v1/locks/never"), 404, "not_found");
  ExpectError(Call("POST", "/v1/locks/never/keepalive", R"({"token": 1})"), 404, "not_found");
  ExpectError(Call("DELETE", "/v1/locks/never?token=1"), 404, "not_found");
}

TEST_F(HttpLocksTest, AcquireDefaults) {
  ASSERT_EQ(Call("POST", "/v1/locks/d", R"({"owner": "w"})").status, 200);
  EXPECT_EQ(service_.last_lock().ttl_ms, 10000);
  EXPECT_EQ(service_.last_lock().wait_ms, 0);
  EXPECT_EQ(service_.last_lock().client_id, "");
}

TEST_F(HttpLocksTest, HeldLockIs409WithTheHolderInsideAndAtTopLevel) {
  ASSERT_EQ(Call("POST", "/v1/locks/l", R"({"owner": "first", "ttl_ms": 700})").status, 200);
  TestResponse held = Call("POST", "/v1/locks/l", R"({"owner": "second"})");
  ExpectError(held, 409, "lock_held");
  for (const char* at : {"/holder", "/error/holder"}) {
    SCOPED_TRACE(at);
    EXPECT_EQ(JsonAt(held.body, std::string(at) + "/owner"), "first");
    EXPECT_EQ(JsonAt(held.body, std::string(at) + "/token"), "1");
    EXPECT_EQ(JsonAt(held.body, std::string(at) + "/ttl_ms"), "700");
    EXPECT_EQ(JsonAt(held.body, std::string(at) + "/expires_in_ms"), "700");
  }
}

TEST_F(HttpLocksTest, ListPagesByAfterAndLimit) {
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_EQ(Call("POST", std::string("/v1/locks/") + name, R"({"owner": "o"})").status, 200);
  }
  TestResponse page = Call("GET", "/v1/locks?limit=2");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(JsonAt(page.body, "/locks/0/name"), "a");
  EXPECT_EQ(JsonAt(page.body, "/locks/1/name"), "b");
  EXPECT_EQ(JsonAt(page.body, "/locks/1/holder/owner"), "o");
  EXPECT_EQ(JsonAt(page.body, "/locks/2"), "<missing>");
  EXPECT_EQ(JsonAt(page.body, "/more"), "true");
  EXPECT_EQ(JsonAt(page.body, "/next_after"), "b");
  EXPECT_EQ(service_.last_lock_list().limit, 2u);
  EXPECT_EQ(service_.last_lock_list().name, "");

  TestResponse rest = Call("GET", "/v1/locks?after=b&consistency=stale&limit=1000");
  EXPECT_EQ(JsonAt(rest.body, "/locks/0/name"), "c");
  EXPECT_EQ(JsonAt(rest.body, "/more"), "false");
  EXPECT_EQ(JsonAt(rest.body, "/next_after"), "<missing>");
  EXPECT_EQ(service_.last_lock_list().after, "b");
  EXPECT_TRUE(service_.last_lock_list().stale);

  EXPECT_EQ(Call("GET", "/v1/locks").status, 200);
  EXPECT_EQ(service_.last_lock_list().limit, 100u);  // the default
  EXPECT_EQ(Call("GET", "/v1/locks/a?consistency=stale").status, 200);
  EXPECT_TRUE(service_.last_lock_list().stale);
}

// The node's next_after (a shard may have looked past the locks it listed) goes to the client.
TEST(HttpLockJson, ListCarriesNextAfter) {
  kv::LockListResponse list;
  list.more = true;
  list.next_after = "m\xff";
  EXPECT_EQ(JsonAt(LockListJson(list, 10), "/next_after_base64"), "bf8=");
  EXPECT_EQ(JsonAt(LockListJson(list, 10), "/locks"), "[]");
  list.locks.resize(3);
  list.locks[0].name = "a";
  list.locks[1].name = "b";
  list.more = false;
  EXPECT_EQ(JsonAt(LockListJson(list, 2), "/next_after"), "b");  // cut here
  EXPECT_EQ(JsonAt(LockListJson(list, 2), "/more"), "true");
  EXPECT_EQ(JsonAt(LockListJson(list, 3), "/next_after"), "<missing>");
}

TEST_F(HttpLocksTest, NamesArePercentDecodedOneSegment) {
  ASSERT_EQ(Call("POST", "/v1/locks/a%2Fb%3Ac+d", R"({"owner": "o"})").status, 200);
  EXPECT_EQ(service_.last_lock().name, "a/b:c+d");
  ASSERT_EQ(Call("POST", "/v1/locks/%ff/keepalive", R"({"token": 9})").status, 404);
  EXPECT_EQ(service_.last_lock().name, "\xff");
  ExpectError(Call("POST", "/v1/locks/a/b", R"({"owner": "o"})"), 404, "no_route");
  ExpectError(Call("GET", "/v1/locks/a/keepalive/x"), 404, "no_route");
  ExpectError(Call("POST", "/v1/locks/", R"({"owner": "o"})"), 400, "bad_key");
  ExpectError(Call("POST", "/v1/locks//keepalive", R"({"token": 1})"), 400, "bad_key");
  ExpectError(Call("DELETE", "/v1/locks/a%zz?token=1"), 400, "bad_key");
  ExpectError(Call("GET", "/v1/locks/%4"), 400, "bad_key");
  ExpectError(Call("POST", "/v1/locks/" + std::string(4097, 'n'), R"({"owner": "o"})"), 413,
              "too_large");
  ExpectError(Call("GET", "/v1/locks/" + std::string(4097, 'n')), 413, "too_large");
  EXPECT_EQ(Call("POST", "/v1/locks/" + std::string(4096, 'n'), R"({"owner": "o"})").status, 200);
}

TEST_F(HttpLocksTest, BadAcquireBodies) {
  for (const char* body : {"", "not json", "[1]", "\"owner\"", "{\"owner\": \"o\"", "7"}) {
    SCOPED_TRACE(body);
    ExpectError(Call("POST", "/v1/locks/l", body), 400, "bad_json");
  }
  for (std::string body :
       {std::string(R"({})"), std::string(R"({"owner": ""})"), std::string(R"({"owner": 7})"),
        R"({"owner": ")" + std::string(257, 'o') + "\"}", std::string(R"({"owner": null})"),
        std::string(R"({"owner": "o", "ttl_ms": 99})"),
        std::string(R"({"owner": "o", "ttl_ms": 3600001})"),
        std::string(R"({"owner": "o", "ttl_ms": "1000"})"),
        std::string(R"({"owner": "o", "ttl_ms": 1000.5})"),
        std::string(R"({"owner": "o", "ttl_ms": 1e4})"),
        std::string(R"({"owner": "o", "wait_ms": -1})"),
        std::string(R"({"owner": "o", "wait_ms": 300001})"),
        std::string(R"({"owner": "o", "wait_ms": 18446744073709551615})"),
        std::string(R"({"owner": "o", "ttl": 1000})")}) {
    SCOPED_TRACE(body);
    ExpectError(Call("POST", "/v1/locks/l", body), 400, "invalid_argument");
  }
  // The bounds themselves are accepted.
  EXPECT_EQ(Call("POST", "/v1/locks/l1",
                 R"({"owner": ")" + std::string(256, 'o') + R"(", "ttl_ms": 100, "wait_ms": 0})")
                .status,
            200);
  EXPECT_EQ(Call("POST", "/v1/locks/l2", R"({"owner": "o", "ttl_ms": 3600000, "wait_ms": 300000})")
                .status,
            200);
  // At most 64 KiB of body (the server's value limit is larger).
  std::string big = R"({"owner": "o", "pad": ")" + std::string(64 << 10, 'x') + "\"}";
  ExpectError(Call("POST", "/v1/locks/l", big), 413, "too_large");
  ExpectError(Call("POST", "/v1/locks/l/keepalive", big), 413, "too_large");
}

TEST_F(HttpLocksTest, BadKeepaliveBodiesAndReleaseTokens) {
  for (const char* body : {"", "{", "[]"}) {
    ExpectError(Call("POST", "/v1/locks/l/keepalive", body), 400, "bad_json");
  }
  for (const char* body : {R"({})", R"({"token": 0})", R"({"token": -1})", R"({"token": "5"})",
                           R"({"token": 1.5})", R"({"token": 1, "owner": "o"})"}) {
    SCOPED_TRACE(body);
    ExpectError(Call("POST", "/v1/locks/l/keepalive", body), 400, "invalid_argument");
  }
  for (const char* target :
       {"/v1/locks/l", "/v1/locks/l?token=", "/v1/locks/l?token=0", "/v1/locks/l?token=-1",
        "/v1/locks/l?token=abc", "/v1/locks/l?token=1&token=2", "/v1/locks/l?token=1&force=1",
        "/v1/locks/l?token=99999999999999999999"}) {
    SCOPED_TRACE(target);
    ExpectError(Call("DELETE", target), 400, "invalid_argument");
  }
  EXPECT_EQ(Call("POST", "/v1/locks/l/keepalive", R"({"token": 18446744073709551615})").status,
            404);
  EXPECT_EQ(service_.last_lock().token, 18446744073709551615u);
}

TEST_F(HttpLocksTest, MalformedQueriesAre400) {
  ExpectError(Call("POST", "/v1/locks/l?wait_ms=5", R"({"owner": "o"})"), 400, "invalid_argument");
  ExpectError(Call("POST", "/v1/locks/l/keepalive?x=1", R"({"token": 1})"), 400,
              "invalid_argument");
  for (const char* target :
       {"/v1/locks/l?limit=5", "/v1/locks/l?consistency=bogus", "/v1/locks?limit=0",
        "/v1/locks?limit=1001", "/v1/locks?limit=abc", "/v1/locks?consistency=bogus",
        "/v1/locks?prefix=a", "/v1/locks?after=%zz"}) {
    SCOPED_TRACE(target);
    ExpectError(Call("GET", target), 400, "invalid_argument");
  }
  ExpectError(Call("GET", "/v1/locks?after=" + std::string(4097, 'a')), 400, "invalid_argument");
}

TEST_F(HttpLocksTest, WrongMethodsAre405) {
  TestResponse put = Call("PUT", "/v1/locks/l", "{}");
  ExpectError(put, 405, "method_not_allowed");
  EXPECT_EQ(put.Header("allow"), "GET, POST, DELETE");
  TestResponse get = Call("GET", "/v1/locks/l/keepalive");
  ExpectError(get, 405, "method_not_allowed");
  EXPECT_EQ(get.Header("allow"), "POST");
  TestResponse post = Call("POST", "/v1/locks", "{}");
  ExpectError(post, 405, "method_not_allowed");
  EXPECT_EQ(post.Header("allow"), "GET");
}

TEST_F(HttpLocksTest, IdempotencyKeyAndDirectoryVersionAreHonored) {
  kv::DirectoryView directory;
  directory.version = 5;
  service_.SetDirectory(directory);
  const Headers headers = {{"Idempotency-Key", "c:1:7"}, {"X-Kv-Directory-Version", "3"}};
  TestResponse acquired = Call("POST", "/v1/locks/l", R"({"owner": "o"})", headers);
  ASSERT_EQ(acquired.status, 200);
  EXPECT_EQ(acquired.Header("x-kv-directory-version"), "5");
  EXPECT_EQ(service_.last_lock().client_id, "c:1");
  EXPECT_EQ(service_.last_lock().seq, 7u);
  EXPECT_EQ(service_.last_lock().directory_version, 3u);
  ASSERT_EQ(Call("POST", "/v1/locks/l/keepalive", R"({"token": 1})", headers).status, 200);
  EXPECT_EQ(service_.last_lock().seq, 7u);
  EXPECT_EQ(service_.last_lock().directory_version, 3u);
  ASSERT_EQ(Call("DELETE", "/v1/locks/l?token=1", "", headers).status, 200);
  EXPECT_EQ(service_.last_lock().client_id, "c:1");
  TestResponse got = Call("GET", "/v1/locks/l", "", headers);
  EXPECT_EQ(got.Header("x-kv-directory-version"), "5");
  EXPECT_EQ(service_.last_lock_list().directory_version, 3u);
  EXPECT_EQ(Call("GET", "/v1/locks", "", headers).Header("x-kv-directory-version"), "5");
  ExpectError(Call("GET", "/v1/locks/zz", "", headers), 404, "not_found");

  for (const Headers& bad :
       {Headers{{"Idempotency-Key", "nocolon"}}, Headers{{"Idempotency-Key", "c:0"}},
        Headers{{"Idempotency-Key", "c:1"}, {"Idempotency-Key", "c:2"}},
        Headers{{"X-Kv-Directory-Version", "x"}}}) {
    ExpectError(Call("POST", "/v1/locks/m", R"({"owner": "o"})", bad), 400, "invalid_argument");
    ExpectError(Call("POST", "/v1/locks/l/keepalive", R"({"token": 1})", bad), 400,
                "invalid_argument");
    ExpectError(Call("DELETE", "/v1/locks/l?token=1", "", bad), 400, "invalid_argument");
  }
  ExpectError(Call("GET", "/v1/locks/m"), 404, "not_found");  // nothing was acquired
  ExpectError(Call("GET", "/v1/locks", "", {{"X-Kv-Directory-Version", "-1"}}), 400,
              "invalid_argument");
}

TEST_F(HttpLocksTest, ServiceErrorsMapToApiStatuses) {
  struct Case {
    kv::ErrorCode code;
    int status;
    const char* error_code;
  } cases[] = {
      {kv::ErrorCode::kInvalidArgument, 400, "invalid_argument"},
      {kv::ErrorCode::kNotFound, 404, "not_found"},
      {kv::ErrorCode::kLockHeld, 409, "lock_held"},
      {kv::ErrorCode::kFenced, 409, "fenced"},
      {kv::ErrorCode::kOverloaded, 429, "overloaded"},
      {kv::ErrorCode::kUnavailable, 503, "unavailable"},
      {kv::ErrorCode::kTimeout, 504, "timeout"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error_code);
    service_.FailWith(c.code, "from the node");
    TestResponse acquire = Call("POST", "/v1/locks/l", R"({"owner": "o"})");
    ExpectError(acquire, c.status, c.error_code);
    EXPECT_EQ(JsonAt(acquire.body, "/error/message"), "from the node");
    ExpectError(Call("POST", "/v1/locks/l/keepalive", R"({"token": 1})"), c.status, c.error_code);
    ExpectError(Call("DELETE", "/v1/locks/l?token=1"), c.status, c.error_code);
    TestResponse get = Call("GET", "/v1/locks/l");
    ExpectError(get, c.status, c.error_code);
    ExpectError(Call("GET", "/v1/locks"), c.status, c.error_code);
    if (c.status == 429 || c.status == 503) {
      EXPECT_EQ(acquire.Header("retry-after"), "1");
    }
    if (c.status == 504) {  // lock operations are writes; the listing is a read
      EXPECT_EQ(JsonAt(acquire.body, "/indeterminate"), "true");
      EXPECT_EQ(JsonAt(get.body, "/indeterminate"), "false");
    }
  }
  service_.FailWith(kv::ErrorCode::kNotFound);
  EXPECT_EQ(JsonAt(Call("GET", "/v1/locks/l").body, "/error/message"), "lock not found");
}

TEST_F(HttpLocksTest, LockRoutesHaveTheirOwnMetrics) {
  Call("POST", "/v1/locks/l", R"({"owner": "o"})");
  Call("GET", "/v1/locks");
  TestResponse metrics = Call("GET", "/metrics");
  for (const char* line : {"kvd_http_requests_total{route=\"lock_acquire\",status=\"200\"} 1\n",
                           "kvd_http_requests_total{route=\"lock_list\",status=\"200\"} 1\n"}) {
    EXPECT_NE(metrics.body.find(line), std::string::npos) << line << metrics.body;
  }
}

// The HTTP layer waits wait_ms longer for a waiting acquire's answer than for anything else.
TEST_F(HttpLocksTest, WaitingAcquireIsNotCutShortByTheRequestTimeout) {
  server_.reset();
  HttpOptions options;
  options.request_timeout = std::chrono::milliseconds(100);
  StartServer(options);
  service_.set_mode(FakeKvService::Mode::kHold);
  std::thread release([&] {
    service_.WaitForHeld(1);
    // Longer than the request timeout, well within wait_ms + request timeout: the node answers.
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    service_.ReleaseHeld();
  });
  TestResponse waited = Call("POST", "/v1/locks/l", R"({"owner": "o", "wait_ms": 5000})");
  release.join();
  EXPECT_EQ(waited.status, 200) << waited.body;

  // Past wait_ms + the request timeout, the outcome is unknown: 504, indeterminate.
  const auto start = std::chrono::steady_clock::now();
  TestResponse late = Call("POST", "/v1/locks/m", R"({"owner": "o", "wait_ms": 200})");
  ExpectError(late, 504, "timeout");
  EXPECT_EQ(JsonAt(late.body, "/indeterminate"), "true");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  service_.ReleaseHeld();  // dropped: already answered
}

}  // namespace
}  // namespace kvd::rpc
