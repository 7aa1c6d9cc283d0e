// Copyright (c) kvd authors.
//
// Unit tests of the harness's pure parts: outcome classification, conversion to checker input,
// key rotation, partition topologies, and the self-contained report. The runs against real
// processes are the ctest tests jepsen_* (label integration).

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "jepsen/checker/checker.h"
#include "jepsen/harness/history.h"
#include "jepsen/harness/local_cluster.h"
#include "jepsen/harness/report.h"
#include "jepsen/harness/shard_check.h"
#include "jepsen/harness/topology.h"
#include "jepsen/harness/workload.h"

namespace kvd::jepsen {
namespace {

using lincheck::Outcome;

rpc::Result Answer(int status, std::string code = "") {
  rpc::Result r;
  r.transport = rpc::Transport::kOk;
  r.status = status;
  r.error_code = std::move(code);
  return r;
}

Outcome ClassifyAs(const std::string& f, const rpc::Result& r, bool* mismatch = nullptr) {
  HistoryOp op;
  op.f = f;
  Classify(r, op);
  if (mismatch != nullptr) *mismatch = op.cas_mismatch;
  return op.outcome;
}

TEST(ClassifyTest, MapsAnswersToOutcomesAsTheApiDefinesThem) {
  EXPECT_EQ(ClassifyAs("write", Answer(200)), Outcome::kOk);
  EXPECT_EQ(ClassifyAs("read", Answer(404, "not_found")), Outcome::kOk);
  EXPECT_EQ(ClassifyAs("write", Answer(503, "no_leader")), Outcome::kFail);
  EXPECT_EQ(ClassifyAs("write", Answer(429, "overloaded")), Outcome::kFail);
  bool mismatch = false;
  EXPECT_EQ(ClassifyAs("cas", Answer(412, "version_mismatch"), &mismatch), Outcome::kFail);
  EXPECT_TRUE(mismatch);
  EXPECT_EQ(ClassifyAs("cas", Answer(503), &mismatch), Outcome::kFail);
  EXPECT_FALSE(mismatch);
  rpc::Result timeout = Answer(504, "timeout");
  timeout.indeterminate = true;
  EXPECT_EQ(ClassifyAs("write", timeout), Outcome::kUnknown);
  EXPECT_EQ(ClassifyAs("write", Answer(500)), Outcome::kUnknown);
  rpc::Result lost;
  lost.transport = rpc::Transport::kTimeout;
  EXPECT_EQ(ClassifyAs("write", lost), Outcome::kUnknown);
  rpc::Result refused;
  refused.transport = rpc::Transport::kConnectFailed;
  EXPECT_EQ(ClassifyAs("write", refused), Outcome::kFail);
}

HistoryOp Op(std::string f, std::optional<std::string> value, Outcome outcome, int64_t call,
             int64_t ret) {
  HistoryOp op;
  op.f = std::move(f);
  op.key = "r/0";
  op.value = value;
  op.outcome = outcome;
  op.call_ns = call;
  op.ret_ns = ret;
  return op;
}

TEST(ToCheckerOpsTest, KeepsComparisonFailuresAndDropsRefusedCas) {
  HistoryOp mismatch = Op("cas", "b", Outcome::kFail, 0, 1);
  mismatch.expected = "a";
  mismatch.cas_mismatch = true;
  HistoryOp refused = mismatch;
  refused.cas_mismatch = false;
  HistoryOp add = Op("add", "1", Outcome::kOk, 0, 1);
  auto ops = ToCheckerOps({mismatch, refused, add});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].type, lincheck::OpType::kCas);
  EXPECT_EQ(ops[0].expected, "a");
}

TEST(ToCheckerOpsTest, AStaleReadAfterAnAcknowledgedWriteIsInvalid) {
  HistoryOp w1 = Op("write", "1", Outcome::kOk, 0, 10);
  HistoryOp w2 = Op("write", "2", Outcome::kOk, 20, 30);
  HistoryOp read = Op("read", std::nullopt, Outcome::kOk, 40, 50);
  read.result = "1";
  auto bad = lincheck::Check(ToCheckerOps({w1, w2, read}), {});
  EXPECT_EQ(bad.verdict, lincheck::Verdict::kInvalid);
  read.result = "2";
  EXPECT_EQ(lincheck::Check(ToCheckerOps({w1, w2, read}), {}).verdict, lincheck::Verdict::kValid);
}

