// The transaction routes of docs/api.md ("Transactions") end to end over a real socket, against a
// scripted service: the documented request and answer shapes, values as base64, the headers, the
// error mapping (409 conflict, 504 indeterminate), methods, the listing and metrics. The bounds
// and malformed bodies are in http_txn_bounds_test.cc.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "rpc/http_txn_fixture.h"

namespace kvd::rpc {
namespace {

using testing::JsonAt;
using testing::TestResponse;

class HttpTxnTest : public testing::HttpTxnFixture {};

constexpr const char* kDocBody = R"({"compare": [{"key": "a", "version": 3},
             {"key": "b", "value": "x"},
             {"key": "c", "exists": false}],
 "success": [{"put": {"key": "a", "value": "1"}}, {"delete": {"key": "b"}}, {"get": {"key": "c"}}],
 "failure": [{"get": {"key": "a"}}]})";

kv::TxnOpResult OpResult(kv::TxnOpType type, std::string key) {
  kv::TxnOpResult r;
  r.type = type;
  r.key = std::move(key);
  return r;
}

kv::TxnResponse DocAnswer() {
  kv::TxnResponse r;
  r.succeeded = true;
  r.revision = 812;
  r.shards = {3, 7};
  r.txn_id = "2-1f3a";
  r.directory_version = 5;
  r.results.push_back(OpResult(kv::TxnOpType::kPut, "a"));
  r.results.back().version = 4;
  r.results.push_back(OpResult(kv::TxnOpType::kDelete, "b"));
  r.results.back().deleted = true;
  r.results.push_back(OpResult(kv::TxnOpType::kGet, "c"));
  return r;
}

TEST_F(HttpTxnTest, TheDocumentedRequestAndAnswer) {
  service_.AnswerTxn(DocAnswer());
  TestResponse r = PostTxn(kDocBody);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.body,
            R"({"succeeded":true,"revision":812,"shards":[3,7],"txn_id":"2-1f3a","results":[)"
            R"({"put":{"key":"a","version":4}},{"delete":{"key":"b","deleted":true}},)"
            R"({"get":{"key":"c","found":false}}]})");
  EXPECT_EQ(r.Header("x-kv-revision"), "812");
  EXPECT_EQ(r.Header("x-kv-directory-version"), "5");

  kv::TxnRequest req = service_.last_txn();
  ASSERT_EQ(req.compare.size(), 3u);
  EXPECT_EQ(req.compare[0].key, "a");
  EXPECT_EQ(req.compare[0].target, kv::TxnCompareTarget::kVersion);
  EXPECT_EQ(req.compare[0].version, 3u);
  EXPECT_EQ(req.compare[1].key, "b");
  EXPECT_EQ(req.compare[1].target, kv::TxnCompareTarget::kValue);
  EXPECT_EQ(req.compare[1].value, "x");
  EXPECT_EQ(req.compare[2].key, "c");
  EXPECT_EQ(req.compare[2].target, kv::TxnCompareTarget::kExists);
  EXPECT_FALSE(req.compare[2].exists);
  ASSERT_EQ(req.success.size(), 3u);
  EXPECT_EQ(req.success[0].type, kv::TxnOpType::kPut);
  EXPECT_EQ(req.success[0].key, "a");
  EXPECT_EQ(req.success[0].value, "1");
  EXPECT_EQ(req.success[1].type, kv::TxnOpType::kDelete);
  EXPECT_EQ(req.success[1].key, "b");
  EXPECT_EQ(req.success[2].type, kv::TxnOpType::kGet);
  EXPECT_EQ(req.success[2].key, "c");
  ASSERT_EQ(req.failure.size(), 1u);
  EXPECT_EQ(req.failure[0].type, kv::TxnOpType::kGet);
  EXPECT_EQ(req.failure[0].key, "a");
  EXPECT_FALSE(req.fence.has_value());
  EXPECT_EQ(req.client_id, "");
  EXPECT_EQ(req.seq, 0u);
  EXPECT_EQ(req.directory_version, 0u);
}

