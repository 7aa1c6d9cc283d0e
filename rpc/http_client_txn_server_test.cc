// HttpClient's transaction calls against the real HttpServer over a scripted service: both sides
// of the wire agree (compares, ops, bytes that are not UTF-8, headers, results, the listing, the
// 409 conflict).
#include <gtest/gtest.h>

#include <string>

#include "rpc/http_client.h"
#include "rpc/http_server.h"
#include "rpc/http_txn_fixture.h"

namespace kvd::rpc {
namespace {

TEST(HttpClientTxnServer, BothSidesOfTheWireAgree) {
  testing::TxnFakeService service;
  HttpServer server(service, HttpOptions{});
  ASSERT_TRUE(server.Start());
  ClientOptions options;
  options.endpoints = {"127.0.0.1:" + std::to_string(server.port())};
  options.client_id = "c1";
  HttpClient client(options);

  kv::TxnResponse answer;
  answer.succeeded = true;
  answer.revision = 40;
  answer.shards = {2, 5};
  answer.txn_id = "1-ab";
  kv::TxnOpResult get;
  get.type = kv::TxnOpType::kGet;
  get.key = "{t}k";
  get.found = true;
  get.value = std::string("\x00\xff", 2);
  get.version = 6;
  answer.results.push_back(get);
  service.AnswerTxn(answer);

  const std::string binary("\x01\xfe\x00", 3);
  TxnRequest txn;
  txn.compare.push_back({"{t}k", TxnCompare::Target::kValue, 0, binary, false});
  txn.compare.push_back({"{t}j", TxnCompare::Target::kVersion, 18446744073709551615u, "", false});
  txn.compare.push_back({"é", TxnCompare::Target::kExists, 0, "", true});
  txn.success.push_back({TxnOpType::kGet, "{t}k", ""});
  txn.success.push_back({TxnOpType::kPut, "{t}j", binary});
  txn.failure.push_back({TxnOpType::kDelete, "é", ""});
  TxnResult r = client.Txn(txn, std::nullopt, LockFence{"{t}lock", 3});
  ASSERT_TRUE(r.ok()) << r.status << " " << r.error_message << r.transport_error;

  kv::TxnRequest got = service.last_txn();
  ASSERT_EQ(got.compare.size(), 3u);
  EXPECT_EQ(got.compare[0].target, kv::TxnCompareTarget::kValue);
  EXPECT_EQ(got.compare[0].value, binary);
  EXPECT_EQ(got.compare[1].version, 18446744073709551615u);
  EXPECT_EQ(got.compare[2].key, "é");
  EXPECT_TRUE(got.compare[2].exists);
  ASSERT_EQ(got.success.size(), 2u);
  EXPECT_EQ(got.success[1].type, kv::TxnOpType::kPut);
  EXPECT_EQ(got.success[1].value, binary);
  ASSERT_EQ(got.failure.size(), 1u);
  EXPECT_EQ(got.failure[0].type, kv::TxnOpType::kDelete);
  EXPECT_EQ(got.client_id, "c1");
  EXPECT_EQ(got.seq, 1u);
  ASSERT_TRUE(got.fence.has_value());
  EXPECT_EQ(got.fence->lock, "{t}lock");

  EXPECT_TRUE(r.succeeded);
  EXPECT_EQ(r.revision, 40u);
  EXPECT_EQ(r.shards, (std::vector<uint64_t>{2, 5}));
  EXPECT_EQ(r.txn_id, "1-ab");
  ASSERT_EQ(r.results.size(), 1u);
  EXPECT_EQ(r.results[0].key, "{t}k");
  EXPECT_EQ(r.results[0].value, std::string("\x00\xff", 2));
  EXPECT_TRUE(r.results[0].value_was_base64);
  EXPECT_EQ(r.results[0].version, 6u);

  kv::TxnResponse conflict;
  conflict.code = kv::ErrorCode::kConflict;
  service.AnswerTxn(conflict);
  TxnResult refused = client.Txn(txn);
  EXPECT_EQ(refused.status, 409);
  EXPECT_EQ(refused.error_code, "conflict");
  EXPECT_EQ(client.TxnJson(R"({"compare": 1})").error_code, "invalid_argument");

  kv::TxnListResponse list;
  kv::TxnInfo info;
  info.id = "1-ab";
  info.state = "aborted";
  info.age_ms = 7;
  info.record_shard = 2;
  info.participants = {2, 5};
  list.txns = {info, info};
  service.AnswerTxns(list);
  TxnListResult listed = client.TxnList(1);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(service.last_txn_list().limit, 1u);
  ASSERT_EQ(listed.txns.size(), 1u);
  EXPECT_EQ(listed.txns[0].state, "aborted");
  EXPECT_EQ(listed.txns[0].participants, (std::vector<uint64_t>{2, 5}));
  EXPECT_TRUE(listed.more);
}

}  // namespace
}  // namespace kvd::rpc