TEST(KeyPoolTest, RetiresAKeyAfterItsOperations) {
  KeyPool pool(/*active=*/2, /*ops_per_key=*/10);
  std::map<std::string, int> uses;
  for (int i = 0; i < 200; ++i) uses[pool.Next(static_cast<uint64_t>(i) * 7919)]++;
  for (const auto& [key, n] : uses) EXPECT_LE(n, 10) << key;
  EXPECT_GE(uses.size(), 20u);  // 200 ops, 10 per key
  const auto all = pool.AllKeys();
  EXPECT_LE(all.size(), uses.size() + 2);  // plus at most the two active, unused yet
  for (const auto& [key, n] : uses) EXPECT_NE(std::find(all.begin(), all.end(), key), all.end());
}

// A stand-in ring for the tests below: the key's last digit picks one of `shards` shards.
uint64_t LastDigitShard(const std::string& key, uint64_t shards) {
  return static_cast<uint64_t>(key.back() - '0') % shards + 1;
}

TEST(KeyPoolTest, WithShardsTheKeysInUseCoverEveryShardEvenly) {
  constexpr int kShards = 4;
  ShardOf shard_of = [](const std::string& key) { return LastDigitShard(key, kShards); };
  KeyPool pool(/*active=*/2 * kShards, /*ops_per_key=*/10, shard_of, kShards);
  auto per_shard = [&] {
    std::map<uint64_t, int> count;
    for (const std::string& key : pool.ActiveKeys()) count[shard_of(key)]++;
    return count;
  };
  const std::map<uint64_t, int> two_each = {{1, 2}, {2, 2}, {3, 2}, {4, 2}};
  EXPECT_EQ(per_shard(), two_each);
  std::map<std::string, int> uses;
  for (int i = 0; i < 2000; ++i) {
    uses[pool.Next(static_cast<uint64_t>(i) * 7919 + i / 3)]++;
    ASSERT_EQ(per_shard(), two_each) << "after " << i + 1 << " operations";
  }
  for (const auto& [key, n] : uses) EXPECT_LE(n, 10) << key;
  EXPECT_GE(uses.size(), 200u);  // 2000 ops, 10 per key
  // No name is passed over for good: each shard uses its names in order, so the names used in a
  // shard are all of that shard's names up to the newest one used.
  const std::vector<std::string> all = pool.AllKeys();
  const std::set<std::string> used(all.begin(), all.end());
  std::map<uint64_t, int> newest;  // shard -> highest n used
  for (const std::string& key : all) {
    int& n = newest[shard_of(key)];
    n = std::max(n, std::stoi(key.substr(2)));
  }
  for (int n = 0; n < 3000; ++n) {
    const std::string key = "r/" + std::to_string(n);
    if (n < newest[shard_of(key)]) {
      EXPECT_TRUE(used.count(key)) << key << " passed over";
    }
  }
}

HistoryOp Answered(std::string f, std::string key, uint64_t shard, Outcome outcome = Outcome::kOk) {
  HistoryOp op = Op(std::move(f), "v", outcome, 0, 1);
  op.key = std::move(key);
  op.shard = shard;
  op.endpoint = "127.0.0.2:1";
  return op;
}

TEST(ShardCheckTest, AnAnswerFromAShardTheRingDoesNotAssignIsMisrouted) {
  std::string error;
  const std::optional<kv::Ring> ring = kv::Ring::Build({1, 2, 3, 4}, 10, &error);
  ASSERT_TRUE(ring.has_value()) << error;
  std::string key = "k";
  const uint64_t owner = ring->ShardFor(key);
  const uint64_t other = owner % 4 + 1;
  std::vector<HistoryOp> ops = {
      Answered("write", key, owner), Answered("read", key, owner),
      Answered("read", key, 0),                       // no X-Kv-Shard: not checked
      Answered("write", key, other, Outcome::kFail),  // nothing applied: not checked
      Answered("scan", "set/", other)};               // a scan spans shards: not checked
  ShardCheckResult good = CheckShards(ops, *ring);
  EXPECT_EQ(good.misrouted, 0u);
  EXPECT_EQ(good.answers_checked, 2u);
  EXPECT_EQ(good.touched, std::set<uint64_t>{owner});
  ops.push_back(Answered("cas", key, other));
  ShardCheckResult bad = CheckShards(ops, *ring);
  EXPECT_EQ(bad.misrouted, 1u);
  ASSERT_EQ(bad.examples.size(), 1u);
  EXPECT_NE(bad.examples[0].find("answered by shard " + std::to_string(other)), std::string::npos)
      << bad.examples[0];
}

