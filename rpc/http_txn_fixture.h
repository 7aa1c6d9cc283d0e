// HttpTxnFixture: the fixture of the transaction route tests (http_txn_test.cc,
// http_txn_bounds_test.cc): a real HttpServer over FakeKvService whose Txn and Txns record the
// request and answer with a scripted response (inline), or never (hold: the HTTP layer's 504).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "rpc/http_server.h"
#include "rpc/http_test_util.h"

namespace kvd::rpc::testing {

class TxnFakeService : public FakeKvService {
 public:
  void Txn(kv::TxnRequest req, std::function<void(kv::TxnResponse)> done) override {
    kv::TxnResponse answer;
    {
      std::lock_guard lock(txn_mu_);
      txn_requests_.push_back(std::move(req));
      if (hold_) {
        held_txns_.push_back(std::move(done));
        return;
      }
      answer = txn_answer_;
    }
    done(std::move(answer));
  }

  void Txns(kv::TxnListRequest req, std::function<void(kv::TxnListResponse)> done) override {
    kv::TxnListResponse answer;
    {
      std::lock_guard lock(txn_mu_);
      list_requests_.push_back(req);
      answer = list_answer_;
    }
    done(std::move(answer));
  }

  void AnswerTxn(kv::TxnResponse r) {
    std::lock_guard lock(txn_mu_);
    txn_answer_ = std::move(r);
  }
  void AnswerTxns(kv::TxnListResponse r) {
    std::lock_guard lock(txn_mu_);
    list_answer_ = std::move(r);
  }
  // Txn answers nothing from now on (the callbacks are kept and dropped with the service).
  void HoldTxns() {
    std::lock_guard lock(txn_mu_);
    hold_ = true;
  }
  size_t txn_count() const {
    std::lock_guard lock(txn_mu_);
    return txn_requests_.size();
  }
  kv::TxnRequest last_txn() const {
    std::lock_guard lock(txn_mu_);
    return txn_requests_.empty() ? kv::TxnRequest() : txn_requests_.back();
  }
  kv::TxnListRequest last_txn_list() const {
    std::lock_guard lock(txn_mu_);
    return list_requests_.empty() ? kv::TxnListRequest() : list_requests_.back();
  }

 private:
  mutable std::mutex txn_mu_;
  bool hold_ = false;                                            // GUARDED_BY(txn_mu_)
  kv::TxnResponse txn_answer_;                                   // GUARDED_BY(txn_mu_)
  kv::TxnListResponse list_answer_;                              // GUARDED_BY(txn_mu_)
  std::vector<kv::TxnRequest> txn_requests_;                     // GUARDED_BY(txn_mu_)
  std::vector<kv::TxnListRequest> list_requests_;                // GUARDED_BY(txn_mu_)
  std::vector<std::function<void(kv::TxnResponse)>> held_txns_;  // GUARDED_BY(txn_mu_)
};

class HttpTxnFixture : public ::testing::Test {
 protected:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  void SetUp() override { StartServer(); }
  void StartServer(HttpOptions options = {}) {
    server_.reset();
    options.io_threads = 2;
    server_ = std::make_unique<HttpServer>(service_, options);
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    conn_ = std::make_unique<TestConnection>(server_->port());
  }

  TestResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", const Headers& headers = {}) {
    return conn_->Request(method, target, body, headers);
  }
  TestResponse PostTxn(const std::string& body, const Headers& headers = {}) {
    return Call("POST", "/v1/txn", body, headers);
  }

  // Asserts a docs/api.md error: status, JSON {"error": {"code", "message"}}.
  static void ExpectError(const TestResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.Header("content-type"), "application/json");
    EXPECT_EQ(JsonAt(r.body, "/error/code"), code) << r.body;
    EXPECT_NE(JsonAt(r.body, "/error/message"), "<missing>") << r.body;
  }

  TxnFakeService service_;  // outlives the server
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<TestConnection> conn_;
};

}  // namespace kvd::rpc::testing
