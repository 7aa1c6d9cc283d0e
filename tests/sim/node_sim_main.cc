// kvd_node_sim: the production node under deterministic simulation (tests/sim/node_sim.h), over
// one seed or a sweep.
//
//   kvd_node_sim --seed 1234 --trace     replay one seed and print its event log
//   kvd_node_sim --seeds 100000          sweep seeds 1..100000 (3 and 5 nodes alternating)
//
// Exit status 1 if any seed failed; every failure is printed with the command that replays it.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/sim/node_sim.h"

namespace {

void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--seed N] [--seeds COUNT] [--nodes 3|5] [--shards S] [--trace] "
               "[--fault-ms MS]\n"
               "          [--txn-workers N] [--dir PATH] [--quiet]\n"
               "  --seed N       first seed (default 1)\n"
               "  --seeds COUNT  number of consecutive seeds to run (default 1)\n"
               "  --nodes K      default: 3 for odd seeds, 5 for even seeds\n"
               "  --shards S     data shards, 1..64 (default: drawn from the seed)\n"
               "  --txn-workers N  bank transaction workers in every run, 0..8 (default: 2-3\n"
               "                 in half the multi-shard runs)\n"
               "  --trace        print the event log of each run to stderr\n"
               "  --dir PATH     where the nodes' stores live (default /dev/shm)\n",
               argv0);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t first_seed = 1, count = 1;
  int nodes = 0;
  bool quiet = false;
  kvd::sim::NodeSimOptions base;
  base.binary = argv[0];
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        Usage(argv[0]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--seed") {
      first_seed = std::strtoull(value(), nullptr, 10);
    } else if (arg == "--seeds") {
      count = std::strtoull(value(), nullptr, 10);
    } else if (arg == "--nodes") {
      nodes = std::atoi(value());
    } else if (arg == "--shards") {
      base.shards = std::atoi(value());
    } else if (arg == "--txn-workers") {
      base.txn_workers = std::atoi(value());
    } else if (arg == "--trace") {
      base.trace = true;
    } else if (arg == "--fault-ms") {
      base.fault_ms = std::atoll(value());
    } else if (arg == "--dir") {
      base.dir = value();
    } else if (arg == "--quiet") {
      quiet = true;
    } else {
      Usage(argv[0]);
      return 2;
    }
  }
  if ((nodes != 0 && nodes != 3 && nodes != 5) || count == 0 || base.shards < 0 ||
      base.shards > 64 || base.txn_workers < -1 || base.txn_workers > 8) {
    Usage(argv[0]);
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();  // for the seeds/min report only
  uint64_t failures = 0;
  for (uint64_t n = 0; n < count; ++n) {
    kvd::sim::NodeSimOptions options = base;
    options.seed = first_seed + n;
    options.nodes = nodes != 0 ? nodes : (options.seed % 2 == 1 ? 3 : 5);
    kvd::sim::NodeSimResult r = kvd::sim::RunNodeSimulation(options);
    if (!r.ok) {
      ++failures;
      std::printf("FAIL seed=%llu nodes=%d: %s\n  %s\n  replay: %s\n",
                  static_cast<unsigned long long>(options.seed), options.nodes, r.failure.c_str(),
                  r.summary.c_str(), kvd::sim::NodeSimReplayCommand(options).c_str());
    } else if (!quiet && count <= 20) {
      std::printf("ok seed=%llu nodes=%d hash=%016llx %s\n",
                  static_cast<unsigned long long>(options.seed), options.nodes,
                  static_cast<unsigned long long>(r.trace_hash), r.summary.c_str());
    }
    std::fflush(stdout);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu seeds from %llu: %llu failures, %.1f s, %.0f seeds/min\n",
              static_cast<unsigned long long>(count), static_cast<unsigned long long>(first_seed),
              static_cast<unsigned long long>(failures), secs, count * 60.0 / secs);
  return failures == 0 ? 0 : 1;
}
