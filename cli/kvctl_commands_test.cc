// kvctl commands beyond get: put/cas/del request shapes, scan paging and output, cluster status.
#include <gtest/gtest.h>

#include <map>
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

Outcome Kvctl(const FakeHttpServer& server, std::vector<std::string> args,
              std::string stdin_text = "") {
  args.insert(args.begin(), {"kvctl", "--endpoints", server.endpoint()});
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  KvctlEnv env{in, out, err, std::nullopt, false};
  int code = RunKvctl(static_cast<int>(argv.size()), argv.data(), env);
  return {code, out.str(), err.str()};
}

FakeReply Written() { return FakeReply::Json(200, R"({"version": 3, "revision": 12})"); }

TEST(KvctlPut, ValueFromArgumentStdinOrFile) {
  FakeHttpServer server([](const FakeRequest&) { return Written(); });
  EXPECT_EQ(Kvctl(server, {"put", "k", "v1", "--if-version", "0"}).code, kExitOk);
  EXPECT_EQ(Kvctl(server, {"put", "k", "-"}, "from\nstdin").code, kExitOk);
  EXPECT_EQ(Kvctl(server, {"put", "k", "--file", "-"}, "file stdin").code, kExitOk);
  Outcome json = Kvctl(server, {"put", "k", "-o", "json", "--", "-x"});
  EXPECT_EQ(json.code, kExitOk) << json.err;
  Outcome missing = Kvctl(server, {"put", "k", "--file", "/nonexistent/value"});
  EXPECT_EQ(missing.code, kExitError);
  EXPECT_EQ(missing.err.rfind("kvctl: cannot open value file /nonexistent/value: ", 0), 0u);
  auto requests = RequestsBesidesDirectory(server);
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].target, "/v1/kv/k?if_version=0");
  EXPECT_EQ(requests[0].body, "v1");
  EXPECT_EQ(requests[1].body, "from\nstdin");
  EXPECT_EQ(requests[2].body, "file stdin");
  EXPECT_EQ(requests[3].body, "-x");
}

TEST(KvctlPut, JsonOutputAndIdempotencyKey) {
  FakeHttpServer server([](const FakeRequest&) {
    FakeReply r = Written();
    r.headers.push_back({"X-Kv-Shard", "4"});
    return r;
  });
  Outcome o = Kvctl(server, {"-o", "json", "put", "k", "v", "--idempotency-key", "w1:7"});
  EXPECT_EQ(o.code, kExitOk);
  EXPECT_EQ(o.out, "{\"key\": \"k\", \"version\": 3, \"revision\": 12, \"shard\": 4}\n");
  EXPECT_EQ(RequestsBesidesDirectory(server)[0].HeaderValue("Idempotency-Key"), "w1:7");
}

TEST(KvctlCas, SendsExpectedVersionAndMismatchIsOne) {
  FakeHttpServer server([](const FakeRequest&) {
    return FakeReply::Json(
        412, R"({"error": {"code": "version_mismatch", "message": "m", "current_version": 5}})");
  });
  Outcome o = Kvctl(server, {"cas", "k", "4", "new"});
  EXPECT_EQ(o.code, kExitNotFound);
  EXPECT_EQ(o.err, "kvctl: version mismatch on \"k\" (current version 5); nothing was changed\n");
  EXPECT_EQ(RequestsBesidesDirectory(server)[0].target, "/v1/kv/k?if_version=4");
  EXPECT_EQ(RequestsBesidesDirectory(server)[0].body, "new");
}

TEST(KvctlDel, DeletedIsZeroAbsentIsOne) {
  FakeHttpServer server([](const FakeRequest& req) {
    bool exists = req.target.find("present") != std::string::npos;
    return FakeReply::Json(
        200, std::string(R"({"deleted": )") + (exists ? "true" : "false") + R"(, "revision": 9})");
  });
  Outcome ok = Kvctl(server, {"del", "present", "--if-version", "2"});
  EXPECT_EQ(ok.code, kExitOk);
  EXPECT_EQ(ok.out, "deleted revision=9\n");
  Outcome absent = Kvctl(server, {"del", "absent"});
  EXPECT_EQ(absent.code, kExitNotFound);
  EXPECT_EQ(absent.err, "kvctl: key \"absent\" not found (nothing deleted)\n");
  EXPECT_EQ(RequestsBesidesDirectory(server)[0].method, "DELETE");
  EXPECT_EQ(RequestsBesidesDirectory(server)[0].target, "/v1/kv/present?if_version=2");
}

