// kvd_sim: runs the deterministic cluster simulator over one seed or a sweep of seeds.
//
//   kvd_sim --seed 1234 --nodes 5 --trace   replay one seed and print its event log
//   kvd_sim --seeds 100000                  sweep seeds 1..100000 (3 and 5 nodes alternating)
//
// Exit status 1 if any seed failed; every failure is printed with the command that replays it.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "tests/sim/simulator.h"

namespace {

void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--seed N] [--seeds COUNT] [--nodes 3|5] [--trace] [--trace-ticks]\n"
               "          [--fault-ms MS] [--heal-ms MS] [--no-lincheck]\n"
               "          [--end-to-end-only] [--quiet]\n"
               "  --seed N           first seed (default 1)\n"
               "  --seeds COUNT      number of consecutive seeds to run (default 1)\n"
               "  --nodes K          initial voters; default: 3 for odd seeds, 5 for even seeds\n"
               "  --trace            print the event log of each run (--trace-ticks: with ticks)\n"
               "  --end-to-end-only  skip the direct protocol-rule checks (durable vote/ack,\n"
               "                     one vote per term, the commit rule of §5.4.2)\n",
               argv0);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t first_seed = 1, count = 1;
  int nodes = 0;
  bool trace = false, trace_ticks = false, quiet = false;
  kvd::sim::SimOptions base;
  base.binary = argv[0];
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
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
    } else if (arg == "--trace") {
      trace = true;
    } else if (arg == "--trace-ticks") {
      trace = trace_ticks = true;
    } else if (arg == "--fault-ms") {
      base.fault_ms = std::atoll(value());
    } else if (arg == "--heal-ms") {
      base.heal_ms = std::atoll(value());
    } else if (arg == "--no-lincheck") {
      base.check_linearizability = false;
    } else if (arg == "--end-to-end-only") {
      base.protocol_checks = false;
    } else if (arg == "--quiet") {
      quiet = true;
    } else {
      Usage(argv[0]);
      return 2;
    }
  }
  if (nodes != 0 && nodes != 3 && nodes != 5) {
    Usage(argv[0]);
    return 2;
  }

  const auto start = std::chrono::steady_clock::now();  // for the seeds/s report only
  uint64_t failures = 0, unknown = 0;
  for (uint64_t n = 0; n < count; ++n) {
    kvd::sim::SimOptions options = base;
    options.seed = first_seed + n;
    options.nodes = nodes != 0 ? nodes : (options.seed % 2 == 1 ? 3 : 5);
    options.trace_out = trace ? &std::cout : nullptr;
    options.trace_ticks = trace_ticks;
    kvd::sim::SimResult r = kvd::sim::RunSimulation(options);
    if (r.lincheck_unknown) ++unknown;
    if (!r.ok) {
      ++failures;
      std::printf("FAIL seed=%llu nodes=%d: %s\n  %s\n  replay: %s\n",
                  static_cast<unsigned long long>(options.seed), options.nodes, r.failure.c_str(),
                  r.summary.c_str(), kvd::sim::ReplayCommand(options).c_str());
    } else if (!quiet && (count <= 20 || trace)) {
      std::printf("ok seed=%llu nodes=%d hash=%016llx %s\n",
                  static_cast<unsigned long long>(options.seed), options.nodes,
                  static_cast<unsigned long long>(r.trace_hash), r.summary.c_str());
    }
    if (!quiet && count > 20 && (n + 1) % 1000 == 0) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("... %llu seeds, %llu failures, %.1f seeds/s\n",
                  static_cast<unsigned long long>(n + 1), static_cast<unsigned long long>(failures),
                  (n + 1) / secs);
      std::fflush(stdout);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu seeds from %llu: %llu failures, %llu lincheck-unknown, %.1f s, %.1f seeds/s\n",
              static_cast<unsigned long long>(count), static_cast<unsigned long long>(first_seed),
              static_cast<unsigned long long>(failures), static_cast<unsigned long long>(unknown),
              secs, count / secs);
  return failures == 0 ? 0 : 1;
}
