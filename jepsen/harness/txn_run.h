// Copyright (c) kvd authors.
//
// The transaction workloads' part of a run (run.cc): bank (bank_workload.h, bank_check.h) and
// append (append_workload.h, append_check.h). Run() creates one after the cluster is up and the
// directory known, then calls Setup, Start, Stop, FinalReads after healing, and Check on the
// history.
//
// Shards: the keys are spread over the shards by the committed directory's ring. Transactions
// answer no X-Kv-Shard; their "shards" field lists the participant shards instead, which count
// as the shards ok answers came from, and which must be the shards of the transaction's keys
// (a difference is noted, not judged: docs/api.md promises the participants, not more).
//
// Thread-safety: one controlling thread.

#ifndef KVD_JEPSEN_HARNESS_TXN_RUN_H_
#define KVD_JEPSEN_HARNESS_TXN_RUN_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "jepsen/harness/append_workload.h"
#include "jepsen/harness/bank_workload.h"
#include "jepsen/harness/history.h"
#include "jepsen/harness/options.h"
#include "jepsen/harness/summary.h"
#include "kv/ring.h"

namespace kvd::jepsen {

class TxnRun {
 public:
  // `ring`: the committed directory's (outlives this object).
  TxnRun(const Options& options, const std::vector<std::string>& endpoints, History& history,
         Clock::time_point start, const kv::Ring& ring);
  // The keys and their shards, for the nemesis log.
  std::vector<std::string> Describe() const;
  // bank: creates the accounts (a failure is a setup error, exit 2). append: nothing.
  bool Setup(std::string* error);
  void Start();
  void Stop();
  // After healing: sets summary.final_reads and final_reads_failed.
  void FinalReads(std::chrono::seconds timeout, Summary& summary);
  // The shards of the keys used.
  std::set<uint64_t> KeyShards() const;
  // The workload's check: its result, anomalies, vacuity and checker report in `summary`, the
  // participant shards of ok transactions in summary.shard_check->touched, notes.
  void Check(const std::vector<HistoryOp>& ops, Summary& summary) const;

 private:
  std::vector<std::string> Keys() const;

  const Options& options_;
  const kv::Ring& ring_;
  std::unique_ptr<BankWorkers> bank_;
  std::unique_ptr<AppendWorkers> append_;
};

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_TXN_RUN_H_