TEST_F(HttpTxnTest, EverythingIsOptionalAndASingleShardAnswerHasNoTxnId) {
  kv::TxnResponse r;
  r.succeeded = false;
  r.revision = 9;
  r.shards = {1};
  service_.AnswerTxn(r);
  TestResponse empty = PostTxn("{}");
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(empty.body, R"({"succeeded":false,"revision":9,"shards":[1],"results":[]})");
  EXPECT_EQ(empty.Header("x-kv-directory-version"), "");  // the node had no directory
  EXPECT_EQ(PostTxn(R"({"compare": [], "success": [], "failure": []})").status, 200);
  kv::TxnRequest req = service_.last_txn();
  EXPECT_TRUE(req.compare.empty() && req.success.empty() && req.failure.empty());
}

TEST_F(HttpTxnTest, GetResultsCarryValueAndVersionOnlyWhenFound) {
  kv::TxnResponse r;
  r.succeeded = true;
  r.revision = 4;
  r.shards = {2};
  r.results.push_back(OpResult(kv::TxnOpType::kGet, "text"));
  r.results.back().found = true;
  r.results.back().value = "héllo";
  r.results.back().version = 7;
  r.results.push_back(OpResult(kv::TxnOpType::kGet, std::string("bin\xff", 4)));
  r.results.back().found = true;
  r.results.back().value = std::string("\x00\xfe\x01", 3);
  r.results.back().version = 1;
  service_.AnswerTxn(r);
  TestResponse got = PostTxn(R"({"success": [{"get": {"key": "text"}}]})");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(JsonAt(got.body, "/results/0/get/key"), "text");
  EXPECT_EQ(JsonAt(got.body, "/results/0/get/found"), "true");
  EXPECT_EQ(JsonAt(got.body, "/results/0/get/value"), "héllo");
  EXPECT_EQ(JsonAt(got.body, "/results/0/get/value_base64"), "<missing>");
  EXPECT_EQ(JsonAt(got.body, "/results/0/get/version"), "7");
  // Bytes that are not UTF-8 come as base64, as scans do (keys too).
  EXPECT_EQ(JsonAt(got.body, "/results/1/get/key"), "<missing>");
  EXPECT_EQ(JsonAt(got.body, "/results/1/get/key_base64"), "Ymlu/w==");
  EXPECT_EQ(JsonAt(got.body, "/results/1/get/value"), "<missing>");
  EXPECT_EQ(JsonAt(got.body, "/results/1/get/value_base64"), "AP4B");
}

TEST_F(HttpTxnTest, ValueBase64IsDecodedInComparesAndPuts) {
  ASSERT_EQ(PostTxn(R"({"compare": [{"key": "k", "value_base64": "AP4B"}],
                        "success": [{"put": {"key": "k", "value_base64": "/w=="}}],
                        "failure": [{"put": {"key": "k", "value": ""}}]})")
                .status,
            200);
  kv::TxnRequest req = service_.last_txn();
  ASSERT_EQ(req.compare.size(), 1u);
  EXPECT_EQ(req.compare[0].target, kv::TxnCompareTarget::kValue);
  EXPECT_EQ(req.compare[0].value, std::string("\x00\xfe\x01", 3));
  EXPECT_EQ(req.success.at(0).value, "\xff");
  EXPECT_EQ(req.failure.at(0).value, "");
}

TEST_F(HttpTxnTest, HeadersReachTheService) {
  ASSERT_EQ(PostTxn(R"({"success": [{"put": {"key": "{t}a", "value": "1"}}]})",
                    {{"Idempotency-Key", "app:1:42"},
                     {"X-Fence", "{t}lock:77"},
                     {"X-Kv-Directory-Version", "12"}})
                .status,
            200);
  kv::TxnRequest req = service_.last_txn();
  EXPECT_EQ(req.client_id, "app:1");
  EXPECT_EQ(req.seq, 42u);
  ASSERT_TRUE(req.fence.has_value());
  EXPECT_EQ(req.fence->lock, "{t}lock");
  EXPECT_EQ(req.fence->token, 77u);
  EXPECT_EQ(req.directory_version, 12u);

  const size_t before = service_.txn_count();
  const Headers bad_headers[] = {
      {{"Idempotency-Key", "no-seq"}},
      {{"Idempotency-Key", "a:1"}, {"Idempotency-Key", "a:2"}},
      {{"X-Fence", "lock"}},
      {{"X-Fence", "lock:0"}},
      {{"X-Fence", "l:1"}, {"X-Fence", "l:2"}},
      {{"X-Kv-Directory-Version", "x"}},
      {{"X-Kv-Directory-Version", "1"}, {"X-Kv-Directory-Version", "2"}},
  };
  for (const Headers& bad : bad_headers) {
    SCOPED_TRACE(bad.front().first + ": " + bad.front().second);
    ExpectError(PostTxn("{}", bad), 400, "invalid_argument");
  }
  EXPECT_EQ(service_.txn_count(), before);  // nothing refused reached the node
}

