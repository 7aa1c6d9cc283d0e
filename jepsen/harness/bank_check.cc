// Copyright (c) kvd authors.

#include "jepsen/harness/bank_check.h"

#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace kvd::jepsen {
namespace {

using lincheck::Outcome;

std::optional<int64_t> Parse(const std::string& text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::string Describe(const HistoryOp& op) {
  std::string s = (op.worker < 0 ? std::string("final") : "w" + std::to_string(op.worker)) + " " +
                  op.f + " at " + std::to_string(op.call_ns / 1'000'000) + ".." +
                  std::to_string(op.ret_ns / 1'000'000) + " ms";
  if (op.revision != 0) s += " revision " + std::to_string(op.revision);
  s += " {";
  for (size_t i = 0; i < op.mops.size(); ++i) {
    const Mop& m = op.mops[i];
    s += (i ? ", " : "") + m.f + " " + m.key + "=" + m.value.value_or("absent");
  }
  return s + "}";
}

class Anomalies {
 public:
  void Add(const std::string& kind, std::string example) {
    auto& [count, examples] = kinds_[kind];
    if (count++ < 3) examples.push_back(std::move(example));
  }
  void Into(std::vector<std::string>& out) const {
    for (const auto& [kind, entry] : kinds_) {
      std::string line = std::to_string(entry.first) + " x " + kind + ": ";
      for (size_t i = 0; i < entry.second.size(); ++i) line += (i ? "; " : "") + entry.second[i];
      out.push_back(line);
    }
  }

 private:
  std::map<std::string, std::pair<size_t, std::vector<std::string>>> kinds_;
};

// The balances an ok operation saw or wrote: each one a number, none negative.
void CheckBalances(const HistoryOp& op, Anomalies& a) {
  for (const Mop& m : op.mops) {
    if (!m.value) continue;  // absent: the read of all accounts reports it
    const std::optional<int64_t> b = Parse(*m.value);
    if (!b) {
      a.Add("balance that is not a number", m.key + "=" + *m.value + " in " + Describe(op));
    } else if (*b < 0) {
      a.Add("negative balance", m.key + "=" + *m.value + " in " + Describe(op));
    }
  }
}

// A snapshot of every account: all present, the right total. Returns the total.
int64_t CheckSnapshot(const HistoryOp& op, const BankCheckOptions& o, Anomalies& a) {
  int64_t total = 0;
  std::set<std::string> seen;
  for (const Mop& m : op.mops) {
    if (m.f != "r") continue;
    seen.insert(m.key);
    if (!m.value) {
      a.Add("account missing from a read of all accounts", m.key + " in " + Describe(op));
      continue;
    }
    total += Parse(*m.value).value_or(0);
  }
  for (const std::string& account : o.accounts) {
    if (!seen.count(account)) {
      a.Add("account not read by a read of all accounts", account + " in " + Describe(op));
    }
  }
  const int64_t want = o.initial_balance * static_cast<int64_t>(o.accounts.size());
  if (total != want) {
    a.Add(std::string(op.worker < 0 ? "final " : "") + "read of all accounts with a wrong total",
          "total " + std::to_string(total) + " (want " + std::to_string(want) + ") in " +
              Describe(op));
  }
  return total;
}

}  // namespace

BankCheckResult CheckBank(const std::vector<HistoryOp>& ops, const BankCheckOptions& o) {
  BankCheckResult r;
  Anomalies a;
  for (const HistoryOp& op : ops) {
    const bool ok = op.outcome == Outcome::kOk, unknown = op.outcome == Outcome::kUnknown;
    if (ok) CheckBalances(op, a);
    if (op.f == "read_all") {
      if (ok) {
        const int64_t total = CheckSnapshot(op, o, a);
        if (op.worker < 0) {
          r.final_read_ok = true;
          r.final_total = total;
        }
      }
      if (op.worker < 0) continue;
      r.reads++;
      r.reads_ok += ok;
      r.reads_unknown += unknown;
      r.reads_failed += op.outcome == Outcome::kFail;
      r.reads_cross_shard += ok && op.txn_shards.size() > 1;
    } else if (op.f == "read_pair" && op.worker >= 0) {
      r.pair_reads++;
      r.pair_reads_ok += ok;
    } else if (op.f == "transfer" && op.worker >= 0) {
      r.transfers++;
      r.transfers_ok += ok;
      r.transfers_unknown += unknown;
      r.transfers_cross_shard += ok && op.txn_shards.size() > 1;
      if (op.outcome == Outcome::kFail) {
        (op.error == "200 compare failed" ? r.transfers_compare_failed : r.transfers_refused)++;
      }
    }
  }
  a.Into(r.anomalies);
  if (r.transfers_ok == 0) r.vacuity.push_back("no transfer committed");
  if (o.require_cross_shard && r.transfers_cross_shard == 0) {
    r.vacuity.push_back("no committed transfer spanned several shards");
  }
  if (r.reads_ok == 0) r.vacuity.push_back("no read of all accounts succeeded");
  return r;
}

std::string BankSummaryLine(const BankCheckResult& r) {
  auto n = [](size_t v) { return std::to_string(v); };
  return "bank: " + std::string(r.valid() ? "valid" : "INVALID") + "; transfers " + n(r.transfers) +
         " (ok " + n(r.transfers_ok) + " of which cross-shard " + n(r.transfers_cross_shard) +
         ", compare failed " + n(r.transfers_compare_failed) + ", refused " +
         n(r.transfers_refused) + ", unknown " + n(r.transfers_unknown) + "); reads of all " +
         n(r.reads) + " (ok " + n(r.reads_ok) + " of which cross-shard " + n(r.reads_cross_shard) +
         ", failed " + n(r.reads_failed) + ", unknown " + n(r.reads_unknown) + "); pair reads " +
         n(r.pair_reads_ok) + "/" + n(r.pair_reads) + " ok; final read " +
         (r.final_read_ok ? "total " + std::to_string(r.final_total) : std::string("failed"));
}

}  // namespace kvd::jepsen
