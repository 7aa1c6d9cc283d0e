// Planted bugs: this file is compiled once per buggy core (KVD_SIM_PLANTED_BUG names it, the
// executable links kvd_raft_bug_<name>) and asserts that the simulator catches the bug: some
// seed must fail with a safety violation (invariant, linearizability or a core CHECK), not a
// mere liveness failure, within a bounded number of seeds. Label: sim.
//
// SimulatorFindsIt runs every check. FoundEndToEnd turns the direct protocol-rule checks off
// (durable vote/ack, one vote per term, the §5.4.2 commit rule), so the bug must show through
// its consequences: two leaders in a term, diverging logs, a leader missing a committed entry,
// replicas applying different entries, a non-linearizable history. KVD_SIM_END_TO_END_SEEDS is
// that test's budget; 0 means not asserted (commit_previous_term: see CMakeLists.txt).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "tests/sim/simulator.h"

#ifndef KVD_SIM_PLANTED_BUG
#error "KVD_SIM_PLANTED_BUG must name the planted bug"
#endif
#ifndef KVD_SIM_END_TO_END_SEEDS
#error "KVD_SIM_END_TO_END_SEEDS must give the end-to-end budget (0: not asserted)"
#endif

namespace kvd::sim {
namespace {

// The first seed in 1..max_seeds whose run fails with a safety violation, or 0.
uint64_t FirstDetectingSeed(uint64_t max_seeds, bool protocol_checks) {
  uint64_t liveness_only = 0;
  for (uint64_t n = 1; n <= max_seeds; ++n) {
    SimOptions options;
    options.seed = n;
    options.nodes = n % 2 == 1 ? 5 : 3;
    options.protocol_checks = protocol_checks;
    options.binary = std::string("build/tests/sim/kvd_sim_bug_") + KVD_SIM_PLANTED_BUG;
    SimResult r = RunSimulation(options);
    if (r.ok) continue;
    if (r.failure.rfind("liveness", 0) == 0) {
      ++liveness_only;
      continue;
    }
    std::printf(
        "planted bug %s found after %llu seeds%s (%llu liveness-only failures before)\n"
        "  %s\n  replay: %s%s\n",
        KVD_SIM_PLANTED_BUG, static_cast<unsigned long long>(n),
        protocol_checks ? "" : ", end to end", static_cast<unsigned long long>(liveness_only),
        r.failure.c_str(), ReplayCommand(options).c_str(),
        protocol_checks ? "" : " --end-to-end-only");
    return n;
  }
  return 0;
}

TEST(PlantedBug, SimulatorFindsIt) {
  constexpr uint64_t kMaxSeeds = 2000;
  EXPECT_NE(FirstDetectingSeed(kMaxSeeds, /*protocol_checks=*/true), 0u)
      << "planted bug " << KVD_SIM_PLANTED_BUG << " not found in " << kMaxSeeds << " seeds";
}

TEST(PlantedBug, FoundEndToEnd) {
  constexpr uint64_t kMaxSeeds = KVD_SIM_END_TO_END_SEEDS;
  if (kMaxSeeds == 0) GTEST_SKIP() << "end-to-end detection not asserted for this bug";
  EXPECT_NE(FirstDetectingSeed(kMaxSeeds, /*protocol_checks=*/false), 0u)
      << "planted bug " << KVD_SIM_PLANTED_BUG << " not found end to end in " << kMaxSeeds
      << " seeds";
}

}  // namespace
}  // namespace kvd::sim
