// Copyright (c) kvd authors.
//
// The bank checker (bank_check.h) on hand-made histories, and the account placement
// (bank_workload.h SpreadKeys).

#include "jepsen/harness/bank_check.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "jepsen/harness/bank_workload.h"

namespace kvd::jepsen {
namespace {

using lincheck::Outcome;

const std::vector<std::string> kAccounts = {"a0", "a1", "a2"};

class H {
 public:
  H() {
    HistoryOp setup = Base(-1, "setup", Outcome::kOk);
    for (const std::string& a : kAccounts) setup.mops.push_back({"w", a, "100"});
    ops.push_back(setup);
  }
  H& ReadAll(int worker, std::vector<std::string> balances, Outcome outcome = Outcome::kOk,
             std::vector<uint64_t> shards = {1, 2}) {
    HistoryOp op = Base(worker, "read_all", outcome);
    for (size_t i = 0; i < kAccounts.size(); ++i) {
      std::optional<std::string> v;
      if (i < balances.size() && balances[i] != "absent") v = balances[i];
      op.mops.push_back({"r", kAccounts[i], v});
    }
    if (outcome == Outcome::kOk) op.txn_shards = std::move(shards);
    ops.push_back(op);
    return *this;
  }
  H& Pair(int worker, size_t from, size_t to, std::string b_from, std::string b_to) {
    HistoryOp op = Base(worker, "read_pair", Outcome::kOk);
    op.mops = {{"r", kAccounts[from], b_from}, {"r", kAccounts[to], b_to}};
    ops.push_back(op);
    return *this;
  }
  H& Transfer(int worker, size_t from, size_t to, int64_t b_from, int64_t b_to, int64_t amount,
              Outcome outcome = Outcome::kOk, std::string error = "",
              std::vector<uint64_t> shards = {1, 2}) {
    HistoryOp op = Base(worker, "transfer", outcome);
    op.error = std::move(error);
    op.mops = {{"r", kAccounts[from], std::to_string(b_from)},
               {"r", kAccounts[to], std::to_string(b_to)},
               {"w", kAccounts[from], std::to_string(b_from - amount)},
               {"w", kAccounts[to], std::to_string(b_to + amount)}};
    if (outcome == Outcome::kOk) op.txn_shards = std::move(shards);
    ops.push_back(op);
    return *this;
  }
  std::vector<HistoryOp> ops;

