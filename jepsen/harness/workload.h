// Copyright (c) kvd authors.
//
// The client side of a run: `concurrency` worker threads issuing operations over HTTP, each with
// at most one operation in flight, recording every operation in a History. A worker whose
// operation ended with an unknown outcome (timeout, 504, connection lost after sending) continues
// as a new process id, as the checker requires.
//
// register: read (linearizable GET), write (PUT of a value unique to the run) and cas on a few
//   keys at a time; each key gets at most ops_per_key operations, then a fresh key replaces it.
//   kvd's compare-and-set compares versions (PUT ?if_version=V), so a worker issues a cas only
//   for a (value, version) pair it learned from its own last read or write of the key and records
//   it as cas(expected = value). With unique values and no deletes, "the version is V" holds
//   exactly when "the value is the one written at version V" (version 0 = absent), so the
//   checker's value-CAS register model applies.
// set: every operation adds a new element, i.e. PUTs a fresh key under "set/".
//
// Thread-safety: Start/Stop from one controlling thread; counters may be read from any thread.

#ifndef KVD_JEPSEN_HARNESS_WORKLOAD_H_
#define KVD_JEPSEN_HARNESS_WORKLOAD_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jepsen/harness/history.h"
#include "jepsen/harness/options.h"
#include "rpc/http_client.h"

namespace kvd::jepsen {

using Clock = std::chrono::steady_clock;
inline int64_t SinceNs(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

inline constexpr char kSetPrefix[] = "set/";

// The shard a key belongs to (by the cluster's committed directory); must be thread-safe.
using ShardOf = std::function<uint64_t(const std::string& key)>;

// How many register keys are in use at a time: --active-keys, and with several shards at least
// two per shard.
int ActiveRegisterKeys(const Options& options);

// The register keys in use; hands out a key per operation and retires keys that are used up.
// Keys are "r/<n>" (or another prefix). With `shard_of` (placing keys in `shards` shards), a fresh
// key is the oldest name not used yet that lands in a shard with the fewest keys in use, so the
// keys in use cover the shards evenly and every name up to the newest is used in turn (names passed
// over wait in `spare_`, at most kMaxSpare per shard).
class KeyPool {
 public:
  // `prefix`: the names are "<prefix><n>" (the append workload's keys are "k<n>").
  KeyPool(int active, int ops_per_key, ShardOf shard_of = nullptr, int shards = 1,
          std::string prefix = "r/");
  std::string Next(uint64_t random);
  std::vector<std::string> AllKeys() const;     // every key handed out or in use, oldest first
  std::vector<std::string> ActiveKeys() const;  // the keys in use now

 private:
  std::string Fresh();  // REQUIRES(mu_)
  const int ops_per_key_;
  const std::string prefix_;
  const ShardOf shard_of_;
  const size_t shards_;
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, int>> active_;  // GUARDED_BY(mu_); key, ops handed out
  std::vector<std::string> all_;                     // GUARDED_BY(mu_)
  static constexpr size_t kMaxSpare = 1024;
  std::map<uint64_t, int> in_use_;  // GUARDED_BY(mu_); shard -> active keys
  // GUARDED_BY(mu_); shard -> names of it passed over, oldest first: (n, "r/<n>")
  std::map<uint64_t, std::deque<std::pair<uint64_t, std::string>>> spare_;
  uint64_t next_name_ = 0;  // GUARDED_BY(mu_)
};

class Workers {
 public:
  // `shard_of`: see KeyPool (null: keys are not placed by shard).
  Workers(const Options& options, std::vector<std::string> endpoints, History& history,
          Clock::time_point start, ShardOf shard_of = nullptr);
  ~Workers();  // stops and joins
  void Start();
  void Stop();
  std::vector<std::string> RegisterKeys() const { return keys_.AllKeys(); }
  uint64_t ok_count() const { return ok_.load(); }

 private:
  void Run(int worker);
  rpc::HttpClient MakeClient(int worker) const;

  const Options& options_;
  const std::vector<std::string> endpoints_;
  History& history_;
  const Clock::time_point start_;
  KeyPool keys_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> next_process_;
  std::atomic<uint64_t> ok_{0};
  std::vector<std::thread> threads_;
};

// Classifies a client result: ok, fail (definitely not applied) or unknown; fills op.error.
void Classify(const rpc::Result& r, HistoryOp& op);

// A client for the final checks: every endpoint, generous retries of 503s.
rpc::HttpClient FinalClient(const std::vector<std::string>& endpoints);

// After healing: a linearizable read of every key (retried up to `timeout` until it answers),
// recorded in `history` as worker -1. Returns how many reads did not succeed.
int FinalReads(const std::vector<std::string>& keys, const std::vector<std::string>& endpoints,
               History& history, Clock::time_point start, std::chrono::seconds timeout);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_WORKLOAD_H_
