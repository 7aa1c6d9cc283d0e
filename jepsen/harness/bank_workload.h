// Copyright (c) kvd authors.
//
// The bank workload (docs/api.md "Transactions"; checks in bank_check.h): `accounts` keys whose
// balances only move between each other in transactions, so every snapshot of all of them sums
// to the initial total and no balance is ever negative.
//
//   setup     one transaction creates every account with kInitialBalance: compares
//             {"exists": false} on each, puts of the balance (f "setup", worker -1). An unknown
//             outcome is retried; a retry whose compares fail reads the accounts back and
//             accepts them if every one holds the initial balance (or, with some missing: a
//             setup applied in part, which the check then reports).
//   transfer  a worker reads two random accounts in one transaction of gets (f "read_pair"),
//             picks an amount of 1..5, and only if the source holds at least that much sends a
//             transaction comparing both balances' values with what it read and putting the new
//             balances (f "transfer"). A compare that fails is a clean `fail`.
//   read all  a quarter of the time (--read-all-fraction): one transaction of gets of every
//             account (f "read_all").
// After healing, FinalRead() reads all accounts once more (worker -1).
//
// Each operation is recorded with its micro-ops (history.h Mop: "r" with the balance seen or
// compared, "w" with the balance written) and the shards the answer listed. A worker whose
// operation had an unknown outcome continues as a new process id.
//
// The account names spread over the shards (SpreadKeys). Thread-safety: Start/Stop from one
// controlling thread.

#ifndef KVD_JEPSEN_HARNESS_BANK_WORKLOAD_H_
#define KVD_JEPSEN_HARNESS_BANK_WORKLOAD_H_

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

inline constexpr int64_t kInitialBalance = 100;

// `count` names "<prefix><n>" for the smallest n such that, with shard_of (a ring of `shards`
// shards), no shard holds more than ceil(count / shards) of them, so they cover
// min(count, shards) shards; without shard_of, "<prefix>0".."<prefix><count-1>".
std::vector<std::string> SpreadKeys(const std::string& prefix, int count, const ShardOf& shard_of,
                                    int shards);

class BankWorkers {
 public:
  BankWorkers(const Options& options, std::vector<std::string> endpoints, History& history,
              Clock::time_point start, std::vector<std::string> accounts);
  ~BankWorkers();  // stops and joins

  // Creates the accounts (see above), trying for up to `timeout`; false with *error if it could
  // not (e.g. the cluster does not serve transactions).
  bool Setup(std::chrono::seconds timeout, std::string* error);
  void Start();
  void Stop();
  // One read of every account after healing, retried until ok or `timeout`; true if ok.
  bool FinalRead(std::chrono::seconds timeout);
  const std::vector<std::string>& accounts() const { return accounts_; }

 private:
  void Run(int worker);

  const Options& options_;
  const std::vector<std::string> endpoints_;
  History& history_;
  const Clock::time_point start_;
  const std::vector<std::string> accounts_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> next_process_;
  std::vector<std::thread> threads_;
};

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_BANK_WORKLOAD_H_
