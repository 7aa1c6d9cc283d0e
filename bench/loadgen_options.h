// Command-line options of kvd_loadgen, the closed-loop HTTP load generator (bench/README.md).
//
// A run: N connections, each with exactly one request in flight, spread round-robin over the
// endpoints; each request picks an operation from the mix and a uniformly random key of a
// keyspace of K keys. Reads first need the keys to exist, so by default the keyspace is written
// once ("populate") before the warmup. Only requests that start and finish inside the measured
// window count.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvd::bench {

// acquire, release and fenced-put are the lock workloads (bench/loadgen_locks.h): "acquire" in a
// mix means acquire + release cycles (release is never in a mix itself, it follows each acquire);
// fenced-put may be mixed with put (plain puts then go to the same per-connection keys).
// txn and txn-cross are the transaction workloads (bench/loadgen_txn.h): one compare and two puts
// on keys of one shard, or of two shards; they mix with put, get and get-stale.
enum class Op : uint8_t {
  kPut = 0,
  kGet = 1,
  kGetStale = 2,
  kAcquire = 3,
  kRelease = 4,
  kFencedPut = 5,
  kTxn = 6,
  kTxnCross = 7
};
inline constexpr size_t kOpCount = 8;
std::string_view OpName(Op op);

// kvd: API v1 (PUT/GET /v1/kv/{key}). etcd: the etcd 3.4 JSON gateway (/v3/kv/put, /v3/kv/range).
enum class Target { kKvd, kEtcd };
std::string_view TargetName(Target target);

// Relative weights of the operations, e.g. "put=50,get=50" or just "get-stale".
struct Mix {
  std::array<uint32_t, kOpCount> weight{};
  uint32_t total = 0;

  bool HasReads() const { return weight[1] + weight[2] > 0; }
  // A lock workload: acquire cycles, or fenced-put (with or without plain puts).
  bool HasLocks() const { return weight[3] + weight[5] > 0; }
  // A transaction workload: its keys are tagged and must exist (populated) before it runs.
  bool HasTxns() const { return weight[6] + weight[7] > 0; }
  // r is uniform in [0, total).
  Op Pick(uint32_t r) const;
  std::string ToString() const;
};
// Returns nullopt and sets *error when the text is malformed or all weights are zero.
std::optional<Mix> ParseMix(std::string_view text, std::string* error);

enum class Populate { kAuto, kSkip, kOnly };

struct Options {
  Target target = Target::kKvd;
  std::vector<std::string> endpoints{"127.0.0.1:8080"};  // host:port
  int connections = 16;
  int threads = 1;  // event-loop threads; the connections are split between them
  Mix mix;
  uint64_t keys = 10000;
  size_t value_bytes = 100;
  std::chrono::milliseconds warmup{2000};
  std::chrono::milliseconds duration{10000};
  std::chrono::milliseconds request_timeout{5000};   // connect, or write request + read response
  std::chrono::milliseconds populate_limit{120000};  // cap on the populate phase
  Populate populate = Populate::kAuto;               // kAuto: when the mix reads
  uint64_t seed = 1;
  bool json = false;
  std::string label;  // copied into the report
  // Lock workloads (bench/loadgen_locks.h).
  uint64_t lock_names = 100;  // acquire: distinct names per connection, cycled
  uint64_t lock_keys = 100;   // fenced-put: keys per connection sharing its lock's tag
  std::chrono::milliseconds lock_ttl{10000};   // acquire: each lock's TTL
  std::chrono::milliseconds hold_ttl{600000};  // fenced-put: the held lock's TTL
  bool etcd_session = false;  // etcd acquire: one lease per connection instead of one per lock
};

// Parses argv. On --help or a bad flag returns nullopt with *exit_code set (0 for --help), after
// printing to stdout/stderr.
std::optional<Options> ParseOptions(int argc, char** argv, int* exit_code);

}  // namespace kvd::bench
