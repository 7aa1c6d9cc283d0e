// Copyright (c) kvd authors.

#include "jepsen/harness/txn_run.h"

#include <algorithm>

#include "jepsen/harness/append_check.h"
#include "jepsen/harness/bank_check.h"

namespace kvd::jepsen {

TxnRun::TxnRun(const Options& o, const std::vector<std::string>& endpoints, History& history,
               Clock::time_point start, const kv::Ring& ring)
    : options_(o), ring_(ring) {
  ShardOf shard_of = nullptr;
  if (o.shards > 1) shard_of = [&ring](const std::string& key) { return ring.ShardFor(key); };
  if (o.workload == Workload::kBank) {
    bank_ = std::make_unique<BankWorkers>(o, endpoints, history, start,
                                          SpreadKeys("acct-", o.accounts, shard_of, o.shards));
  } else {
    append_ = std::make_unique<AppendWorkers>(o, endpoints, history, start, shard_of);
  }
}

std::vector<std::string> TxnRun::Keys() const {
  return bank_ ? bank_->accounts() : append_->Keys();
}

std::vector<std::string> TxnRun::Describe() const {
  std::string line = bank_ ? "accounts" : "keys in use";
  for (const std::string& k : Keys())
    line += " " + k + " (shard " + std::to_string(ring_.ShardFor(k)) + ")";
  return {line};
}

bool TxnRun::Setup(std::string* error) {
  return !bank_ || bank_->Setup(std::chrono::seconds(30), error);
}

void TxnRun::Start() {
  if (bank_) bank_->Start();
  if (append_) append_->Start();
}

void TxnRun::Stop() {
  if (bank_) bank_->Stop();
  if (append_) append_->Stop();
}

void TxnRun::FinalReads(std::chrono::seconds timeout, Summary& summary) {
  if (bank_) {
    summary.final_reads = 1;
    summary.final_reads_failed = bank_->FinalRead(timeout) ? 0 : 1;
  } else {
    summary.final_reads = append_->FinalBatches();
    summary.final_reads_failed = append_->FinalReads(timeout);
  }
}

std::set<uint64_t> TxnRun::KeyShards() const {
  std::set<uint64_t> shards;
  for (const std::string& k : Keys()) shards.insert(ring_.ShardFor(k));
  return shards;
}

void TxnRun::Check(const std::vector<HistoryOp>& ops, Summary& summary) const {
  // Participant shards: what ok answers touched, and whether they are the keys' shards.
  size_t differ = 0;
  std::string example;
  for (const HistoryOp& op : ops) {
    if (op.outcome != lincheck::Outcome::kOk || op.txn_shards.empty()) continue;
    std::set<uint64_t> want;
    for (const Mop& m : op.mops) want.insert(ring_.ShardFor(m.key));
    const std::set<uint64_t> got(op.txn_shards.begin(), op.txn_shards.end());
    if (summary.shard_check) summary.shard_check->touched.insert(got.begin(), got.end());
    if (got != want && differ++ == 0) {
      example = op.f + " at " + std::to_string(op.call_ns / 1'000'000) + " ms listed shards";
      for (uint64_t s : got) example += " " + std::to_string(s);
      example += ", its keys are in";
      for (uint64_t s : want) example += " " + std::to_string(s);
    }
  }
  if (differ > 0) {
    summary.notes.push_back(std::to_string(differ) +
                            " ok transactions listed other participant shards than their keys' "
                            "shards, e.g. " +
                            example);
  }
  if (bank_) {
    summary.bank_result = CheckBank(ops, {.accounts = bank_->accounts(),
                                          .initial_balance = kInitialBalance,
                                          .require_cross_shard = KeyShards().size() > 1});
    for (const std::string& a : summary.bank_result->anomalies) summary.anomalies.push_back(a);
    for (const std::string& v : summary.bank_result->vacuity) summary.vacuity.push_back(v);
    return;
  }
  summary.append_result =
      CheckAppend(ops, {.require_cross_shard = options_.shards > 1, .max_examples = 3});
  const AppendCheckResult& r = *summary.append_result;
  for (const std::string& a : r.anomalies) summary.anomalies.push_back(a);
  for (const std::string& v : r.vacuity) summary.vacuity.push_back(v);
  if (!r.valid()) summary.checker_report = r.report;
}

}  // namespace kvd::jepsen
