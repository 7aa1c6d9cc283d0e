// Copyright (c) kvd authors.
//
// The append checker (append_check.h) on hand-made histories: each anomaly it names, caught in
// the smallest history that shows it, and serializable histories (with indeterminate
// transactions, and a large generated one) that pass. Also the graph searches (txn_graph.h).

#include "jepsen/harness/append_check.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "jepsen/harness/txn_graph.h"

namespace kvd::jepsen {
namespace {

using lincheck::Outcome;

Mop A(const std::string& key, uint64_t element) { return {"append", key, std::to_string(element)}; }
Mop R(const std::string& key, const std::string& list) { return {"r", key, list}; }

// A transaction of `worker` from call to ret (ms).
HistoryOp Txn(int worker, int64_t call_ms, int64_t ret_ms, std::vector<Mop> mops,
              Outcome outcome = Outcome::kOk) {
  HistoryOp op;
  op.worker = worker;
  op.process = worker;
  op.f = "txn";
  op.mops = std::move(mops);
  op.outcome = outcome;
  if (outcome == Outcome::kFail) op.error = "200 compare failed";
  op.call_ns = call_ms * 1'000'000;
  op.ret_ns = ret_ms * 1'000'000;
  return op;
}

AppendCheckResult Check(const std::vector<HistoryOp>& ops) {
  return CheckAppend(ops, {.require_cross_shard = false, .max_examples = 3});
}

std::string Lines(const AppendCheckResult& r) {
  std::string out;
  for (const std::string& l : r.anomalies) out += l + "\n";
  return out + r.report;
}

// Exactly the anomaly kinds in `kinds`, once each.
void ExpectOnly(const AppendCheckResult& r, const std::vector<std::string>& kinds) {
  std::map<std::string, size_t> want;
  for (const std::string& k : kinds) want[k] = 1;
  EXPECT_EQ(r.counts, want) << Lines(r);
}

TEST(AppendCheckTest, SerializableHistoryPasses) {
  const std::vector<HistoryOp> h = {
      Txn(0, 0, 10, {A("x", 1), A("y", 2)}),
      Txn(1, 5, 15, {R("z", "")}),  // concurrent, reads nothing yet
      Txn(1, 20, 30, {R("x", "1"), A("x", 3)}),
      Txn(2, 22, 28, {R("y", "2"), A("z", 4)}),
      Txn(0, 40, 50, {R("x", "1,3"), R("y", "2"), R("z", "4")}),
      Txn(2, 41, 45, {A("x", 5)}, Outcome::kFail),  // failed: never read
      Txn(-1, 60, 70, {R("x", "1,3"), R("y", "2"), R("z", "4")}),
  };
  const AppendCheckResult r = Check(h);
  EXPECT_TRUE(r.valid()) << Lines(r);
  EXPECT_TRUE(r.vacuity.empty());
  EXPECT_EQ(r.txns, 6u);
  EXPECT_EQ(r.txns_ok, 5u);
  EXPECT_EQ(r.txns_compare_failed, 1u);
  EXPECT_EQ(r.nodes, 6u);  // the ok ones, the final read included
  EXPECT_GT(r.ww, 0u);
  EXPECT_GT(r.wr, 0u);
  EXPECT_GT(r.rw, 0u);
  EXPECT_GT(r.rt, 0u);
}

TEST(AppendCheckTest, IndeterminateTransactionsPassWhetherOrNotTheyCommitted) {
  const std::vector<HistoryOp> h = {
      Txn(0, 0, 10, {A("x", 1)}),
      // Unknown outcome, committed (its element is read later): in the graph.
      Txn(1, 5, 3000, {R("y", ""), A("x", 2)}, Outcome::kUnknown),
      // Unknown outcome, never committed: its element appears nowhere, which is no lost write.
      Txn(2, 6, 3000, {A("y", 3)}, Outcome::kUnknown),
      Txn(0, 20, 30, {R("x", "1,2"), R("y", "")}),
      Txn(-1, 4000, 4010, {R("x", "1,2"), R("y", "")}),
  };
  const AppendCheckResult r = Check(h);
  EXPECT_TRUE(r.valid()) << Lines(r);
  EXPECT_EQ(r.unknown_included, 1u);
  EXPECT_EQ(r.nodes, 4u);
  EXPECT_EQ(r.txns_unknown, 2u);
}

TEST(AppendCheckTest, FindsG0WriteCycle) {
  // Two concurrent transactions append to x and y in opposite orders.
  const std::vector<HistoryOp> h = {
      Txn(0, 0, 10, {A("x", 1), A("y", 2)}),
      Txn(1, 0, 10, {A("x", 3), A("y", 4)}),
      Txn(-1, 20, 30, {R("x", "1,3"), R("y", "4,2")}),
  };
  const AppendCheckResult r = Check(h);
  ExpectOnly(r, {"G0"});
  EXPECT_NE(r.report.find("-ww x->"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("-ww y->"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("append x 3"), std::string::npos) << r.report;  // the ops, in full
}

TEST(AppendCheckTest, FindsG1cCircularInformationFlow) {
  // T0's append to x precedes T1's, yet T0 read T1's append to y.
  const std::vector<HistoryOp> h = {
      Txn(0, 0, 10, {A("x", 1), R("y", "2")}),
      Txn(1, 0, 10, {A("y", 2), A("x", 3)}),
      Txn(-1, 20, 30, {R("x", "1,3"), R("y", "2")}),
  };
  const AppendCheckResult r = Check(h);
  ExpectOnly(r, {"G1c"});
  EXPECT_NE(r.report.find("-wr y->"), std::string::npos) << r.report;
}

TEST(AppendCheckTest, FindsG2AntiDependencyCycle) {
  // Write skew: each read both keys empty and appended to one of them.
  const std::vector<HistoryOp> h = {
      Txn(0, 0, 10, {R("x", ""), R("y", ""), A("x", 1)}),
      Txn(1, 0, 10, {R("x", ""), R("y", ""), A("y", 2)}),
      Txn(-1, 20, 30, {R("x", "1"), R("y", "2")}),
  };
  const AppendCheckResult r = Check(h);
  ExpectOnly(r, {"G2"});
  EXPECT_NE(r.report.find("-rw x->"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("-rw y->"), std::string::npos) << r.report;
}

TEST(AppendCheckTest, FindsGSingleReadSkew) {
  // T1 sees T0's append to y but not its append to x.
  const std::vector<HistoryOp> h = {
      Txn(0, 0, 10, {A("x", 1), A("y", 2)}),
      Txn(1, 0, 10, {R("x", ""), R("y", "2")}),
      Txn(-1, 20, 30, {R("x", "1"), R("y", "2")}),
  };
  ExpectOnly(Check(h), {"G-single"});
}

TEST(AppendCheckTest, FindsAStaleReadAfterAnAcknowledgedAppend) {
  // Serializable (the read could go first) but not strict: the append had completed.
  const std::vector<HistoryOp> h = {
      Txn(0, 0, 10, {A("x", 1)}),
      Txn(1, 20, 30, {R("x", "")}),
      Txn(-1, 40, 50, {R("x", "1")}),
  };
  const AppendCheckResult r = Check(h);
  ExpectOnly(r, {"G-single-realtime"});
  EXPECT_NE(r.report.find("-rt->"), std::string::npos) << r.report;
  // Without the real-time order (the read invoked before the append completed) it passes.
  std::vector<HistoryOp> concurrent = h;
  concurrent[1] = Txn(1, 5, 30, {R("x", "")});
  EXPECT_TRUE(Check(concurrent).valid()) << Lines(Check(concurrent));
}

TEST(AppendCheckTest, FindsALostWrite) {
  const std::vector<HistoryOp> h = {
      Txn(0, 0, 10, {A("x", 1)}),
      Txn(1, 0, 12, {A("x", 2)}),
      Txn(-1, 40, 50, {R("x", "2")}),
  };
  const AppendCheckResult r = Check(h);
  ExpectOnly(r, {"lost write"});
  EXPECT_NE(r.anomalies[0].find("1 appended to x"), std::string::npos) << Lines(r);
  // A read invoked before the append completed may miss it.
  std::vector<HistoryOp> early = h;
  early[2] = Txn(-1, 5, 50, {R("x", "2")});
  EXPECT_TRUE(Check(early).valid()) << Lines(Check(early));
}

TEST(AppendCheckTest, FindsGarbage) {
  const std::vector<HistoryOp> h = {
      Txn(0, 0, 10, {A("x", 1)}),
      Txn(1, 20, 30, {R("x", "1,7")}),  // 7 was never appended
      Txn(2, 20, 30, {R("y", "1,zz")}),
      Txn(-1, 40, 50, {R("x", "1,7")}),
  };
  const AppendCheckResult r = Check(h);
  EXPECT_EQ(r.counts.at("garbage"), 3u) << Lines(r);
  EXPECT_EQ(r.counts.size(), 1u) << Lines(r);
}

TEST(AppendCheckTest, FindsAbortedAndIntermediateReadsDuplicatesAndIncompatibleOrders) {
  const std::vector<HistoryOp> h = {
      Txn(0, 0, 10, {A("x", 1), A("x", 2)}),
      Txn(1, 0, 10, {A("y", 3)}, Outcome::kFail),
      Txn(2, 20, 30, {R("x", "1")}),    // G1b: 1 was not T0's last append to x
      Txn(2, 31, 35, {R("y", "3")}),    // G1a
      Txn(3, 20, 30, {R("z", "4,4")}),  // duplicate
      Txn(4, 0, 10, {A("z", 4)}),
      Txn(-1, 40, 50, {R("x", "2,1")}),  // incompatible with [1]
  };
  const AppendCheckResult r = Check(h);
  EXPECT_EQ(r.counts.count("G1a (aborted read)"), 1u) << Lines(r);
  EXPECT_EQ(r.counts.count("G1b (intermediate read)"), 1u) << Lines(r);
  EXPECT_EQ(r.counts.count("duplicate elements"), 1u) << Lines(r);
  EXPECT_EQ(r.counts.count("incompatible order"), 1u) << Lines(r);
}

TEST(AppendCheckTest, CountsCrossShardCommitsAndReportsVacuity) {
  HistoryOp cross = Txn(0, 0, 10, {A("x", 1), A("y", 2)});
  cross.txn_shards = {1, 3};
  HistoryOp single = Txn(1, 20, 30, {R("x", "1")});
  single.txn_shards = {1};
  AppendCheckResult r = CheckAppend({cross, single}, {});
  EXPECT_TRUE(r.valid()) << Lines(r);
  EXPECT_EQ(r.cross_shard_writes, 1u);
  EXPECT_TRUE(r.vacuity.empty());
  cross.txn_shards = {1};
  r = CheckAppend({cross, single}, {});
  ASSERT_EQ(r.vacuity.size(), 1u);
  EXPECT_NE(r.vacuity[0].find("several shards"), std::string::npos);
}

// A strictly serializable history of `n` transactions by `workers` workers: each commits at a
// point inside its interval, in the order of those points, against a model of the lists.
std::vector<HistoryOp> Generated(int n, int workers, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::map<std::string, std::string> lists;
  std::vector<HistoryOp> h;
  uint64_t element = 0;
  int key_base = 0;
  for (int i = 0; i < n; ++i) {
    if (i % 64 == 63) key_base++;  // keys retire, as the workload's do
    const int64_t commit = static_cast<int64_t>(i) * 10;
    const int64_t call = commit - static_cast<int64_t>(rng() % 40);
    const int64_t ret = commit + static_cast<int64_t>(rng() % 40);
    std::vector<Mop> mops;
    std::map<std::string, bool> appended;
    const Outcome outcome = rng() % 20 == 0 ? Outcome::kUnknown : Outcome::kOk;
    const bool applies = outcome == Outcome::kOk || rng() % 2 == 0;
    for (int m = 0, count = 1 + static_cast<int>(rng() % 4); m < count; ++m) {
      const std::string key = "k" + std::to_string(key_base + static_cast<int>(rng() % 8));
      if (rng() % 2 == 0 && !appended[key]) {
        mops.push_back(R(key, outcome == Outcome::kOk ? lists[key] : ""));
      } else {
        appended[key] = true;
        mops.push_back(A(key, ++element));
      }
    }
    if (applies) {
      for (const Mop& m : mops) {
        if (m.f == "append") lists[m.key] += (lists[m.key].empty() ? "" : ",") + *m.value;
      }
    }
    HistoryOp op = Txn(i % workers, 0, 0, mops, outcome);
    op.call_ns = call * 1'000'000;
    op.ret_ns = ret * 1'000'000;
    h.push_back(op);
  }
  std::vector<Mop> final_reads;
  for (const auto& [key, list] : lists) final_reads.push_back(R(key, list));
  h.push_back(Txn(-1, n * 10 + 100, n * 10 + 110, final_reads));
  return h;
}

TEST(AppendCheckTest, LargeSerializableHistoryPassesQuickly) {
  const std::vector<HistoryOp> h = Generated(20000, 10, 7);
  const auto began = std::chrono::steady_clock::now();
  const AppendCheckResult r = Check(h);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  EXPECT_TRUE(r.valid()) << Lines(r);
  EXPECT_GT(r.nodes, 19000u);
  EXPECT_LT(r.rt, 20u * r.nodes);  // the frontier keeps real-time edges linear
  EXPECT_LT(s, 10.0);
}

TEST(AppendCheckTest, LargeHistoryWithOneStaleReadIsCaught) {
  std::vector<HistoryOp> h = Generated(5000, 10, 11);
  // A read, long after, of a key's list without its last element.
  for (HistoryOp& op : h) {
    if (op.worker >= 0) continue;
    Mop m = op.mops[0];
    const size_t comma = m.value->rfind(',');
    ASSERT_NE(comma, std::string::npos);
    m.value = m.value->substr(0, comma);
    h.push_back(Txn(3, 60000, 60010, {m}));
    break;
  }
  const AppendCheckResult r = Check(h);
  EXPECT_EQ(r.counts, (std::map<std::string, size_t>{{"G-single-realtime", 1}})) << Lines(r);
  // The short cycle: the stale read -rw-> the last append -> ... -rt-> the stale read.
  EXPECT_NE(r.report.find("a cycle of 3 transactions"), std::string::npos) << r.report;
}

TEST(TxnGraphTest, SccsAndShortestCyclesRespectTheMask) {
  DepGraph g(4);
  g.Add(0, 1, kWW);
  g.Add(1, 2, kWR);
  g.Add(2, 0, kRW);
  g.Add(2, 3, kRT);
  g.Add(0, 1, kRT);  // merged with the ww edge
  g.Finish();
  EXPECT_EQ(g.edges(), 4u);
  EXPECT_TRUE(g.Sccs(kWW | kWR).empty());
  const auto sccs = g.Sccs(kWW | kWR | kRW);
  ASSERT_EQ(sccs.size(), 1u);
  EXPECT_EQ(sccs[0], (std::vector<int>{0, 1, 2}));
  std::vector<char> member = {1, 1, 1, 0};
  const auto path = g.ShortestPath(1, 0, member, kAllEdges);
  ASSERT_EQ(path.size(), 2u);
  EXPECT_EQ(path[0].node, 1);
  EXPECT_STREQ(EdgeName(path[0].types), "wr");
  EXPECT_EQ(path[1].node, 2);
}

TEST(TxnGraphTest, RealtimeEdgesFollowTheFrontier) {
  // 0: [0,10]  1: [5,15]  2: [20,30]  3: [25,never]  4: [40,50]
  DepGraph g(5);
  AddRealtimeEdges({0, 5, 20, 25, 40}, {10, 15, 30, kNever, 50}, g);
  g.Finish();
  auto has = [&](int a, int b) {
    for (const auto& e : g.out(a)) {
      if (e.to == b) return true;
    }
    return false;
  };
  EXPECT_TRUE(has(0, 2) && has(1, 2) && has(0, 3) && has(1, 3));
  EXPECT_TRUE(has(2, 4));
  EXPECT_FALSE(has(0, 4));  // implied through 2
  EXPECT_FALSE(has(3, 4));  // 3 never completed
  EXPECT_FALSE(has(0, 1));  // concurrent
  EXPECT_EQ(g.edges(), 5u);
}

}  // namespace
}  // namespace kvd::jepsen
