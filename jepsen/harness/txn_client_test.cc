// Copyright (c) kvd authors.
//
// The harness's transaction client (txn_client.h): the request's JSON, the answer's parsing
// (docs/api.md "Transactions" example), and how answers become outcomes.

#include "jepsen/harness/txn_client.h"

#include <gtest/gtest.h>

#include <string>

namespace kvd::jepsen {
namespace {

using lincheck::Outcome;

TEST(TxnClientTest, BuildsTheRequestBody) {
  TxnRequest req;
  req.compare.push_back({"a", 3, std::nullopt, std::nullopt});
  req.compare.push_back({"b", std::nullopt, "x", std::nullopt});
  req.compare.push_back({"c", std::nullopt, std::nullopt, false});
  req.success.push_back({TxnOpType::kPut, "a", "1,2"});
  req.success.push_back({TxnOpType::kDelete, "b", ""});
  req.success.push_back({TxnOpType::kGet, "c", ""});
  req.failure.push_back({TxnOpType::kGet, std::string("\xff", 1), ""});
  EXPECT_EQ(TxnRequestJson(req),
            "{\"compare\":[{\"key\":\"a\",\"version\":3},{\"key\":\"b\",\"value\":\"x\"},"
            "{\"key\":\"c\",\"exists\":false}],\"success\":[{\"put\":{\"key\":\"a\",\"value\":"
            "\"1,2\"}},{\"delete\":{\"key\":\"b\"}},{\"get\":{\"key\":\"c\"}}],\"failure\":["
            "{\"get\":{\"key_base64\":\"/w==\"}}]}");
}

TEST(TxnClientTest, ParsesTheDocumentedAnswer) {
  TxnAnswer a;
  std::string error;
  ASSERT_TRUE(ParseTxnAnswer(
      R"({"succeeded": true, "revision": 812, "shards": [3, 7], "txn_id": "2-1f3a",
          "results": [{"put": {"key": "a", "version": 4}},
                      {"delete": {"key": "b", "deleted": true}},
                      {"get": {"key": "c", "found": false}},
                      {"get": {"key": "d", "found": true, "value_base64": "/w==", "version": 2}}]})",
      &a, &error))
      << error;
  EXPECT_TRUE(a.parsed);
  EXPECT_TRUE(a.succeeded);
  EXPECT_EQ(a.revision, 812u);
  EXPECT_EQ(a.shards, (std::vector<uint64_t>{3, 7}));
  EXPECT_EQ(a.txn_id, "2-1f3a");
  ASSERT_EQ(a.results.size(), 4u);
  EXPECT_EQ(a.results[0].type, TxnOpType::kPut);
  EXPECT_EQ(a.results[0].version, 4u);
  EXPECT_TRUE(a.results[1].found);
  EXPECT_FALSE(a.results[2].found);
  EXPECT_FALSE(a.results[2].value.has_value());
  EXPECT_EQ(a.results[3].value, std::string("\xff", 1));
  EXPECT_EQ(a.results[3].version, 2u);

  EXPECT_FALSE(ParseTxnAnswer("{\"revision\": 1}", &a, &error));
  EXPECT_FALSE(ParseTxnAnswer("[]", &a, &error));
  EXPECT_FALSE(
      ParseTxnAnswer(R"({"succeeded": true, "results": [{"get": {"key": "c"}}]})", &a, &error));
}

TxnAnswer Answer(int status, const std::string& body = "", std::string code = "") {
  TxnAnswer a;
  a.http.transport = rpc::Transport::kOk;
  a.http.status = status;
  a.http.body = body;
  a.http.error_code = std::move(code);
  a.http.indeterminate = status == 504;
  if (status == 200) {
    std::string error;
    ParseTxnAnswer(body, &a, &error);
  }
  return a;
}

Outcome Classified(const TxnAnswer& a, std::string* error = nullptr) {
  HistoryOp op;
  op.f = "txn";
  ClassifyTxn(a, op);
  if (error != nullptr) *error = op.error;
  return op.outcome;
}

TEST(TxnClientTest, ClassifiesAnswersAsTheContractDefinesThem) {
  std::string error;
  const TxnAnswer ok = Answer(200, R"({"succeeded": true, "revision": 9, "shards": [1, 2]})");
  HistoryOp op;
  ClassifyTxn(ok, op);
  EXPECT_EQ(op.outcome, Outcome::kOk);
  EXPECT_EQ(op.txn_shards, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(op.revision, 9u);
  EXPECT_EQ(Classified(Answer(200, R"({"succeeded": false, "shards": [1]})"), &error),
            Outcome::kFail);
  EXPECT_EQ(error, "200 compare failed");
  EXPECT_EQ(Classified(Answer(200, "not json")), Outcome::kUnknown);
  EXPECT_EQ(Classified(Answer(409, "", "conflict")), Outcome::kFail);
  EXPECT_EQ(Classified(Answer(412, "", "version_mismatch")), Outcome::kFail);
  EXPECT_EQ(Classified(Answer(503, "", "unavailable")), Outcome::kFail);
  EXPECT_EQ(Classified(Answer(429, "", "overloaded")), Outcome::kFail);
  EXPECT_EQ(Classified(Answer(504, "", "timeout")), Outcome::kUnknown);
  EXPECT_EQ(Classified(Answer(500, "", "internal")), Outcome::kUnknown);
  TxnAnswer lost;
  lost.http.transport = rpc::Transport::kTimeout;
  EXPECT_EQ(Classified(lost), Outcome::kUnknown);
  TxnAnswer refused;
  refused.http.transport = rpc::Transport::kConnectFailed;
  EXPECT_EQ(Classified(refused), Outcome::kFail);
  TxnAnswer after_unknown = Answer(503, "", "unavailable");
  after_unknown.http.indeterminate = true;  // the client's earlier attempt may have applied
  EXPECT_EQ(Classified(after_unknown), Outcome::kUnknown);
  EXPECT_TRUE(TxnRouteMissing(Answer(404, "", "no_route")));
  EXPECT_FALSE(TxnRouteMissing(ok));
}

}  // namespace
}  // namespace kvd::jepsen