TEST(LeadershipTest, BusiestLeaderAndTermSumOverShards) {
  Leadership l;
  l.shards[1] = {.leader = 2, .term = 3, .replicas = {1, 2, 3}};
  l.shards[2] = {.leader = 3, .term = 5, .replicas = {2, 3, 4}};
  l.shards[3] = {.leader = 3, .term = 2, .replicas = {3, 4, 5}};
  l.shards[4] = {.leader = 0, .term = 0, .replicas = {4, 5, 1}};
  EXPECT_EQ(l.Busiest(), 3u);
  EXPECT_EQ(l.Led(3), 2);
  EXPECT_EQ(l.Led(0), 0);
  EXPECT_EQ(l.TermSum(), 10u);
  Leadership one;  // one shard: its leader and term
  one.shards[1] = {.leader = 4, .term = 9, .replicas = {}};
  EXPECT_EQ(one.Busiest(), 4u);
  EXPECT_EQ(one.TermSum(), 9u);
}

TEST(ReportTest, IsSelfContained) {
  std::vector<HistoryOp> ops = {Op("write", "1", Outcome::kOk, 0, 1'000'000),
                                Op("write", "2", Outcome::kUnknown, 2'000'000, 3'000'000'000)};
  ops[1].worker = 1;
  FaultRecord fault;
  fault.description = "kill -9 leader n1 <&>";
  fault.start_ns = 1'000'000'000;
  fault.end_ns = 2'000'000'000;
  std::vector<FaultRecord> faults = {fault};
  const std::string path = ::testing::TempDir() + "/report_test.html";
  ASSERT_TRUE(WriteReport({"t", {"verdict: pass"}, true, &ops, &faults, 2}, path));
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string html = text.str();
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("&lt;&amp;&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  std::filesystem::remove(path);
}

// The nodes `node` can reach under `t`, itself included.
std::vector<int> Reach(const Topology& t, int node, int n) {
  std::vector<int> out;
  for (int b = 1; b <= n; ++b) {
    if (Connected(t, node, b)) out.push_back(b);
  }
  return out;
}

TEST(TopologyTest, IsolateCutsEveryLinkAcrossAndNoOther) {
  Topology t = Isolate({2, 4}, 5);
  EXPECT_EQ(t.cuts, (std::vector<Link>{{1, 2}, {1, 4}, {2, 3}, {2, 5}, {3, 4}, {4, 5}}));
  EXPECT_TRUE(Connected(t, 2, 4));
  EXPECT_TRUE(Connected(t, 1, 3));
  EXPECT_EQ(t.description, "{n2,n4} | {n1,n3,n5}");
}

// Jepsen's majorities ring: every node reaches a majority, and no two nodes reach the same one.
TEST(TopologyTest, FiveNodeRingGivesEveryNodeADistinctMajority) {
  Topology t = Ring({3, 1, 5, 2, 4});
  std::set<std::vector<int>> majorities;
  for (int node = 1; node <= 5; ++node) {
    std::vector<int> reach = Reach(t, node, 5);
    EXPECT_EQ(reach.size(), 3u) << "n" << node;
    majorities.insert(reach);
  }
  EXPECT_EQ(majorities.size(), 5u);
  EXPECT_EQ(Reach(t, 3, 5), (std::vector<int>{1, 3, 4}));  // its ring neighbours
  EXPECT_EQ(CutOffFrom(t, 3, 5), (std::vector<int>{2, 5}));
  EXPECT_EQ(t.description, "ring n3-n1-n5-n2-n4-n3");
}

TEST(TopologyTest, BridgeNodeReachesBothHalvesThatCannotReachEachOther) {
  Topology t = Bridge({1, 4}, 2, {3, 5});
  EXPECT_EQ(Reach(t, 2, 5), (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(Reach(t, 1, 5), (std::vector<int>{1, 2, 4}));  // a majority through the bridge
  EXPECT_EQ(CutOffFrom(t, 4, 5), (std::vector<int>{3, 5}));
  EXPECT_EQ(t.description, "bridge {n1,n4} - n2 - {n3,n5}");
}

TEST(TopologyTest, ThreeNodeRingIsABridge) {
  Topology t = Ring({2, 3, 1});
  EXPECT_EQ(t.cuts, (std::vector<Link>{{1, 2}}));
  EXPECT_EQ(t.description, "bridge {n2} - n3 - {n1}");
  for (int node = 1; node <= 3; ++node) EXPECT_GE(Reach(t, node, 3).size(), 2u);
}

}  // namespace
}  // namespace kvd::jepsen