TEST_F(HttpTxnTest, ServiceErrorsMapToApiStatuses) {
  struct Case {
    kv::ErrorCode code;
    int status;
    const char* error_code;
  } cases[] = {
      {kv::ErrorCode::kConflict, 409, "conflict"},
      {kv::ErrorCode::kFenced, 409, "fenced"},
      {kv::ErrorCode::kInvalidArgument, 400, "invalid_argument"},
      {kv::ErrorCode::kOverloaded, 429, "overloaded"},
      {kv::ErrorCode::kUnavailable, 503, "unavailable"},
      {kv::ErrorCode::kTimeout, 504, "timeout"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error_code);
    kv::TxnResponse answer;
    answer.code = c.code;
    answer.message = "from the node";
    answer.directory_version = 8;
    service_.AnswerTxn(answer);
    TestResponse r = PostTxn(kDocBody);
    ExpectError(r, c.status, c.error_code);
    EXPECT_EQ(JsonAt(r.body, "/error/message"), "from the node");
    EXPECT_EQ(r.Header("x-kv-directory-version"), "8");  // errors from the node carry it too
    EXPECT_EQ(r.Header("x-kv-revision"), "");
    if (c.status == 429 || c.status == 503) {
      EXPECT_EQ(r.Header("retry-after"), "1");
    }
    if (c.status == 504) {  // a transaction is a write: its outcome is unknown
      EXPECT_EQ(JsonAt(r.body, "/indeterminate"), "true");
      EXPECT_EQ(JsonAt(r.body, "/error/indeterminate"), "true");
    }
  }
  kv::TxnResponse conflict;
  conflict.code = kv::ErrorCode::kConflict;  // no message: the default one
  service_.AnswerTxn(conflict);
  TestResponse r = PostTxn("{}");
  ExpectError(r, 409, "conflict");
  EXPECT_NE(JsonAt(r.body, "/error/message").find("nothing applied"), std::string::npos) << r.body;
}

TEST_F(HttpTxnTest, NoAnswerFromTheNodeIsAnIndeterminate504) {
  HttpOptions options;
  options.request_timeout = std::chrono::milliseconds(100);
  StartServer(options);
  service_.HoldTxns();
  TestResponse r = PostTxn(kDocBody);
  ExpectError(r, 504, "timeout");
  EXPECT_EQ(JsonAt(r.body, "/indeterminate"), "true");
  EXPECT_EQ(JsonAt(r.body, "/error/indeterminate"), "true");
}

TEST_F(HttpTxnTest, MethodsPathsAndQueries) {
  TestResponse get = Call("GET", "/v1/txn");
  ExpectError(get, 405, "method_not_allowed");
  EXPECT_EQ(get.Header("allow"), "POST");
  for (const char* method : {"PUT", "DELETE"}) {
    TestResponse r = Call(method, "/v1/txn", "{}");
    ExpectError(r, 405, "method_not_allowed");
    EXPECT_EQ(r.Header("allow"), "POST");
  }
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    TestResponse r = Call(method, "/v1/txns", "{}");
    ExpectError(r, 405, "method_not_allowed");
    EXPECT_EQ(r.Header("allow"), "GET");
  }
  ExpectError(Call("POST", "/v1/txn/x", "{}"), 404, "no_route");
  ExpectError(Call("GET", "/v1/txns/x"), 404, "no_route");
  ExpectError(Call("POST", "/v1/txnx", "{}"), 404, "no_route");
  const size_t before = service_.txn_count();
  ExpectError(Call("POST", "/v1/txn?x=1", "{}"), 400, "invalid_argument");
  ExpectError(Call("POST", "/v1/txn?limit=1", "{}"), 400, "invalid_argument");
  EXPECT_EQ(service_.txn_count(), before);
}

