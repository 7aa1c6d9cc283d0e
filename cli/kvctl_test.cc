// kvctl end to end in-process: argv in, exit code and output out, against a scripted fake server
// on an OS-chosen port (rpc/client_fake_server.h).
#include "cli/kvctl.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "rpc/client_fake_server.h"

namespace kvd::cli {
namespace {

using rpc::testing::FakeHttpServer;
using rpc::testing::FakeReply;
using rpc::testing::FakeRequest;
using rpc::testing::RefusingEndpoint;
using rpc::testing::RequestsBesidesDirectory;

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome Kvctl(std::vector<std::string> args, std::optional<std::string> env_endpoints = {},
              std::string stdin_text = "") {
  args.insert(args.begin(), "kvctl");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  KvctlEnv env{in, out, err, std::move(env_endpoints), false};
  int code = RunKvctl(static_cast<int>(argv.size()), argv.data(), env);
  return {code, out.str(), err.str()};
}

FakeReply Value(std::string body) {
  FakeReply r;
  r.body = std::move(body);
  r.headers = {{"X-Kv-Version", "2"}, {"X-Kv-Revision", "11"}, {"X-Kv-Shard", "1"}};
  return r;
}

FakeReply Written() { return FakeReply::Json(200, R"({"version": 3, "revision": 12})"); }

TEST(KvctlGet, PrintsValueBytesInTextAndFieldsInJson) {
  FakeHttpServer server([](const FakeRequest&) { return Value("hello"); });
  Outcome text = Kvctl({"--endpoints", server.endpoint(), "get", "k"});
  EXPECT_EQ(text.code, kExitOk) << text.err;
  EXPECT_EQ(text.out, "hello");
  Outcome json = Kvctl({"--endpoints", server.endpoint(), "get", "k", "-o", "json", "--stale"});
  EXPECT_EQ(json.code, kExitOk);
  EXPECT_EQ(json.out, R"({"key": "k", "value": "hello", "version": 2, "revision": 11, "shard": 1})"
                      "\n");
  EXPECT_EQ(RequestsBesidesDirectory(server)[1].target, "/v1/kv/k?consistency=stale");
}

TEST(KvctlGet, BinaryValueIsBase64InJson) {
  FakeHttpServer server([](const FakeRequest&) { return Value(std::string("\xff\x00", 2)); });
  Outcome json = Kvctl({"--endpoints", server.endpoint(), "-o", "json", "get", "k"});
  EXPECT_NE(json.out.find(R"("value_base64": "/wA=")"), std::string::npos) << json.out;
}

TEST(KvctlGet, OddKeysArePercentEncoded) {
  FakeHttpServer server([](const FakeRequest&) { return Value("v"); });
  for (std::string key : {"a b/c", "ключ", "100%?#&+"}) {
    EXPECT_EQ(Kvctl({"--endpoints", server.endpoint(), "get", key}).code, kExitOk);
  }
  auto requests = RequestsBesidesDirectory(server);
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].target, "/v1/kv/a%20b%2Fc");
  EXPECT_EQ(requests[1].target, "/v1/kv/%D0%BA%D0%BB%D1%8E%D1%87");
  EXPECT_EQ(requests[2].target, "/v1/kv/100%25%3F%23%26%2B");
}

TEST(KvctlExitCodes, NotFoundIsOne) {
  FakeHttpServer server(
      [](const FakeRequest&) { return FakeReply::Error(404, "not_found", "no such key"); });
  Outcome o = Kvctl({"--endpoints", server.endpoint(), "get", "missing"});
  EXPECT_EQ(o.code, kExitNotFound);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, "kvctl: key \"missing\" not found\n");
}

TEST(KvctlExitCodes, UnavailableIsThree) {
  FakeHttpServer server(
      [](const FakeRequest&) { return FakeReply::Error(503, "no_leader", "electing"); });
  Outcome o = Kvctl({"--endpoints", server.endpoint(), "--retries", "0", "put", "k", "v"});
  EXPECT_EQ(o.code, kExitUnavailable);
  EXPECT_EQ(o.err,
            "kvctl: cluster unavailable at " + server.endpoint() +
                " (no_leader: electing) after 1 attempt; nothing was applied, retry later\n");
}

