// Copyright (c) kvd authors.
//
// The append workload (Elle's list-append; checker in append_check.h): every key holds a list,
// its value the elements joined by ',' ("" or absent: empty). A client transaction is 1 to 4
// micro-ops on random keys of the active set (--txn-keys keys "k<n>" in use at a time, spread
// over the shards; a key is retired after --txn-ops-per-key micro-ops and a fresh one takes its
// place, so lists stay short):
//   append(k, v)  v a number unique to the run;
//   read(k)       the whole list; in a transaction that also appends to k, the list before its
//                 own appends (a key read after it was appended to becomes another append).
// A transaction with appends runs as two POST /v1/txn:
//   1. one transaction of gets of every key it touches (recorded itself: a read-only txn);
//   2. one transaction comparing the version of every key it appends to with the version read,
//      whose success branch gets the keys it reads, then puts each appended key's list with the
//      new elements. If a compare fails it is a clean `fail` (the generator moves on).
// A read-only client transaction is one transaction of gets. Every one is recorded as f "txn"
// with its micro-ops (history.h Mop: "append" with the element, "r" with the list it saw) and
// the shards the answer listed; a worker whose transaction had an unknown outcome continues as
// a new process id. After healing, FinalReads() reads every key used, in transactions of at
// most 64 gets (worker -1).
//
// Thread-safety: Start/Stop from one controlling thread.

#ifndef KVD_JEPSEN_HARNESS_APPEND_WORKLOAD_H_
#define KVD_JEPSEN_HARNESS_APPEND_WORKLOAD_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "jepsen/harness/history.h"
#include "jepsen/harness/options.h"
#include "jepsen/harness/workload.h"

namespace kvd::jepsen {

class AppendWorkers {
 public:
  // `shard_of` (null with one shard) places the keys over `options.shards` shards.
  AppendWorkers(const Options& options, std::vector<std::string> endpoints, History& history,
                Clock::time_point start, ShardOf shard_of);
  ~AppendWorkers();  // stops and joins
  void Start();
  void Stop();
  // Reads every key used (see above), each batch retried until ok or `timeout`; returns how
  // many batches did not succeed.
  int FinalReads(std::chrono::seconds timeout);
  std::vector<std::string> Keys() const { return keys_.AllKeys(); }
  int FinalBatches() const;  // how many batches FinalReads() reads

 private:
  void Run(int worker);

  const Options& options_;
  const std::vector<std::string> endpoints_;
  History& history_;
  const Clock::time_point start_;
  KeyPool keys_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> next_process_;
  std::atomic<uint64_t> next_element_{1};
  std::vector<std::thread> threads_;
};

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_APPEND_WORKLOAD_H_