TEST_F(HttpTxnTest, ListDefaultsLimitsAndShape) {
  kv::TxnListResponse list;
  list.directory_version = 6;
  for (int i = 0; i < 3; ++i) {
    kv::TxnInfo t;
    t.id = "2-" + std::to_string(i);
    t.state = i == 0 ? "pending" : "committed";
    t.age_ms = 120 - i;
    t.expires_in_ms = 1880;
    t.record_shard = 3;
    t.participants = {3, 7};
    list.txns.push_back(t);
  }
  service_.AnswerTxns(list);
  TestResponse all = Call("GET", "/v1/txns");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(service_.last_txn_list().limit, 100u);
  EXPECT_EQ(all.Header("x-kv-directory-version"), "6");
  EXPECT_EQ(JsonAt(all.body, "/txns/0"),
            R"({"id":"2-0","state":"pending","age_ms":120,"expires_in_ms":1880,)"
            R"("record_shard":3,"participants":[3,7]})");
  EXPECT_EQ(JsonAt(all.body, "/txns/2/state"), "committed");
  EXPECT_EQ(JsonAt(all.body, "/more"), "false");

  TestResponse two = Call("GET", "/v1/txns?limit=2");  // a node that sent more is cut
  EXPECT_EQ(service_.last_txn_list().limit, 2u);
  EXPECT_EQ(JsonAt(two.body, "/txns/1/id"), "2-1");
  EXPECT_EQ(JsonAt(two.body, "/txns/2"), "<missing>");
  EXPECT_EQ(JsonAt(two.body, "/more"), "true");
  EXPECT_EQ(Call("GET", "/v1/txns?limit=1000").status, 200);
  EXPECT_EQ(service_.last_txn_list().limit, 1000u);
  EXPECT_EQ(Call("HEAD", "/v1/txns").status, 200);

  for (const char* bad : {"limit=0", "limit=1001", "limit=x", "limit=-1", "limit=", "after=a",
                          "limit=1&limit=2", "consistency=stale"}) {
    SCOPED_TRACE(bad);
    ExpectError(Call("GET", std::string("/v1/txns?") + bad), 400, "invalid_argument");
  }
  ExpectError(Call("GET", "/v1/txns", "", {{"X-Kv-Directory-Version", "-1"}}), 400,
              "invalid_argument");

  list.more = true;  // the node's word counts too
  list.txns.clear();
  service_.AnswerTxns(list);
  EXPECT_EQ(Call("GET", "/v1/txns").body, R"({"txns":[],"more":true})");
}

TEST_F(HttpTxnTest, ListErrorsAreReads) {
  kv::TxnListResponse failed;
  failed.code = kv::ErrorCode::kUnavailable;
  service_.AnswerTxns(failed);
  TestResponse r = Call("GET", "/v1/txns");
  ExpectError(r, 503, "unavailable");
  EXPECT_EQ(r.Header("retry-after"), "1");
  failed.code = kv::ErrorCode::kTimeout;
  service_.AnswerTxns(failed);
  TestResponse late = Call("GET", "/v1/txns");
  ExpectError(late, 504, "timeout");
  EXPECT_EQ(JsonAt(late.body, "/indeterminate"), "false");
}

TEST_F(HttpTxnTest, TxnRoutesHaveTheirOwnMetrics) {
  PostTxn("{}");
  Call("GET", "/v1/txns");
  TestResponse metrics = Call("GET", "/metrics");
  for (const char* line : {"kvd_http_requests_total{route=\"txn\",status=\"200\"} 1\n",
                           "kvd_http_requests_total{route=\"txn_list\",status=\"200\"} 1\n",
                           "kvd_http_request_duration_seconds_count{route=\"txn\"} 1\n"}) {
    EXPECT_NE(metrics.body.find(line), std::string::npos) << line << metrics.body;
  }
}

}  // namespace
}  // namespace kvd::rpc
