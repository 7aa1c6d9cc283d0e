// kvctl ring, locate and the directory part of cluster status, against a fake server serving a
// fixed directory (4 shards x 8 vnodes over 3 nodes); and smart routing of get/put/del.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "cli/kvctl.h"
#include "rpc/client_fake_server.h"

namespace kvd::cli {
namespace {

using rpc::testing::FakeHttpServer;
using rpc::testing::FakeReply;
using rpc::testing::FakeRequest;

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome Kvctl(const std::string& endpoint, std::vector<std::string> args) {
  args.insert(args.begin(), {"kvctl", "--endpoints", endpoint, "--retries", "0"});
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::istringstream in;
  std::ostringstream out, err;
  KvctlEnv env{in, out, err, std::nullopt, false};
  int code = RunKvctl(static_cast<int>(argv.size()), argv.data(), env);
  return {code, out.str(), err.str()};
}

// Shard 3 has no leader yet; node 3 has no http address in the directory.
std::string FixedDirectory(const std::string& node1_http = "127.0.0.1:8001") {
  return R"({"version": 12, "vnodes_per_shard": 8, "replication": 3, "hash": "xxh3-64",
    "meta": {"shard": 0, "voters": [1, 2, 3]},
    "nodes": [{"id": 1, "http_address": ")" +
         node1_http + R"(", "peer_address": "127.0.0.1:7001", "up": true},
              {"id": 2, "http_address": "127.0.0.1:8002", "peer_address": "127.0.0.1:7002",
               "up": true},
              {"id": 3, "http_address": "", "peer_address": "127.0.0.1:7003", "up": false}],
    "shards": [{"id": 1, "replicas": [1, 2, 3], "leader": 1, "leader_term": 4, "keys": 100,
                "hash_share": 0.25},
               {"id": 2, "replicas": [2, 3, 1], "leader": 2, "leader_term": 2, "keys": 300,
                "hash_share": 0.25},
               {"id": 3, "replicas": [3, 1, 2], "leader": 0, "leader_term": 0, "keys": 0,
                "hash_share": 0.25},
               {"id": 4, "replicas": [1, 3, 2], "leader": 1, "leader_term": 7, "keys": 200,
                "hash_share": 0.25}]})";
}

FakeReply ServeDirectory(const FakeRequest& req) {
  if (req.target == "/v1/directory") return FakeReply::Json(200, FixedDirectory());
  return FakeReply::Error(404, "no_route", "no such route");
}

// Checked independently of kv::Ring: XXH3-64 of the 12-byte vnode keys, sorted, for shards 1-4.
constexpr const char* kRingTable =
    "SHARD  FIRST POINT         HASH SHARE  KEYS  KEY SHARE  LEADER  REPLICAS (*leader)\n"
    "1      0x1a8b7f73cc2324ff  30.84%      100   16.67%     1       1*,2,3\n"
    "2      0x236d325e2e9b3ce5  29.78%      300   50.00%     2       2*,3,1\n"
    "4      0x2f7906eadde20b89  23.08%      200   33.33%     1       1*,3,2\n"
    "3      0x4e9f5654704b1bcc  16.30%      0     0.00%      none    3,1,2\n"
    "4 shards x 8 vnodes = 32 points; imbalance (max/mean): hash share 1.23, keys 2.00; "
    "directory version 12\n";

