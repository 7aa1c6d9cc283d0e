// kvctl txn and txn list in-process against a scripted fake server: the flags form and the file
// form (-f FILE, -f -), what is sent, the output, and the exit codes.
#include "cli/kvctl_txn.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/kvctl.h"
#include "rpc/client_fake_server.h"

namespace kvd::cli {
namespace {

using rpc::testing::FakeHttpServer;
using rpc::testing::FakeReply;
using rpc::testing::FakeRequest;
using rpc::testing::RequestsBesidesDirectory;

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome Kvctl(const std::string& endpoint, std::vector<std::string> args,
              const std::string& stdin_text = "") {
  args.insert(args.begin(), {"kvctl", "--endpoints", endpoint, "--retries", "0"});
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  KvctlEnv env{in, out, err, std::nullopt, false};
  int code = RunKvctl(static_cast<int>(argv.size()), argv.data(), env);
  return {code, out.str(), err.str()};
}

constexpr const char* kCommitted =
    R"({"succeeded":true,"revision":812,"shards":[3,7],"txn_id":"2-1f3a","results":[)"
    R"({"put":{"key":"a","version":4}},{"delete":{"key":"b","deleted":true}},)"
    R"({"get":{"key":"c","found":false}}]})";
constexpr const char* kElseRan =
    R"({"succeeded":false,"revision":813,"shards":[3],"results":[)"
    R"({"get":{"key":"a","found":true,"value":"x y\n","version":3}}]})";

// A server that answers every transaction with `reply` (the directory: 503, so nothing is routed).
FakeHttpServer::Handler Answer(FakeReply reply) {
  return [reply](const FakeRequest& req) {
    if (req.target == "/v1/directory") return FakeReply::Error(503, "unavailable", "none");
    return reply;
  };
}

TEST(KvctlTxnParse, CompareForms) {
  std::string error;
  auto version = ParseTxnCompare("a version=3", &error);
  ASSERT_TRUE(version.has_value()) << error;
  EXPECT_EQ(version->key, "a");
  EXPECT_EQ(version->target, rpc::TxnCompare::Target::kVersion);
  EXPECT_EQ(version->version, 3u);
  auto value = ParseTxnCompare("k=1 value=x = y ", &error);  // VALUE is the rest, as is
  ASSERT_TRUE(value.has_value()) << error;
  EXPECT_EQ(value->key, "k=1");
  EXPECT_EQ(value->target, rpc::TxnCompare::Target::kValue);
  EXPECT_EQ(value->value, "x = y ");
  EXPECT_EQ(ParseTxnCompare("k value=", &error)->value, "");
  auto exists = ParseTxnCompare("c exists=false", &error);
  ASSERT_TRUE(exists.has_value());
  EXPECT_EQ(exists->target, rpc::TxnCompare::Target::kExists);
  EXPECT_FALSE(exists->exists);
  EXPECT_TRUE(ParseTxnCompare("c exists=true", &error)->exists);
  EXPECT_EQ(ParseTxnCompare("a version=18446744073709551615", &error)->version,
            18446744073709551615u);
  for (const char* bad : {"", "a", "a version", " a version=1", "a version=-1", "a version=x",
                          "a version=", "a version=18446744073709551616", "a exists=yes",
                          "a exists", "a size=3", "a  version=1"}) {
    error.clear();
    EXPECT_FALSE(ParseTxnCompare(bad, &error).has_value()) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(KvctlTxnParse, OpForms) {
  std::string error;
  auto put = ParseTxnOp("put a hello world ", &error);
  ASSERT_TRUE(put.has_value()) << error;
  EXPECT_EQ(put->type, rpc::TxnOpType::kPut);
  EXPECT_EQ(put->key, "a");
  EXPECT_EQ(put->value, "hello world ");
  EXPECT_EQ(ParseTxnOp("put a ", &error)->value, "");
  EXPECT_EQ(ParseTxnOp("del b", &error)->type, rpc::TxnOpType::kDelete);
  EXPECT_EQ(ParseTxnOp("delete b", &error)->key, "b");
  auto get = ParseTxnOp("get {t}c", &error);
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->type, rpc::TxnOpType::kGet);
  EXPECT_EQ(get->key, "{t}c");
  for (const char* bad : {"", "put", "put a", "put  a 1", "get", "get ", "get a b", "del a b",
                          "incr a", "PUT a 1", " get a"}) {
    error.clear();
    EXPECT_FALSE(ParseTxnOp(bad, &error).has_value()) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(KvctlTxn, FlagsFormSendsTheDocumentedBodyAndPrintsTheResults) {
  FakeHttpServer server(Answer(FakeReply::Json(200, kCommitted)));
  Outcome o = Kvctl(server.endpoint(),
                    {"txn", "--if", "a version=3", "--if", "b value=x", "--if", "c exists=false",
                     "--then", "put a 1", "--then", "del b", "--then", "get c", "--else", "get a"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_EQ(o.out,
            "succeeded revision=812 shards=3,7 txn_id=2-1f3a\n"
            "put a version=4\n"
            "del b deleted=true\n"
            "get c not found\n");
  auto requests = RequestsBesidesDirectory(server);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/v1/txn");
  EXPECT_EQ(requests[0].body,
            R"({"compare":[{"key":"a","version":3},{"key":"b","value":"x"},)"
            R"({"key":"c","exists":false}],"success":[{"put":{"key":"a","value":"1"}},)"
            R"({"delete":{"key":"b"}},{"get":{"key":"c"}}],"failure":[{"get":{"key":"a"}}]})");
  EXPECT_EQ(requests[0].HeaderValue("Idempotency-Key").rfind("kvctl-", 0), 0u);  // its own key
  EXPECT_EQ(requests[0].HeaderValue("X-Fence"), "");

  Outcome json = Kvctl(server.endpoint(), {"-o", "json", "txn", "--then", "get c"});
  EXPECT_EQ(json.code, kExitOk);
  EXPECT_EQ(json.out, std::string(kCommitted) + "\n");
}

TEST(KvctlTxn, FileFormSendsTheBodyAsIs) {
  FakeHttpServer server(Answer(FakeReply::Json(200, kCommitted)));
  const std::string body =
      "{\"success\": [{\"put\": {\"key\": \"a\", \"value_base64\": \"/w==\"}}]}\n";
  char path[] = "/tmp/kvctl_txn_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << body;
  Outcome file = Kvctl(server.endpoint(),
                       {"txn", "-f", path, "--idempotency-key", "app:7", "--fence", "jobs:9"});
  std::remove(path);
  EXPECT_EQ(file.code, kExitOk) << file.err;
  Outcome stdin_form = Kvctl(server.endpoint(), {"txn", "--file", "-"}, body);
  EXPECT_EQ(stdin_form.code, kExitOk) << stdin_form.err;
  auto requests = RequestsBesidesDirectory(server);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].body, body);
  EXPECT_EQ(requests[0].HeaderValue("Idempotency-Key"), "app:7");
  EXPECT_EQ(requests[0].HeaderValue("X-Fence"), "jobs:9");
  EXPECT_EQ(requests[1].body, body);

  Outcome missing = Kvctl(server.endpoint(), {"txn", "-f", "/nonexistent/txn.json"});
  EXPECT_EQ(missing.code, kExitError);
  EXPECT_NE(missing.err.find("cannot open transaction file"), std::string::npos) << missing.err;
}

TEST(KvctlTxn, FailedComparesExitZeroUnlessSuccessIsRequired) {
  FakeHttpServer server(Answer(FakeReply::Json(200, kElseRan)));
  const std::vector<std::string> args = {"txn", "--if", "a version=9", "--else", "get a"};
  Outcome o = Kvctl(server.endpoint(), args);
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_EQ(o.out,
            "failed (the compares did not hold; the --else ops ran) revision=813 shards=3\n"
            "get a version=3 value=x y\\n\n");
  std::vector<std::string> required = args;
  required.push_back("--require-success");
  Outcome strict = Kvctl(server.endpoint(), required);
  EXPECT_EQ(strict.code, kExitNotFound);
  EXPECT_EQ(strict.out, o.out);  // the results are still printed
  EXPECT_NE(strict.err.find("compares did not hold"), std::string::npos) << strict.err;
}

TEST(KvctlTxn, ErrorExitCodes) {
  struct Case {
    FakeReply reply;
    int code;
    const char* says;
  } cases[] = {
      {FakeReply::Error(409, "conflict", "intents"), kExitNotFound, "transaction conflict"},
      {FakeReply::Error(409, "fenced", "stale"), kExitNotFound, "transaction fenced"},
      {FakeReply::Error(503, "unavailable", "no leader"), kExitUnavailable, "unavailable"},
      {FakeReply::Json(504, R"({"error": {"code": "timeout", "message": "late"},
          "indeterminate": true})"),
       kExitUnknownOutcome, "may or may not have committed"},
      {FakeReply::Error(400, "invalid_argument", "bad op"), kExitError, "400"},
      {FakeReply::Error(413, "too_large", "big"), kExitError, "413"},
      {FakeReply::Json(200, R"({"revision": 1})"), kExitUnknownOutcome, "malformed"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.says);
    FakeHttpServer server(Answer(c.reply));
    Outcome o = Kvctl(server.endpoint(), {"txn", "--then", "put a 1"});
    EXPECT_EQ(o.code, c.code) << o.err;
    EXPECT_NE(o.err.find(c.says), std::string::npos) << o.err;
    EXPECT_EQ(o.out, "");
  }
  FakeHttpServer hang([](const FakeRequest& req) {
    if (req.target == "/v1/directory") return FakeReply::Error(503, "unavailable", "none");
    return FakeReply::Hang();
  });
  Outcome late = Kvctl(hang.endpoint(), {"--timeout", "200ms", "txn", "--then", "put a 1"});
  EXPECT_EQ(late.code, kExitUnknownOutcome) << late.err;
  Outcome down = Kvctl(rpc::testing::RefusingEndpoint(), {"txn", "--then", "get a"});
  EXPECT_EQ(down.code, kExitUnavailable) << down.err;
}

TEST(KvctlTxn, UsageErrors) {
  FakeHttpServer server(Answer(FakeReply::Json(200, kCommitted)));
  const std::vector<std::vector<std::string>> bad = {
      {"txn"},
      {"txn", "-f", "x.json", "--then", "get a"},
      {"txn", "--if", "a"},
      {"txn", "--then", "incr a"},
      {"txn", "--else", "put a"},
      {"txn", "--then", "get a", "--idempotency-key", "nope"},
      {"txn", "--then", "get a", "--fence", "lock"},
      {"txn", "list", "--limit", "0"},
      {"txn", "list", "--limit", "1001"},
      {"txn", "--then", "get a", "list"},
      {"txn", "list", "extra"},
  };
  for (const auto& args : bad) {
    SCOPED_TRACE(args.back());
    Outcome o = Kvctl(server.endpoint(), args);
    EXPECT_EQ(o.code, kExitUsage) << o.err;
  }
  EXPECT_TRUE(RequestsBesidesDirectory(server).empty());
  Outcome help = Kvctl(server.endpoint(), {"txn", "--help"});
  EXPECT_EQ(help.code, kExitOk);
  EXPECT_NE(help.out.find("--if 'KEY version=N'"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--require-success"), std::string::npos);
}

TEST(KvctlTxn, ListPrintsTheInDoubtTransactions) {
  const std::string listing =
      R"({"txns": [{"id": "2-1f3a", "state": "pending", "age_ms": 120, "expires_in_ms": 1880,
          "record_shard": 3, "participants": [3, 7]},
         {"id": "5-0b", "state": "committed", "age_ms": 9, "expires_in_ms": 0,
          "record_shard": 5, "participants": [5, 1, 2]}], "more": true})";
  FakeHttpServer server([&](const FakeRequest&) { return FakeReply::Json(200, listing); });
  Outcome o = Kvctl(server.endpoint(), {"txn", "list", "--limit", "2"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_EQ(o.out,
            "ID      STATE      AGE_MS  EXPIRES_IN_MS  RECORD_SHARD  PARTICIPANTS\n"
            "2-1f3a  pending    120     1880           3             3,7\n"
            "5-0b    committed  9       0              5             5,1,2\n");
  EXPECT_NE(o.err.find("more in-doubt transactions"), std::string::npos);
  EXPECT_EQ(server.requests().at(0).target, "/v1/txns?limit=2");
  Outcome json = Kvctl(server.endpoint(), {"-o", "json", "txn", "list"});
  EXPECT_EQ(json.out, listing + "\n");
  EXPECT_EQ(server.requests().at(1).target, "/v1/txns");

  FakeHttpServer down([](const FakeRequest&) { return FakeReply::Error(503, "unavailable", "x"); });
  EXPECT_EQ(Kvctl(down.endpoint(), {"txn", "list"}).code, kExitUnavailable);
}

}  // namespace
}  // namespace kvd::cli
