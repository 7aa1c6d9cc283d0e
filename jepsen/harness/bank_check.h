// Copyright (c) kvd authors.
//
// The bank workload's checks (bank_workload.h) over its history:
//   - every ok read of all accounts ("read_all", the workers' and the final one after healing)
//     sees every account, and their balances sum to accounts x the initial balance;
//   - no ok operation ever saw a negative balance, or one that is not a number (the pair reads
//     before a transfer, the balances a committed transfer compared and wrote, the reads of all);
// and counts transfers and reads by outcome. Non-vacuity: some transfer committed, some
// committed transfer spanned several shards (its answer listed 2 or more; with `shards` above
// 1), and some worker's read of all accounts succeeded.
//
// Pure functions; thread-safe.

#ifndef KVD_JEPSEN_HARNESS_BANK_CHECK_H_
#define KVD_JEPSEN_HARNESS_BANK_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "jepsen/harness/history.h"

namespace kvd::jepsen {

struct BankCheckOptions {
  std::vector<std::string> accounts;
  int64_t initial_balance = 100;
  // Cross-shard transfers are required (the accounts live in several shards).
  bool require_cross_shard = true;
};

struct BankCheckResult {
  // The workers' transfers: committed; compare failed (a balance moved since it was read);
  // refused (409 conflict, 503, ...: nothing applied); unknown.
  size_t transfers = 0, transfers_ok = 0, transfers_compare_failed = 0, transfers_refused = 0,
         transfers_unknown = 0;
  size_t transfers_cross_shard = 0;  // committed, answer listed 2+ shards
  // The workers' reads of all accounts, and of a pair before a transfer.
  size_t reads = 0, reads_ok = 0, reads_failed = 0, reads_unknown = 0;
  size_t pair_reads = 0, pair_reads_ok = 0;
  size_t reads_cross_shard = 0;  // ok reads of all accounts whose answer listed 2+ shards
  bool final_read_ok = false;
  int64_t final_total = 0;

  std::vector<std::string> anomalies;  // one line per kind, with a count and examples
  std::vector<std::string> vacuity;
  bool valid() const { return anomalies.empty(); }
};

BankCheckResult CheckBank(const std::vector<HistoryOp>& ops, const BankCheckOptions& options);

// One line for the summary: the counts above.
std::string BankSummaryLine(const BankCheckResult& r);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_BANK_CHECK_H_
