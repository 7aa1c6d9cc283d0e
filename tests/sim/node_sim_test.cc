// The production node under deterministic simulation: sweeps of seeds that must all pass
// (tests/sim/node_sim.h). A failure prints the command that replays it with a trace.
#include "tests/sim/node_sim.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace kvd::sim {
namespace {

// Runs seeds [first, first + count) and reports every failure.
void Sweep(uint64_t first, uint64_t count, int txn_workers = -1) {
  for (uint64_t seed = first; seed < first + count; ++seed) {
    NodeSimOptions options;
    options.seed = seed;
    options.nodes = seed % 2 == 1 ? 3 : 5;
    options.txn_workers = txn_workers;
    options.binary = "build/tests/sim/kvd_node_sim";
    NodeSimResult r = RunNodeSimulation(options);
    EXPECT_TRUE(r.ok) << "seed " << seed << ": " << r.failure << "\n  " << r.summary
                      << "\n  replay: " << NodeSimReplayCommand(options);
  }
}

TEST(NodeSim, SameSeedSameRun) {
  NodeSimOptions options;
  options.seed = 7;
  NodeSimResult a = RunNodeSimulation(options);
  NodeSimResult b = RunNodeSimulation(options);
  EXPECT_TRUE(a.ok) << a.failure;
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(a.summary, b.summary);
}

TEST(NodeSim, RunsAreNotVacuous) {
  // Over a few seeds, the faults acted: crashes (some at crash points), restarts, unknown
  // outcomes, and still many acknowledged writes and reads.
  uint64_t crashes = 0, at_points = 0, acked = 0, reads = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    NodeSimOptions options;
    options.seed = seed;
    NodeSimResult r = RunNodeSimulation(options);
    ASSERT_TRUE(r.ok) << "seed " << seed << ": " << r.failure;
    crashes += r.crashes;
    at_points += r.crash_points_hit;
    acked += r.writes_acked;
    reads += r.reads_ok;
  }
  EXPECT_GT(crashes, 20u);
  EXPECT_GT(at_points, 5u);
  EXPECT_GT(acked, 500u);
  EXPECT_GT(reads, 500u);
}

TEST(NodeSim, TxnRunsAreNotVacuous) {
  // Over a few seeds with bank workers in every run: transactions commit, most of them across
  // shards; coordinators crash at the transaction crash points; outcomes are unknown; recovery
  // aborts expired records and finishes decided ones; and transfers are applied.
  NodeSimResult sum;
  uint64_t txn_crashes = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    NodeSimOptions options;
    options.seed = seed;
    options.nodes = seed % 2 == 1 ? 3 : 5;
    options.txn_workers = 3;
    NodeSimResult r = RunNodeSimulation(options);
    ASSERT_TRUE(r.ok) << "seed " << seed << ": " << r.failure;
    sum.txns_ok += r.txns_ok;
    sum.txns_cross += r.txns_cross;
    sum.transfers_applied += r.transfers_applied;
    sum.txns_unknown += r.txns_unknown;
    sum.txn_expired += r.txn_expired;
    sum.txn_recoveries += r.txn_recoveries;
    for (const auto& [point, hits] : r.txn_crashes) txn_crashes += hits;
  }
  std::printf(
      "40 seeds: %llu transactions ok (%llu cross-shard), %llu transfers applied, %llu "
      "unknown, %llu crashes at transaction crash points, %llu expired, %llu recovered\n",
      static_cast<unsigned long long>(sum.txns_ok), static_cast<unsigned long long>(sum.txns_cross),
      static_cast<unsigned long long>(sum.transfers_applied),
      static_cast<unsigned long long>(sum.txns_unknown),
      static_cast<unsigned long long>(txn_crashes),
      static_cast<unsigned long long>(sum.txn_expired),
      static_cast<unsigned long long>(sum.txn_recoveries));
  EXPECT_GT(sum.txns_ok, 400u);
  EXPECT_GT(sum.txns_cross * 2, sum.txns_ok);
  EXPECT_GT(sum.transfers_applied, 150u);
  EXPECT_GT(sum.txns_unknown, 10u);
  EXPECT_GT(txn_crashes, 2u);
  EXPECT_GT(sum.txn_expired, 10u);
  EXPECT_GT(sum.txn_recoveries, 10u);
}

// 2,000 seeds in CI, in four tests so that ctest can run them side by side (about 15 s each on
// this project's 2-core machines). Longer sweeps: kvd_node_sim --seeds 100000.
TEST(NodeSim, Seeds1To500) { Sweep(1, 500); }
TEST(NodeSim, Seeds501To1000) { Sweep(501, 500); }
TEST(NodeSim, Seeds1001To1500) { Sweep(1001, 500); }
TEST(NodeSim, Seeds1501To2000) { Sweep(1501, 500); }
// And 500 with bank workers in every run (node_sim_txn.cc; the seeds above have them in about
// three in ten). Longer: kvd_node_sim --seeds 100000 --txn-workers 3.
TEST(NodeSim, TxnSeeds1To500) { Sweep(1, 500, 3); }

}  // namespace
}  // namespace kvd::sim