TEST(KvctlExitCodes, GatewayTimeoutIsFourAndNotRetried) {
  FakeHttpServer server(
      [](const FakeRequest&) { return FakeReply::Error(504, "timeout", "not confirmed"); });
  Outcome o = Kvctl({"--endpoints", server.endpoint(), "put", "k", "v"});
  EXPECT_EQ(o.code, kExitUnknownOutcome);
  EXPECT_NE(o.err.find("kvctl: outcome unknown on \"k\""), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("may or may not have been applied"), std::string::npos);
  EXPECT_EQ(RequestsBesidesDirectory(server).size(), 1u);
}

TEST(KvctlExitCodes, NoAnswerWithinTimeoutIsFour) {
  FakeHttpServer server([](const FakeRequest&) { return FakeReply::Hang(); });
  Outcome o =
      Kvctl({"--endpoints", server.endpoint(), "--timeout", "100ms", "--retries", "0", "get", "k"});
  EXPECT_EQ(o.code, kExitUnknownOutcome);
  EXPECT_EQ(o.err, "kvctl: no answer on \"k\": " + server.endpoint() +
                       ": no response within 100 ms; retry or raise --timeout\n");
}

TEST(KvctlExitCodes, UnreachableIsThreeWithOneLine) {
  std::string dead = RefusingEndpoint();
  Outcome o = Kvctl({"--endpoints", dead, "get", "k"});
  EXPECT_EQ(o.code, kExitUnavailable);
  EXPECT_EQ(o.err, "kvctl: cannot reach any endpoint (" + dead +
                       ": connection refused); set --endpoints or KVCTL_ENDPOINTS\n");
}

TEST(KvctlExitCodes, ServerErrorIsFive) {
  FakeHttpServer server(
      [](const FakeRequest&) { return FakeReply::Error(413, "too_large", "value over 1 MiB"); });
  Outcome o = Kvctl({"--endpoints", server.endpoint(), "put", "k", "v"});
  EXPECT_EQ(o.code, kExitError);
  EXPECT_EQ(o.err, "kvctl: server error 413 from " + server.endpoint() +
                       " (too_large: value over 1 MiB)\n");
}

TEST(KvctlEndpoints, FailsOverToTheSecondEndpoint) {
  FakeHttpServer server([](const FakeRequest&) { return Written(); });
  Outcome o = Kvctl({"--endpoints", RefusingEndpoint() + "," + server.endpoint(), "put", "k", "v"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_EQ(o.out, "OK version=3 revision=12\n");
}

TEST(KvctlEndpoints, EnvironmentIsTheDefaultAndTheFlagWins) {
  FakeHttpServer server([](const FakeRequest&) { return Value("v"); });
  EXPECT_EQ(Kvctl({"get", "k"}, server.endpoint()).code, kExitOk);
  EXPECT_EQ(Kvctl({"--endpoints", RefusingEndpoint(), "get", "k"}, server.endpoint()).code,
            kExitUnavailable);
  EXPECT_EQ(RequestsBesidesDirectory(server).size(), 1u);
}

TEST(KvctlUsage, BadInvocationsAreTwo) {
  const std::string ep = "--endpoints=127.0.0.1:1";
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{},
                                             {"frobnicate"},
                                             {"get"},
                                             {ep, "put", "k"},
                                             {ep, "put", "k", "v", "--file", "f"},
                                             {ep, "--timeout", "soon", "get", "k"},
                                             {ep, "--timeout", "nan", "get", "k"},
                                             {ep, "--timeout", "5h", "get", "k"},
                                             {ep, "-o", "yaml", "get", "k"},
                                             {ep, "put", "k", "v", "--idempotency-key", "nocolon"},
                                             {ep, "cas", "k", "notanumber", "v"},
                                             {"--endpoints", "localhost", "get", "k"},
                                             {ep, "scan", "--limit", "0"},
                                             {ep, "cluster"}}) {
    Outcome o = Kvctl(args);
    EXPECT_EQ(o.code, kExitUsage) << testing::PrintToString(args) << " " << o.err;
    EXPECT_EQ(o.err.rfind("kvctl: ", 0), 0u) << o.err;
  }
}

TEST(KvctlUsage, HelpListsExitCodes) {
  Outcome o = Kvctl({"--help"});
  EXPECT_EQ(o.code, kExitOk);
  EXPECT_NE(o.out.find("Exit codes:"), std::string::npos);
  EXPECT_NE(o.out.find("KVCTL_ENDPOINTS"), std::string::npos);
  EXPECT_EQ(Kvctl({"put", "--help"}).code, kExitOk);
}

}  // namespace
}  // namespace kvd::cli
