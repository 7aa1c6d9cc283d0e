// The simulator as a test: a sweep of seeds over 3- and 5-node clusters (all must pass), the
// determinism of a seed, and the liveness check after healing. Label: sim.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "tests/sim/simulator.h"

namespace kvd::sim {
namespace {

constexpr uint64_t kShards = 4;
constexpr uint64_t kSeedsPerShard = 250;  // x 4 shards x 2 cluster sizes = 2,000 seeds

SimOptions Options(uint64_t seed, int nodes) {
  SimOptions options;
  options.seed = seed;
  options.nodes = nodes;
  return options;
}

// (nodes, shard): seeds [shard * kSeedsPerShard + 1, (shard + 1) * kSeedsPerShard].
class SimSweep : public ::testing::TestWithParam<std::tuple<int, uint64_t>> {};

TEST_P(SimSweep, AllSeedsPass) {
  const auto [nodes, shard] = GetParam();
  int unknown = 0;
  for (uint64_t seed = shard * kSeedsPerShard + 1; seed <= (shard + 1) * kSeedsPerShard; ++seed) {
    SimOptions options = Options(seed, nodes);
    SimResult r = RunSimulation(options);
    if (r.lincheck_unknown) ++unknown;
    EXPECT_TRUE(r.ok) << "seed " << seed << " nodes " << nodes << ": " << r.failure << "\n  "
                      << r.summary << "\n  replay: " << ReplayCommand(options);
  }
  std::printf("nodes=%d seeds %llu..%llu: %d lincheck-unknown\n", nodes,
              static_cast<unsigned long long>(shard * kSeedsPerShard + 1),
              static_cast<unsigned long long>((shard + 1) * kSeedsPerShard), unknown);
}

INSTANTIATE_TEST_SUITE_P(Seeds, SimSweep,
                         ::testing::Combine(::testing::Values(3, 5),
                                            ::testing::Range<uint64_t>(0, kShards)),
                         [](const auto& info) {
                           return "nodes" + std::to_string(std::get<0>(info.param)) + "_shard" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(SimDeterminism, SameSeedSameTrace) {
  for (int nodes : {3, 5}) {
    SimResult a = RunSimulation(Options(4242, nodes));
    SimResult b = RunSimulation(Options(4242, nodes));
    ASSERT_TRUE(a.ok) << a.failure;
    EXPECT_EQ(a.trace_hash, b.trace_hash) << "nodes " << nodes;
    EXPECT_EQ(a.events, b.events);
    EXPECT_EQ(a.end_time, b.end_time);
    EXPECT_EQ(a.summary, b.summary);
    EXPECT_GT(a.events, 1000u);
  }
}

TEST(SimDeterminism, DifferentSeedsDifferentTraces) {
  SimResult a = RunSimulation(Options(7, 3));
  SimResult b = RunSimulation(Options(8, 3));
  SimResult c = RunSimulation(Options(7, 5));
  EXPECT_NE(a.trace_hash, b.trace_hash);
  EXPECT_NE(a.trace_hash, c.trace_hash);
}

// After faults stop, the network heals and crashed nodes restart, the cluster must elect a
// leader, apply every acknowledged write everywhere and acknowledge new writes.
TEST(SimLiveness, ConvergesAfterHealing) {
  for (uint64_t seed = 100; seed < 110; ++seed) {
    SimOptions options = Options(seed, seed % 2 ? 3 : 5);
    options.fault_ms = 15000;  // a long faulty phase
    SimResult r = RunSimulation(options);
    EXPECT_TRUE(r.ok) << r.failure << "\n  replay: " << ReplayCommand(options);
    // Convergence ends the run early, well inside the bound.
    EXPECT_LT(r.end_time, options.fault_ms + options.heal_ms) << r.summary;
  }
}

TEST(SimLiveness, FaultFreeRunConvergesQuickly) {
  SimOptions options = Options(1, 5);
  options.faults = false;
  SimResult r = RunSimulation(options);
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_LT(r.end_time, options.fault_ms + 1000);
}

// The liveness check is live: with no time to converge after healing, the run must fail.
TEST(SimLiveness, ReportsAClusterThatDoesNotConverge) {
  SimOptions options = Options(3, 3);
  options.heal_ms = 0;
  SimResult r = RunSimulation(options);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.failure.rfind("liveness", 0), 0u) << r.failure;
}

}  // namespace
}  // namespace kvd::sim