// Serves a fixed sorted key space two items per page, honouring prefix and after.
FakeReply ScanPage(const FakeRequest& req) {
  static const std::map<std::string, std::string> kData = {
      {"a", "0"}, {"p/1", "one"}, {"p/2", "tw\to"}, {"p/3", "three"}, {"p/4", "four"}, {"q", "9"}};
  auto param = [&](const std::string& name) {
    size_t at = req.target.find(name + "=");
    if (at == std::string::npos) return std::string();
    std::string raw = req.target.substr(at + name.size() + 1);
    raw = raw.substr(0, raw.find('&'));
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '%') {
        out.push_back(static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(raw[i]);
      }
    }
    return out;
  };
  const std::string prefix = param("prefix"), after = param("after"), limit = param("limit");
  size_t max = std::min<size_t>(2, limit.empty() ? 2 : std::stoul(limit));
  std::string items;
  size_t n = 0;
  bool more = false;
  for (auto it = kData.upper_bound(after); it != kData.end(); ++it) {
    if (it->first.rfind(prefix, 0) != 0) continue;
    if (n == max) {
      more = true;
      break;
    }
    items += std::string(n++ ? ", " : "") + R"({"key": ")" + it->first + R"(", "value": ")" +
             (it->second == "tw\to" ? "tw\\to" : it->second) + R"(", "version": 1, "revision": 5})";
  }
  return FakeReply::Json(
      200, R"({"items": [)" + items + R"(], "more": )" + (more ? "true" : "false") + "}");
}

TEST(KvctlScan, FollowsMoreUntilDone) {
  FakeHttpServer server(ScanPage);
  Outcome o = Kvctl(server, {"scan", "--prefix", "p/"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_EQ(o.out, "p/1\tone\np/2\ttw\\to\np/3\tthree\np/4\tfour\n");
  EXPECT_EQ(o.err, "");
  EXPECT_EQ(server.requests().size(), 2u);  // pages of 2; the second says no more
  EXPECT_EQ(server.requests()[1].target, "/v1/kv?prefix=p%2F&after=p%2F2");
}

TEST(KvctlScan, LimitStopsAndSaysHowToContinue) {
  FakeHttpServer server(ScanPage);
  Outcome text = Kvctl(server, {"scan", "--prefix", "p/", "--limit", "3"});
  EXPECT_EQ(text.code, kExitOk);
  EXPECT_EQ(text.out, "p/1\tone\np/2\ttw\\to\np/3\tthree\n");
  EXPECT_EQ(text.err, "kvctl: more keys follow; continue with --after \"p/3\"\n");
  Outcome json = Kvctl(server, {"-o", "json", "scan", "--after", "p/2", "--limit", "1"});
  EXPECT_EQ(json.out,
            "{\"items\": [\n  {\"key\": \"p/3\", \"value\": \"three\", \"version\": 1, "
            "\"revision\": 5}\n], \"more\": true}\n");
  Outcome empty = Kvctl(server, {"-o", "json", "scan", "--prefix", "zzz"});
  EXPECT_EQ(empty.out, "{\"items\": [], \"more\": false}\n");
}

TEST(KvctlCluster, StatusTableMarksLeaders) {
  const std::string body = R"({"node_id": 1, "directory_version": 4, "nodes": [
      {"id": 1, "peer_address": "127.0.0.1:7001", "http_address": "127.0.0.1:8001", "up": true},
      {"id": 2, "peer_address": "127.0.0.1:7002", "http_address": "127.0.0.1:8002", "up": false}],
      "shards": [{"id": 0, "replicas": [1, 2], "leader": 1, "term": 3, "commit_index": 10,
                  "applied_index": 10},
                 {"id": 1, "replicas": [1, 2], "leader": 0, "term": 2}]})";
  FakeHttpServer server([&](const FakeRequest&) { return FakeReply::Json(200, body); });
  Outcome text = Kvctl(server, {"cluster", "status"});
  EXPECT_EQ(text.code, kExitOk) << text.err;
  EXPECT_EQ(text.out, "node 1 (" + server.endpoint() +
                          ") answered; directory version 4\n\n"
                          "NODE  HTTP            PEER            STATUS  LEADS\n"
                          "1     127.0.0.1:8001  127.0.0.1:7001  up      0\n"
                          "2     127.0.0.1:8002  127.0.0.1:7002  down    -\n\n"
                          "SHARD  LEADER  TERM  COMMIT  APPLIED  REPLICAS (*leader)\n"
                          "0      1       3     10      10       1*,2\n"
                          "1      none    2     0       0        1,2\n\n"
                          "directory: unavailable (" +
                          server.endpoint() + ": malformed directory)\n");
  Outcome json = Kvctl(server, {"cluster", "status", "-o", "json"});
  EXPECT_EQ(json.out, body + "\n");
}

}  // namespace
}  // namespace kvd::cli
