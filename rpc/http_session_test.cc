// Connection behaviour of the HTTP front end: keep-alive, pipelining, body and header limits
// (decided before the body is read), late and missing service answers, the connection limit,
// malformed input and a prompt Stop().
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "rpc/http_server.h"
#include "rpc/http_test_util.h"

namespace kvd::rpc {
namespace {

using testing::FakeKvService;
using testing::JsonAt;
using testing::TestConnection;
using testing::TestResponse;

class HttpSessionTest : public ::testing::Test {
 protected:
  void StartServer(HttpOptions options = {}) {
    server_ = std::make_unique<HttpServer>(service_, options);
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
  }

  HttpOptions SmallBodyOptions() {
    HttpOptions options;
    options.max_body_bytes = 1024;
    return options;
  }

  std::unique_ptr<TestConnection> Connect() {
    return std::make_unique<TestConnection>(server_->port());
  }

  FakeKvService service_;  // outlives the server
  std::unique_ptr<HttpServer> server_;
};

std::string Put(const std::string& key, const std::string& value) {
  return "PUT /v1/kv/" + key +
         " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(value.size()) + "\r\n\r\n" +
         value;
}

std::string Get(const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

TEST_F(HttpSessionTest, KeepAliveServesManyRequestsOnOneConnection) {
  StartServer();
  auto conn = Connect();
  for (int i = 0; i < 20; ++i) {
    std::string key = "k" + std::to_string(i);
    ASSERT_EQ(conn->Request("PUT", "/v1/kv/" + key, key).status, 200);
    TestResponse get = conn->Request("GET", "/v1/kv/" + key);
    EXPECT_EQ(get.body, key);
    EXPECT_NE(get.Header("connection"), "close");
  }
  TestResponse metrics = conn->Request("GET", "/metrics");
  EXPECT_NE(metrics.body.find("kvd_http_connections_active 1\n"), std::string::npos)
      << metrics.body;
}

TEST_F(HttpSessionTest, PipelinedRequestsAreAnsweredInOrder) {
  service_.set_mode(FakeKvService::Mode::kThread);  // answers arrive on another thread
  StartServer();
  auto conn = Connect();
  conn->WriteRaw(Put("p", "one") + Get("/v1/kv/p") + Get("/v1/kv/missing") + Put("p", "two") +
                 Get("/v1/kv/p") + "DELETE /v1/kv/p HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(JsonAt(conn->ReadResponse().body, "/version"), "1");
  EXPECT_EQ(conn->ReadResponse().body, "one");
  EXPECT_EQ(conn->ReadResponse().status, 404);
  EXPECT_EQ(JsonAt(conn->ReadResponse().body, "/version"), "2");
  EXPECT_EQ(conn->ReadResponse().body, "two");
  EXPECT_EQ(JsonAt(conn->ReadResponse().body, "/deleted"), "true");
}

TEST_F(HttpSessionTest, LateAnswerFromAnotherThreadIsDelivered) {
  service_.set_mode(FakeKvService::Mode::kHold);
  StartServer();
  auto conn = Connect();
  conn->WriteRaw(Put("k", "v"));
  service_.WaitForHeld(1);
  std::thread node([&] { service_.ReleaseHeld(); });
  node.join();
  TestResponse r = conn->ReadResponse();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(JsonAt(r.body, "/version"), "1");
}

TEST_F(HttpSessionTest, SlowServiceTimesOutWith504AndLateAnswersAreDropped) {
  HttpOptions options;
  options.request_timeout = std::chrono::milliseconds(200);
  service_.set_mode(FakeKvService::Mode::kHold);
  StartServer(options);
  auto conn = Connect();

  TestResponse put = conn->Request("PUT", "/v1/kv/k", "v");
  EXPECT_EQ(put.status, 504);
  EXPECT_EQ(JsonAt(put.body, "/error/code"), "timeout");
  EXPECT_EQ(JsonAt(put.body, "/indeterminate"), "true");  // the write may yet be applied
  TestResponse get = conn->Request("GET", "/v1/kv/k");
  EXPECT_EQ(get.status, 504);
  EXPECT_EQ(JsonAt(get.body, "/indeterminate"), "false");

  service_.ReleaseHeld();  // both answers arrive late
  service_.set_mode(FakeKvService::Mode::kInline);
  TestResponse after = conn->Request("GET", "/v1/kv/k?consistency=stale");
  EXPECT_EQ(after.status, 200);  // this request's answer, not a late one
  EXPECT_EQ(after.body, "v");
  EXPECT_EQ(conn->Request("GET", "/healthz").status, 200);
}

TEST_F(HttpSessionTest, OversizedBodyIs413BeforeTheBodyIsRead) {
  StartServer(SmallBodyOptions());
  auto conn = Connect();
  // Announces 1 MiB and sends only 100 bytes of it: the answer must not wait for the rest.
  conn->WriteRaw("PUT /v1/kv/big HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n" +
                 std::string(100, 'x'));
  TestResponse r = conn->ReadResponse();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(JsonAt(r.body, "/error/code"), "too_large");
  EXPECT_EQ(r.Header("connection"), "close");
  EXPECT_TRUE(conn->WaitForClose());
  EXPECT_EQ(service_.last_write().key, "");  // never reached the service
}

TEST_F(HttpSessionTest, OversizedBodyWithExpectContinueIs413WithoutContinue) {
  StartServer(SmallBodyOptions());
  auto conn = Connect();
  conn->WriteRaw(
      "PUT /v1/kv/big HTTP/1.1\r\nHost: t\r\nContent-Length: 2048\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(conn->ReadResponse().status, 413);
  EXPECT_TRUE(conn->WaitForClose());
}

TEST_F(HttpSessionTest, ExpectContinueIsHonoured) {
  StartServer(SmallBodyOptions());
  auto conn = Connect();
  conn->WriteRaw(
      "PUT /v1/kv/k HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(conn->ReadResponse().status, 100);
  conn->WriteRaw("hello");
  EXPECT_EQ(conn->ReadResponse().status, 200);
  EXPECT_EQ(conn->Request("GET", "/v1/kv/k").body, "hello");
}

TEST_F(HttpSessionTest, ChunkedBodiesAreBoundedToo) {
  StartServer(SmallBodyOptions());
  auto conn = Connect();
  const std::string chunk = "258\r\n" + std::string(600, 'c') + "\r\n";  // 0x258 = 600
  conn->WriteRaw("PUT /v1/kv/k HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk +
                 chunk + "0\r\n\r\n");
  TestResponse r = conn->ReadResponse();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(JsonAt(r.body, "/error/code"), "too_large");
  EXPECT_TRUE(conn->WaitForClose());

  auto small = Connect();
  small->WriteRaw("PUT /v1/kv/k HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk +
                  "0\r\n\r\n");
  EXPECT_EQ(small->ReadResponse().status, 200);
  EXPECT_EQ(service_.last_write().value, std::string(600, 'c'));
}

TEST_F(HttpSessionTest, BodyExactlyAtTheLimitIsAccepted) {
  StartServer(SmallBodyOptions());
  auto conn = Connect();
  EXPECT_EQ(conn->Request("PUT", "/v1/kv/k", std::string(1024, 'x')).status, 200);
  EXPECT_EQ(conn->Request("PUT", "/v1/kv/k", std::string(1025, 'x')).status, 413);
}

TEST_F(HttpSessionTest, OversizedHeaderIs431) {
  StartServer();
  auto conn = Connect();
  conn->WriteRaw("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20000, 'a') +
                 "\r\n\r\n");
  TestResponse r = conn->ReadResponse();
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(JsonAt(r.body, "/error/code"), "too_large");
  EXPECT_TRUE(conn->WaitForClose());
}

TEST_F(HttpSessionTest, GarbageIs400AndClosesTheConnection) {
  StartServer();
  for (const std::string& garbage :
       {std::string("NOT HTTP AT ALL\r\n\r\n"), std::string("GET / HTTP/9.9\r\n\r\n"),
        std::string("\x00\xff\x16\x03\x01 binary\r\n\r\n", 16),
        std::string("PUT /v1/kv/k HTTP/1.1\r\nContent-Length: abc\r\n\r\n")}) {
    auto conn = Connect();
    conn->WriteRaw(garbage);
    TestResponse r = conn->ReadResponse();
    EXPECT_EQ(r.status, 400) << garbage;
    EXPECT_EQ(JsonAt(r.body, "/error/code"), "invalid_argument");
    EXPECT_TRUE(conn->WaitForClose());
  }
  EXPECT_EQ(Connect()->Request("GET", "/healthz").status, 200);  // still serving
}

TEST_F(HttpSessionTest, Http10ConnectionClosesAfterTheResponse) {
  StartServer();
  auto conn = Connect();
  conn->WriteRaw("GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(conn->ReadResponse().status, 200);
  EXPECT_TRUE(conn->WaitForClose());
}

TEST_F(HttpSessionTest, ConnectionsOverTheLimitGet429WhenNoneIsIdle) {
  HttpOptions options;
  options.max_connections = 1;
  StartServer(options);
  service_.set_mode(FakeKvService::Mode::kHold);
  auto first = Connect();
  first->WriteRaw(Put("busy", "v"));  // accepted, counted, and not idle: its request is pending
  service_.WaitForHeld(1);
  auto second = Connect();
  TestResponse r = second->Request("GET", "/healthz");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(JsonAt(r.body, "/error/code"), "overloaded");
  EXPECT_EQ(r.Header("retry-after"), "1");
  EXPECT_TRUE(second->WaitForClose());
  service_.ReleaseHeld();
  EXPECT_EQ(first->ReadResponse().status, 200);
}

TEST_F(HttpSessionTest, ConcurrentClientsWithAnswersFromAnotherThread) {
  service_.set_mode(FakeKvService::Mode::kThread);
  StartServer();
  std::vector<std::thread> clients;
  std::vector<int> failures(4, 0);
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      TestConnection conn(server_->port());
      for (int i = 0; i < 25; ++i) {
        std::string key = "c" + std::to_string(c) + "-" + std::to_string(i);
        if (conn.Request("PUT", "/v1/kv/" + key, key).status != 200) ++failures[c];
        if (conn.Request("GET", "/v1/kv/" + key).body != key) ++failures[c];
      }
    });
  }
  for (auto& t : clients) t.join();
  for (int c = 0; c < 4; ++c) EXPECT_EQ(failures[c], 0) << "client " << c;
}

TEST_F(HttpSessionTest, StopIsPromptWithOpenConnectionsAndIgnoresLateAnswers) {
  service_.set_mode(FakeKvService::Mode::kHold);
  StartServer();  // default timeouts: 10 s per request, 60 s idle
  auto idle = Connect();
  ASSERT_EQ(idle->Request("GET", "/healthz").status, 200);
  auto waiting1 = Connect();
  auto waiting2 = Connect();
  waiting1->WriteRaw(Put("a", "1"));
  waiting2->WriteRaw(Get("/v1/kv/a"));
  service_.WaitForHeld(2);
  auto silent = Connect();  // connected, nothing sent

  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  server_->Stop();  // idempotent
  for (auto* conn : {idle.get(), waiting1.get(), waiting2.get(), silent.get()}) {
    EXPECT_TRUE(conn->WaitForClose());
  }
  server_.reset();
  service_.ReleaseHeld();  // answers for a server that is gone: ignored, no crash
}

TEST_F(HttpSessionTest, StartAndStopMisuseIsHarmless) {
  HttpServer never_started(service_, {});
  never_started.Stop();
  EXPECT_EQ(never_started.port(), 0);

  StartServer();
  std::string error;
  EXPECT_FALSE(server_->Start(&error));
  EXPECT_NE(error, "");

  HttpOptions taken;
  taken.port = server_->port();
  HttpServer clash(service_, taken);
  EXPECT_FALSE(clash.Start(&error));
  EXPECT_NE(error.find("failed"), std::string::npos) << error;
}

}  // namespace
}  // namespace kvd::rpc