 private:
  HistoryOp Base(int worker, const char* f, Outcome outcome) {
    HistoryOp op;
    op.worker = worker;
    op.process = worker;
    op.f = f;
    op.outcome = outcome;
    op.call_ns = tick_++;
    op.ret_ns = tick_++;
    return op;
  }
  int64_t tick_ = 0;
};

BankCheckResult Check(const H& h) { return CheckBank(h.ops, {kAccounts, 100, true}); }

std::string Lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

bool Has(const std::vector<std::string>& lines, const std::string& what) {
  for (const std::string& l : lines) {
    if (l.find(what) != std::string::npos) return true;
  }
  return false;
}

H Valid() {
  H h;
  h.Pair(0, 0, 1, "100", "100").Transfer(0, 0, 1, 100, 100, 5);
  h.ReadAll(1, {"95", "105", "100"});
  h.Pair(1, 1, 2, "105", "100").Transfer(1, 1, 2, 105, 100, 3, Outcome::kFail, "409 conflict");
  h.Pair(0, 1, 2, "105", "100")
      .Transfer(0, 1, 2, 105, 100, 3, Outcome::kFail, "200 compare failed");
  h.Transfer(2, 2, 0, 100, 95, 1, Outcome::kUnknown, "504 timeout");
  h.ReadAll(1, {"96", "105", "99"});  // the unknown transfer committed
  h.ReadAll(2, {}, Outcome::kFail);
  h.ReadAll(-1, {"96", "105", "99"});
  return h;
}

TEST(BankCheckTest, ConservedTotalsPassAndAreCounted) {
  const BankCheckResult r = Check(Valid());
  EXPECT_TRUE(r.valid()) << Lines(r.anomalies);
  EXPECT_TRUE(r.vacuity.empty()) << Lines(r.vacuity);
  EXPECT_EQ(r.transfers, 4u);
  EXPECT_EQ(r.transfers_ok, 1u);
  EXPECT_EQ(r.transfers_cross_shard, 1u);
  EXPECT_EQ(r.transfers_refused, 1u);
  EXPECT_EQ(r.transfers_compare_failed, 1u);
  EXPECT_EQ(r.transfers_unknown, 1u);
  EXPECT_EQ(r.reads, 3u);  // the final read is apart
  EXPECT_EQ(r.reads_ok, 2u);
  EXPECT_EQ(r.reads_failed, 1u);
  EXPECT_EQ(r.pair_reads, 3u);
  EXPECT_TRUE(r.final_read_ok);
  EXPECT_EQ(r.final_total, 300);
  EXPECT_NE(BankSummaryLine(r).find("transfers 4 (ok 1 of which cross-shard 1"), std::string::npos)
      << BankSummaryLine(r);
}

TEST(BankCheckTest, CatchesAReadWithAWrongTotal) {
  H h = Valid();
  h.ReadAll(3, {"96", "100", "99"});  // 5 vanished
  const BankCheckResult r = Check(h);
  ASSERT_EQ(r.anomalies.size(), 1u) << Lines(r.anomalies);
  EXPECT_TRUE(Has(r.anomalies, "read of all accounts with a wrong total")) << Lines(r.anomalies);
  EXPECT_TRUE(Has(r.anomalies, "total 295 (want 300)")) << Lines(r.anomalies);
}

TEST(BankCheckTest, CatchesAWrongFinalTotalAndAMissingAccount) {
  H h = Valid();
  h.ReadAll(-1, {"96", "absent", "99"});
  const BankCheckResult r = Check(h);
  EXPECT_TRUE(Has(r.anomalies, "final read of all accounts with a wrong total"))
      << Lines(r.anomalies);
  EXPECT_TRUE(Has(r.anomalies, "account missing from a read of all accounts"))
      << Lines(r.anomalies);
}

TEST(BankCheckTest, CatchesANegativeBalance) {
  H h = Valid();
  h.ReadAll(3, {"-4", "205", "99"});  // the total holds, a balance does not
  const BankCheckResult r = Check(h);
  ASSERT_EQ(r.anomalies.size(), 1u) << Lines(r.anomalies);
  EXPECT_TRUE(Has(r.anomalies, "negative balance")) << Lines(r.anomalies);
  // Also in a pair read before a transfer, or a committed transfer's new balance.
  H pair = Valid();
  pair.Pair(0, 0, 1, "-1", "100");
  EXPECT_TRUE(Has(Check(pair).anomalies, "negative balance"));
  H transfer = Valid();
  transfer.Transfer(0, 0, 1, 2, 100, 5);
  EXPECT_TRUE(Has(Check(transfer).anomalies, "negative balance"));
  H junk = Valid();
  junk.ReadAll(3, {"96", "1O5", "99"});
  EXPECT_TRUE(Has(Check(junk).anomalies, "not a number"));
}

TEST(BankCheckTest, VacuousWithoutCrossShardTransfersOrReads) {
  H h;
  h.Transfer(0, 0, 1, 100, 100, 5, Outcome::kOk, "", {2});
  h.ReadAll(1, {}, Outcome::kUnknown);
  const BankCheckResult r = Check(h);
  EXPECT_TRUE(r.valid());
  EXPECT_TRUE(Has(r.vacuity, "no committed transfer spanned several shards")) << Lines(r.vacuity);
  EXPECT_TRUE(Has(r.vacuity, "no read of all accounts succeeded")) << Lines(r.vacuity);
  EXPECT_EQ(CheckBank(h.ops, {kAccounts, 100, false}).vacuity.size(), 1u);
  EXPECT_TRUE(Has(CheckBank(H().ops, {kAccounts, 100, true}).vacuity, "no transfer committed"));
}

TEST(SpreadKeysTest, CoversTheShardsEvenly) {
  EXPECT_EQ(SpreadKeys("acct-", 3, nullptr, 1),
            (std::vector<std::string>{"acct-0", "acct-1", "acct-2"}));
  const ShardOf shard_of = [](const std::string& key) {
    return static_cast<uint64_t>(std::hash<std::string>()(key) % 4 + 1);
  };
  const std::vector<std::string> keys = SpreadKeys("acct-", 8, shard_of, 4);
  ASSERT_EQ(keys.size(), 8u);
  std::map<uint64_t, int> per_shard;
  for (const std::string& k : keys) per_shard[shard_of(k)]++;
  EXPECT_EQ(per_shard, (std::map<uint64_t, int>{{1, 2}, {2, 2}, {3, 2}, {4, 2}}));
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), 8u);
}

}  // namespace
}  // namespace kvd::jepsen
