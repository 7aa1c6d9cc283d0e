// Bounds of the HTTP front end against idle, slow and odd clients (rpc/http_server.h): idle
// connections at max_connections are evicted (oldest first) so a real client gets in, a header or
// body that arrives too slowly gets 408 request_timeout, HEAD replies carry no body, unknown
// routes are 404 no_route, and every 429 carries Retry-After. Real server on an OS-chosen port;
// the short timeouts are configured per test, and every wait is bounded (TestConnection: 10 s).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "rpc/http_server.h"
#include "rpc/http_test_util.h"

namespace kvd::rpc {
namespace {

using testing::FakeKvService;
using testing::JsonAt;
using testing::TestConnection;
using testing::TestResponse;
using namespace std::chrono_literals;

class HttpAbuseTest : public ::testing::Test {
 protected:
  void StartServer(HttpOptions options) {
    server_ = std::make_unique<HttpServer>(service_, options);
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
  }
  std::unique_ptr<TestConnection> Connect() {
    return std::make_unique<TestConnection>(server_->port());
  }

  FakeKvService service_;  // outlives the server
  std::unique_ptr<HttpServer> server_;
};

// 1,100 silent connections used to make 2,000 of 2,000 writes from a fresh client fail.
TEST_F(HttpAbuseTest, IdleConnectionsAtTheCapDoNotLockOutRealClients) {
  HttpOptions options;
  options.max_connections = 8;
  options.idle_timeout = 60s;  // long: eviction, not a timeout, must make room
  options.header_timeout = 60s;
  StartServer(options);
  std::vector<std::unique_ptr<TestConnection>> idle;
  for (int i = 0; i < 2 * options.max_connections; ++i) idle.push_back(Connect());
  for (int i = 0; i < 20; ++i) {
    auto client = Connect();
    TestResponse r = client->Request("PUT", "/v1/kv/k" + std::to_string(i), "v");
    ASSERT_EQ(r.status, 200) << "fresh client " << i << ": " << r.body;
  }
  EXPECT_TRUE(idle.front()->WaitForClose());  // the oldest idle connection made room
}

TEST_F(HttpAbuseTest, BusyConnectionsAreNotEvicted) {
  HttpOptions options;
  options.max_connections = 2;
  StartServer(options);
  service_.set_mode(FakeKvService::Mode::kHold);
  auto busy = Connect();
  busy->WriteRaw("PUT /v1/kv/a HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx");
  service_.WaitForHeld(1);
  auto idle = Connect();
  service_.set_mode(FakeKvService::Mode::kInline);
  auto fresh = Connect();
  EXPECT_EQ(fresh->Request("GET", "/healthz").status, 200);
  EXPECT_TRUE(idle->WaitForClose());
  service_.ReleaseHeld();
  EXPECT_EQ(busy->ReadResponse().status, 200);
}

TEST_F(HttpAbuseTest, SlowHeaderGets408) {
  HttpOptions options;
  options.header_timeout = 200ms;
  options.idle_timeout = 60s;
  StartServer(options);
  auto conn = Connect();
  conn->WriteRaw("GET /healthz HTTP/1.1\r\nHost: t\r\n");  // and never the blank line
  TestResponse r = conn->ReadResponse();
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(JsonAt(r.body, "/error/code"), "request_timeout");
  EXPECT_TRUE(conn->WaitForClose());
}

TEST_F(HttpAbuseTest, SilentFreshConnectionIsClosedAfterTheHeaderTimeout) {
  HttpOptions options;
  options.header_timeout = 200ms;
  options.idle_timeout = 60s;
  StartServer(options);
  auto conn = Connect();
  EXPECT_TRUE(conn->WaitForClose());
}

TEST_F(HttpAbuseTest, KeepAliveConnectionMayIdleLongerThanTheHeaderTimeout) {
  HttpOptions options;
  options.header_timeout = 1ms;  // would cut any wait for a next request, were it applied there
  options.idle_timeout = 60s;
  StartServer(options);
  auto conn = Connect();
  // The first request is pipelined with the connect, so it beats even this header timeout.
  conn->WriteRaw(
      "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(conn->ReadResponse().status, 200);
  EXPECT_EQ(conn->ReadResponse().status, 200);
}

TEST_F(HttpAbuseTest, SlowBodyGets408WithAJsonError) {
  HttpOptions options;
  options.request_timeout = 200ms;
  StartServer(options);
  auto conn = Connect();
  conn->WriteRaw("PUT /v1/kv/k HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  TestResponse r = conn->ReadResponse();
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(JsonAt(r.body, "/error/code"), "request_timeout");
  EXPECT_TRUE(conn->WaitForClose());
  EXPECT_EQ(Connect()->Request("GET", "/v1/kv/k").status, 404);  // nothing was written
}

TEST_F(HttpAbuseTest, HeadRepliesCarryHeadersOnly) {
  HttpOptions options;
  StartServer(options);
  service_.Seed("k", "value");
  auto conn = Connect();
  // Pipelined: a body after the HEAD reply would be read as the start of the next reply.
  conn->WriteRaw(
      "HEAD /v1/kv/k HTTP/1.1\r\nHost: t\r\n\r\n"
      "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
      "HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /v1/kv/k HTTP/1.1\r\nHost: t\r\n\r\n");
  TestResponse key = conn->ReadResponse(/*head=*/true);
  EXPECT_EQ(key.status, 200);
  EXPECT_EQ(key.Header("content-length"), "5");
  EXPECT_EQ(key.Header("x-kv-version"), "1");
  TestResponse health = conn->ReadResponse(/*head=*/true);
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(conn->ReadResponse(/*head=*/true).status, 404);
  TestResponse get = conn->ReadResponse();
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "value");
}

TEST_F(HttpAbuseTest, UnknownRouteIs404NoRoute) {
  HttpOptions options;
  StartServer(options);
  TestResponse r = Connect()->Request("GET", "/v2/kv/k");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(JsonAt(r.body, "/error/code"), "no_route");
}

TEST_F(HttpAbuseTest, Every429And503CarriesRetryAfter) {
  HttpOptions options;
  StartServer(options);
  service_.FailWith(kv::ErrorCode::kOverloaded);
  for (const char* method : {"PUT", "GET", "DELETE"}) {
    TestResponse r = Connect()->Request(method, "/v1/kv/k", "v");
    EXPECT_EQ(r.status, 429) << method;
    EXPECT_EQ(JsonAt(r.body, "/error/code"), "overloaded");
    EXPECT_EQ(r.Header("retry-after"), "1") << method;
  }
  service_.FailWith(kv::ErrorCode::kUnavailable);
  TestResponse r = Connect()->Request("GET", "/v1/kv?prefix=a");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Header("retry-after"), "1");
}

}  // namespace
}  // namespace kvd::rpc