TEST(KvctlRing, ShardsInRingOrderWithSharesAndImbalance) {
  FakeHttpServer server(ServeDirectory);
  Outcome o = Kvctl(server.endpoint(), {"ring"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_EQ(o.out, kRingTable);
  EXPECT_EQ(o.err, "");
}

TEST(KvctlRing, PointsListsTheArcsAndTheFirstWraps) {
  FakeHttpServer server(ServeDirectory);
  Outcome o = Kvctl(server.endpoint(), {"ring", "--points", "--max-points", "5"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_EQ(o.out, std::string(kRingTable) +
                       "\n"
                       "START               END                 SHARD\n"
                       "0xfc5572306230c834  0x1a8b7f73cc2324ff  1\n"
                       "0x1a8b7f73cc232500  0x236d325e2e9b3ce5  2\n"
                       "0x236d325e2e9b3ce6  0x2646da5cde954f8f  1\n"
                       "0x2646da5cde954f90  0x2f7906eadde20b89  4\n"
                       "0x2f7906eadde20b8a  0x440bd97a98699aae  1\n"
                       "(first 5 of 32 arcs; --max-points 0 lists all)\n");
  Outcome all = Kvctl(server.endpoint(), {"ring", "--points"});
  EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\n'), 6 + 2 + 32);
}

TEST(KvctlRing, JsonOutput) {
  FakeHttpServer server(ServeDirectory);
  Outcome o = Kvctl(server.endpoint(), {"ring", "-o", "json", "--points", "--max-points", "2"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_EQ(
      o.out,
      "{\"version\": 12, \"vnodes_per_shard\": 8, \"shards\": [\n"
      "  {\"id\": 1, \"first_point\": \"0x1a8b7f73cc2324ff\", \"hash_share\": 0.308360, "
      "\"keys\": 100, \"key_share\": 0.166667, \"leader\": 1, \"replicas\": [1, 2, 3]},\n"
      "  {\"id\": 2, \"first_point\": \"0x236d325e2e9b3ce5\", \"hash_share\": 0.297805, "
      "\"keys\": 300, \"key_share\": 0.500000, \"leader\": 2, \"replicas\": [2, 3, 1]},\n"
      "  {\"id\": 4, \"first_point\": \"0x2f7906eadde20b89\", \"hash_share\": 0.230822, "
      "\"keys\": 200, \"key_share\": 0.333333, \"leader\": 1, \"replicas\": [1, 3, 2]},\n"
      "  {\"id\": 3, \"first_point\": \"0x4e9f5654704b1bcc\", \"hash_share\": 0.163013, "
      "\"keys\": 0, \"key_share\": 0.000000, \"leader\": 0, \"replicas\": [3, 1, 2]}\n"
      "], \"imbalance\": {\"hash_share\": 1.2334, \"keys\": 2.0000}, \"arcs\": [\n"
      "  {\"start\": \"0xfc5572306230c834\", \"end\": \"0x1a8b7f73cc2324ff\", \"shard\": 1},\n"
      "  {\"start\": \"0x1a8b7f73cc232500\", \"end\": \"0x236d325e2e9b3ce5\", \"shard\": 2}\n"
      "], \"arcs_total\": 32}\n");
}

TEST(KvctlLocate, KeyAndTaggedKey) {
  FakeHttpServer server(ServeDirectory);
  Outcome plain = Kvctl(server.endpoint(), {"locate", "user:42"});
  EXPECT_EQ(plain.code, kExitOk) << plain.err;
  EXPECT_EQ(plain.out,
            "key:        user:42\n"
            "hash part:  user:42 (whole key)\n"
            "hash:       0x9fc1e605fa7174aa\n"
            "shard:      4\n"
            "replicas:   1*,3,2\n"
            "leader:     1 (127.0.0.1:8001)\n"
            "directory:  version 12\n");
  Outcome tagged = Kvctl(server.endpoint(), {"locate", "{user:42}.mail"});
  EXPECT_EQ(tagged.out,
            "key:        {user:42}.mail\n"
            "hash part:  user:42 ({tag})\n"
            "hash:       0x9fc1e605fa7174aa\n"
            "shard:      4\n"
            "replicas:   1*,3,2\n"
            "leader:     1 (127.0.0.1:8001)\n"
            "directory:  version 12\n");
  Outcome json = Kvctl(server.endpoint(), {"locate", "-o", "json", "{user:42}.mail"});
  EXPECT_EQ(json.out,
            "{\"key\": \"{user:42}.mail\", \"hash_part\": \"user:42\", \"hash\": "
            "\"0x9fc1e605fa7174aa\", \"shard\": 4, \"replicas\": [1, 3, 2], \"leader\": 1, "
            "\"leader_http_address\": \"127.0.0.1:8001\", \"directory_version\": 12}\n");
}

TEST(KvctlLocate, ShardWithoutALeader) {
  FakeHttpServer server(ServeDirectory);
  // Find a key of shard 3 (no leader) by trying a few: locate tells which shard each is in.
  for (int i = 0; i < 100; ++i) {
    Outcome o = Kvctl(server.endpoint(), {"locate", "k" + std::to_string(i)});
    ASSERT_EQ(o.code, kExitOk) << o.err;
    if (o.out.find("shard:      3\n") == std::string::npos) continue;
    EXPECT_NE(o.out.find("replicas:   3,1,2\nleader:     none\n"), std::string::npos) << o.out;
    return;
  }
  FAIL() << "no key of shard 3 among k0..k99";
}

TEST(KvctlDirectoryErrors, UnknownDirectoryIsAClearMessageAndExitThree) {
  FakeHttpServer server([](const FakeRequest&) {
    return FakeReply::Error(503, "unavailable", "this node does not know the directory yet");
  });
  for (const char* command : {"ring", "locate"}) {
    std::vector<std::string> args = {command};
    if (std::string(command) == "locate") args.push_back("k");
    Outcome o = Kvctl(server.endpoint(), args);
    EXPECT_EQ(o.code, kExitUnavailable);
    EXPECT_EQ(o.out, "");
    EXPECT_EQ(o.err, "kvctl: the cluster's directory is not known yet at " + server.endpoint() +
                         " (unavailable: this node does not know the directory yet); retry "
                         "later\n");
  }
}

TEST(KvctlDirectoryErrors, OlderServersAndBadDirectoriesAreErrors) {
  FakeHttpServer old(
      [](const FakeRequest&) { return FakeReply::Error(404, "no_route", "no such route"); });
  Outcome o = Kvctl(old.endpoint(), {"ring"});
  EXPECT_EQ(o.code, kExitError);
  EXPECT_EQ(o.err,
            "kvctl: " + old.endpoint() + " serves no directory (404 no_route on /v1/directory)\n");

  FakeHttpServer bad([](const FakeRequest&) {
    return FakeReply::Json(200, R"({"version": 3, "vnodes_per_shard": 0, "shards": [{"id": 1}]})");
  });
  o = Kvctl(bad.endpoint(), {"locate", "k"});
  EXPECT_EQ(o.code, kExitError);
  EXPECT_EQ(o.err.rfind("kvctl: bad response: directory version 3 from " + bad.endpoint() +
                            " makes no ring (",
                        0),
            0u)
      << o.err;

  FakeHttpServer md5([](const FakeRequest&) {
    return FakeReply::Json(200, R"({"version": 3, "vnodes_per_shard": 8, "hash": "md5",
                                    "shards": [{"id": 1}]})");
  });
  o = Kvctl(md5.endpoint(), {"ring"});
  EXPECT_EQ(o.code, kExitError);
  EXPECT_EQ(o.err,
            "kvctl: the directory hashes keys with \"md5\", which this kvctl does not know (it "
            "knows xxh3-64)\n");
}

TEST(KvctlCluster, StatusListsEveryShardOfTheDirectory) {
  const std::string cluster = R"({"node_id": 2, "directory_version": 12, "nodes": [
      {"id": 2, "peer_address": "127.0.0.1:7002", "http_address": "127.0.0.1:8002", "up": true}],
      "shards": [{"id": 2, "replicas": [2, 3, 1], "leader": 2, "term": 5, "commit_index": 9,
                  "applied_index": 9, "role": "leader"}]})";
  FakeHttpServer server([&](const FakeRequest& req) {
    if (req.target == "/v1/directory") return FakeReply::Json(200, FixedDirectory());
    return FakeReply::Json(200, cluster);
  });
  Outcome o = Kvctl(server.endpoint(), {"cluster", "status"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_EQ(o.out, "node 2 (" + server.endpoint() +
                       ") answered; directory version 12\n\n"
                       "NODE  HTTP            PEER            STATUS  LEADS\n"
                       "2     127.0.0.1:8002  127.0.0.1:7002  up      2\n\n"
                       "SHARD  LEADER  TERM  COMMIT  APPLIED  REPLICAS (*leader)\n"
                       "2      2       5     9       9        2*,3,1\n\n"
                       "directory version 12: 4 shards, 8 vnodes per shard, replication 3; TERM "
                       "as node 2 knows it\n"
                       "SHARD  LEADER  TERM  KEYS  REPLICAS (*leader)\n"
                       "1      1       -     100   1*,2,3\n"
                       "2      2       5     300   2*,3,1\n"
                       "3      none    -     0     3,1,2\n"
                       "4      1       -     200   1*,3,2\n");
}

// get/put/del go straight to the key's shard leader with the directory version; scans do not.
TEST(KvctlSmartRouting, KeyCommandsGoToTheShardLeader) {
  FakeHttpServer leader([](const FakeRequest& req) {
    FakeReply r = req.method == "GET"
                      ? FakeReply::Json(200, "")
                      : FakeReply::Json(200, R"({"version": 1, "revision": 2, "deleted": true})");
    r.headers.push_back({"X-Kv-Directory-Version", "12"});
    return r;
  });
  FakeHttpServer entry([&](const FakeRequest& req) {
    if (req.target == "/v1/directory")
      return FakeReply::Json(200, FixedDirectory(leader.endpoint()));
    return FakeReply::Json(200, R"({"items": [], "more": false})");
  });
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"put", "user:42", "v"}, {"get", "user:42"}, {"del", "{user:42}.mail"}}) {
    Outcome o = Kvctl(entry.endpoint(), args);
    EXPECT_EQ(o.code, kExitOk) << o.err;
  }
  EXPECT_EQ(Kvctl(entry.endpoint(), {"scan"}).code, kExitOk);
  std::vector<FakeRequest> routed = leader.requests();
  ASSERT_EQ(routed.size(), 3u);
  EXPECT_EQ(routed[0].method + " " + routed[0].target, "PUT /v1/kv/user%3A42");
  EXPECT_EQ(routed[1].method + " " + routed[1].target, "GET /v1/kv/user%3A42");
  EXPECT_EQ(routed[2].method + " " + routed[2].target, "DELETE /v1/kv/%7Buser%3A42%7D.mail");
  for (const FakeRequest& r : routed) EXPECT_EQ(r.HeaderValue("X-Kv-Directory-Version"), "12");
  std::vector<FakeRequest> at_entry = entry.requests();
  ASSERT_EQ(at_entry.size(), 4u);  // one directory fetch per kvctl run, then the scan
  EXPECT_EQ(at_entry[3].target, "/v1/kv?prefix=");
}

}  // namespace
}  // namespace kvd::cli
