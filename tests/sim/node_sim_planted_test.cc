// Teeth for the node simulator: built against a node or Raft core with one bug planted
// (KVD_NODE_SIM_BUG names it, tests/sim/CMakeLists.txt), the simulator must report a failing seed
// within KVD_NODE_SIM_BUDGET seeds, through the bug's consequences (a lost or wrong
// acknowledgement, a non-linearizable history, diverging replicas, a node that cannot restart).
#include <gtest/gtest.h>

#include "tests/sim/node_sim.h"

namespace kvd::sim {
namespace {

TEST(NodeSimPlantedBug, IsCaught) {
  for (uint64_t seed = 1; seed <= KVD_NODE_SIM_BUDGET; ++seed) {
    NodeSimOptions options;
    options.seed = seed;
    options.nodes = seed % 2 == 1 ? 3 : 5;
    options.binary = "build/tests/sim/kvd_node_sim_bug_" KVD_NODE_SIM_BUG;
    NodeSimResult r = RunNodeSimulation(options);
    if (!r.ok) {
      std::printf("planted bug %s caught at seed %llu: %s\n  replay: %s\n", KVD_NODE_SIM_BUG,
                  static_cast<unsigned long long>(seed), r.failure.c_str(),
                  NodeSimReplayCommand(options).c_str());
      return;
    }
  }
  FAIL() << "planted bug " << KVD_NODE_SIM_BUG << " not caught in " << KVD_NODE_SIM_BUDGET
         << " seeds";
}

}  // namespace
}  // namespace kvd::sim
