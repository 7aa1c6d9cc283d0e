// kvd_loadgen: closed-loop HTTP load against kvd (API v1) or etcd 3.4 (JSON gateway).
//
//   kvd_loadgen --target kvd --endpoints 127.0.0.1:8080,127.0.0.2:8080 -c 64 --op put -d 10
//   kvd_loadgen --target etcd --endpoints 127.0.0.1:2379 -c 16 --mix put=50,get=50 --json
//   kvd_loadgen --target kvd --endpoints 127.0.0.1:8080 -c 16 --op txn-cross  # loadgen_txn.h
//
// Phases: populate (write every key once; when the mix reads, unless --populate skip), warmup
// (load, not measured), measured window. The report goes to stdout (one line, human or JSON);
// progress and the populate summary to stderr. A benchmark, not a test: the exit status is 0
// whenever a report was printed, however many requests failed.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench/loadgen_dialect.h"
#include "bench/loadgen_options.h"
#include "bench/loadgen_runner.h"
#include "bench/loadgen_stats.h"
#include "bench/loadgen_txn.h"

namespace kvd::bench {
namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Writes every key once. Returns false when keys are missing afterwards (reads would then count
// not_found errors), after saying so on stderr.
bool Populate(const Options& options, const Dialect& dialect,
              const std::vector<Endpoint>& targets) {
  std::atomic<uint64_t> next_key{0};
  Phase phase;
  phase.populate = true;
  phase.next_key = &next_key;
  Clock::time_point start = Clock::now();
  phase.measure_start = start;
  phase.end = start + options.populate_limit;
  RunStats stats = RunPhase(options, dialect, nullptr, targets, phase);
  const OpStats& puts = stats.by_op[static_cast<size_t>(Op::kPut)];
  std::fprintf(stderr, "kvd_loadgen: populate: %llu keys written in %.1f s",
               static_cast<unsigned long long>(puts.ok), Seconds(Clock::now() - start));
  for (const auto& [kind, count] : puts.errors) {
    std::fprintf(stderr, ", %s=%llu", kind.c_str(), static_cast<unsigned long long>(count));
  }
  std::fprintf(stderr, "\n");
  // A key may have been written on a retry after an error, so count distinct keys conservatively.
  bool complete = next_key.load() >= dialect.keys() && puts.ok >= dialect.keys();
  if (!complete) std::fprintf(stderr, "kvd_loadgen: populate incomplete; reads may miss keys\n");
  return complete;
}

int Main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<Options> parsed = ParseOptions(argc, argv, &exit_code);
  if (!parsed) return exit_code;
  const Options& options = *parsed;

  std::vector<Endpoint> targets;
  std::string error;
  if (!ResolveEndpoints(options.endpoints, &targets, &error)) {
    std::fprintf(stderr, "kvd_loadgen: %s\n", error.c_str());
    return 2;
  }
  Dialect dialect(options.target, options.keys, options.value_bytes, options.mix.HasTxns());

  // Transactions compare the keys' values: like reads, they need the keys written first.
  bool populate =
      options.populate == Populate::kOnly ||
      (options.populate == Populate::kAuto && (options.mix.HasReads() || options.mix.HasTxns()));
  if (populate) {
    bool complete = Populate(options, dialect, targets);
    if (options.populate == Populate::kOnly) return complete ? 0 : 1;
  }

  std::optional<TxnWorkload> txn;
  if (options.mix.HasTxns()) {
    std::vector<uint64_t> shard_of;  // kvd txn-cross picks partners in other shards
    if (options.target == Target::kKvd && options.mix.weight[static_cast<size_t>(Op::kTxnCross)]) {
      std::optional<std::vector<uint64_t>> shards =
          TxnWorkload::KvdShards(options, dialect, &error);
      if (!shards) {
        std::fprintf(stderr, "kvd_loadgen: txn-cross needs the ring: %s\n", error.c_str());
        return 2;
      }
      shard_of = std::move(*shards);
    }
    txn.emplace(dialect, std::move(shard_of));
  }

  Phase phase;
  Clock::time_point start = Clock::now();
  phase.measure_start = start + options.warmup;
  phase.end = phase.measure_start + options.duration;
  RunStats stats = RunPhase(options, dialect, txn ? &*txn : nullptr, targets, phase);
  double seconds = Seconds(phase.end - phase.measure_start);
  std::string report =
      options.json ? JsonReport(options, stats, seconds) : HumanReport(options, stats, seconds);
  std::printf("%s\n", report.c_str());
  return 0;
}

}  // namespace
}  // namespace kvd::bench

int main(int argc, char** argv) { return kvd::bench::Main(argc, argv); }
