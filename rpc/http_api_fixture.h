// HttpApiFixture: the test fixture of the HTTP API tests (http_server_test.cc,
// http_locks_test.cc): a real HttpServer over the in-memory FakeKvService on a port the OS picks,
// and one keep-alive connection to it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rpc/http_server.h"
#include "rpc/http_test_util.h"

namespace kvd::rpc::testing {

class HttpApiFixture : public ::testing::Test {
 protected:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  void SetUp() override { StartServer(); }
  void StartServer(HttpOptions options = {}) {
    options.io_threads = 2;
    server_ = std::make_unique<HttpServer>(service_, options);
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    ASSERT_NE(server_->port(), 0);
    conn_ = std::make_unique<TestConnection>(server_->port());
  }

  TestResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", const Headers& headers = {}) {
    return conn_->Request(method, target, body, headers);
  }

  // Asserts a docs/api.md error: status, JSON {"error": {"code", "message"}}.
  static void ExpectError(const TestResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.Header("content-type"), "application/json");
    EXPECT_EQ(JsonAt(r.body, "/error/code"), code) << r.body;
    EXPECT_NE(JsonAt(r.body, "/error/message"), "<missing>") << r.body;
  }

  FakeKvService service_;  // outlives the server
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<TestConnection> conn_;
};

}  // namespace kvd::rpc::testing
