// Copyright (c) kvd authors.
//
// Summary: the numbers and verdicts of a run, printed readably and written as summary.json.

#ifndef KVD_JEPSEN_HARNESS_SUMMARY_H_
#define KVD_JEPSEN_HARNESS_SUMMARY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jepsen/checker/checker.h"
#include "jepsen/harness/append_check.h"
#include "jepsen/harness/bank_check.h"
#include "jepsen/harness/crash_watch.h"
#include "jepsen/harness/history.h"
#include "jepsen/harness/lock_check.h"
#include "jepsen/harness/nemesis.h"
#include "jepsen/harness/options.h"
#include "jepsen/harness/set_check.h"
#include "jepsen/harness/shard_check.h"

namespace kvd::jepsen {

struct Summary {
  const Options* options = nullptr;
  std::string out_dir;
  std::vector<std::string> unavailable;  // nemeses that could not run here, with the reason
  size_t ops = 0, ok = 0, failed = 0, unknown = 0;
  double workload_s = 0;
  double ops_per_s_before_faults = 0;
  std::vector<FaultRecord> faults;
  int leader_changes = 0;
  std::string layout;  // of the directory used as the ownership oracle (shard_check.h)
  // The data shards' leader terms summed in the directory, when the workload started and after
  // healing: their difference counts elections over every shard that reached the directory.
  uint64_t directory_terms_before = 0, directory_terms_after = 0;
  std::optional<ShardCheckResult> shard_check;
  std::vector<std::string> notes;  // worth reading, not a verdict (e.g. nodes' layouts differ)
  uint64_t leader_after_heal = 0;
  int final_reads = 0, final_reads_failed = 0;
  std::optional<lincheck::CheckResult> register_result;
  std::optional<SetCheckResult> set_result;
  std::optional<LockCheckResult> lock_result;
  std::optional<BankCheckResult> bank_result;
  std::optional<AppendCheckResult> append_result;
  std::optional<CrashResult> crash;  // with the crash nemesis
  bool interrupted = false;
  std::vector<std::string> anomalies;  // the history is not correct
  std::vector<std::string> vacuity;    // the run did not prove enough
  std::string checker_report;          // FormatResult() when not valid

  void Count(const std::vector<HistoryOp>& history);
  int ExitCode() const;
  std::string Verdict() const;  // "pass" | "anomaly" | "vacuous" | "interrupted"
  std::vector<std::string> Lines() const;
  bool WriteJson(const std::string& path) const;
};

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_SUMMARY_H_
