// The production node under deterministic simulation: sweeps of seeds that must all pass
// (tests/sim/node_sim.h). A failure prints the command that replays it with a trace.
#include "tests/sim/node_sim.h"

#include <gtest/gtest.h>

namespace kvd::sim {
namespace {

// Runs seeds [first, first + count) and reports every failure.
void Sweep(uint64_t first, uint64_t count) {
  for (uint64_t seed = first; seed < first + count; ++seed) {
    NodeSimOptions options;
    options.seed = seed;
    options.nodes = seed % 2 == 1 ? 3 : 5;
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

// 2,000 seeds in CI, in four tests so that ctest can run them side by side (about 15 s each on
// this project's 2-core machines). Longer sweeps: kvd_node_sim --seeds 100000.
TEST(NodeSim, Seeds1To500) { Sweep(1, 500); }
TEST(NodeSim, Seeds501To1000) { Sweep(501, 500); }
TEST(NodeSim, Seeds1001To1500) { Sweep(1001, 500); }
TEST(NodeSim, Seeds1501To2000) { Sweep(1501, 500); }

}  // namespace
}  // namespace kvd::sim
