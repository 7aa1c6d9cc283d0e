// Copyright (c) kvd authors.

#include "jepsen/harness/bank_workload.h"

#include <charconv>
#include <map>
#include <optional>
#include <random>

#include "jepsen/harness/txn_client.h"

namespace kvd::jepsen {

std::vector<std::string> SpreadKeys(const std::string& prefix, int count, const ShardOf& shard_of,
                                    int shards) {
  std::vector<std::string> keys;
  const int cap = (count + std::max(shards, 1) - 1) / std::max(shards, 1);
  std::map<uint64_t, int> per_shard;
  for (int n = 0; static_cast<int>(keys.size()) < count; ++n) {
    std::string key = prefix + std::to_string(n);
    if (shard_of && n < 100000 && per_shard[shard_of(key)] >= cap) continue;
    if (shard_of) per_shard[shard_of(key)]++;
    keys.push_back(std::move(key));
  }
  return keys;
}

namespace {

using lincheck::Outcome;

std::optional<int64_t> Balance(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size()) return std::nullopt;
  return v;
}

// One worker's client and process id.
class BankClient {
 public:
  BankClient(const Options& o, const std::vector<std::string>& endpoints, int worker,
             History& history, Clock::time_point start, std::atomic<int64_t>* next_process,
             int64_t process)
      : worker_(worker),
        history_(history),
        start_(start),
        next_process_(next_process),
        client_(TxnClientOptions(endpoints, std::max(worker, 0), o.client_timeout_ms)),
        process_(process) {}

  // A transaction of gets of `keys` (f = read_pair or read_all); the balances in op.mops.
  HistoryOp Read(const char* f, const std::vector<std::string>& keys) {
    TxnRequest req;
    for (const std::string& k : keys) req.success.push_back({TxnOpType::kGet, k, ""});
    HistoryOp op = New(f);
    const TxnAnswer a = Send(req, op);
    for (size_t i = 0; i < keys.size(); ++i) {
      std::optional<std::string> value;
      if (op.outcome == Outcome::kOk && i < a.results.size() && a.results[i].found) {
        value = a.results[i].value;
      }
      op.mops.push_back({"r", keys[i], value});
    }
    if (op.outcome == Outcome::kOk && a.results.size() != keys.size()) {
      op.outcome = Outcome::kUnknown;  // committed, but what it read is not all there
      op.error = "200 with " + std::to_string(a.results.size()) + " results for " +
                 std::to_string(keys.size()) + " gets";
    }
    return op;
  }

  // Moves `amount` if both balances still hold the values read.
  HistoryOp Transfer(const std::string& from, const std::string& to, const std::string& seen_from,
                     const std::string& seen_to, int64_t amount) {
    const int64_t b_from = *Balance(seen_from), b_to = *Balance(seen_to);
    TxnRequest req;
    req.compare.push_back({from, std::nullopt, seen_from, std::nullopt});
    req.compare.push_back({to, std::nullopt, seen_to, std::nullopt});
    const std::string new_from = std::to_string(b_from - amount);
    const std::string new_to = std::to_string(b_to + amount);
    req.success.push_back({TxnOpType::kPut, from, new_from});
    req.success.push_back({TxnOpType::kPut, to, new_to});
    HistoryOp op = New("transfer");
    op.key = from + "->" + to;
    op.value = std::to_string(amount);
    op.mops = {
        {"r", from, seen_from}, {"r", to, seen_to}, {"w", from, new_from}, {"w", to, new_to}};
    Send(req, op);
    return op;
  }

  HistoryOp Setup(const std::vector<std::string>& accounts) {
    TxnRequest req;
    HistoryOp op = New("setup");
    for (const std::string& k : accounts) {
      req.compare.push_back({k, std::nullopt, std::nullopt, false});
      req.success.push_back({TxnOpType::kPut, k, std::to_string(kInitialBalance)});
      op.mops.push_back({"w", k, std::to_string(kInitialBalance)});
    }
    last_ = Send(req, op);
    return op;
  }

  void Record(const HistoryOp& op) {
    history_.Append(op);
    if (op.outcome == Outcome::kUnknown) process_ = next_process_->fetch_add(1);
  }

  const TxnAnswer& last() const { return last_; }

 private:
  HistoryOp New(const char* f) const {
    HistoryOp op;
    op.worker = worker_;
    op.process = process_;
    op.f = f;
    return op;
  }

  TxnAnswer Send(const TxnRequest& req, HistoryOp& op) {
    op.call_ns = SinceNs(start_);
    TxnAnswer a = client_.Send(req);
    op.ret_ns = SinceNs(start_);
    ClassifyTxn(a, op);
    last_ = a;
    return a;
  }

  const int worker_;
  History& history_;
  const Clock::time_point start_;
  std::atomic<int64_t>* next_process_;
  TxnClient client_;
  int64_t process_;
  TxnAnswer last_;
};

bool Sleep(const std::atomic<bool>& stop, std::chrono::milliseconds d) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
    if (stop) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace

BankWorkers::BankWorkers(const Options& options, std::vector<std::string> endpoints,
                         History& history, Clock::time_point start,
                         std::vector<std::string> accounts)
    : options_(options),
      endpoints_(std::move(endpoints)),
      history_(history),
      start_(start),
      accounts_(std::move(accounts)),
      next_process_(options.concurrency) {}

BankWorkers::~BankWorkers() { Stop(); }

bool BankWorkers::Setup(std::chrono::seconds timeout, std::string* error) {
  BankClient c(options_, endpoints_, -1, history_, start_, &next_process_, 3'000'000);
  const auto deadline = Clock::now() + timeout;
  bool maybe_applied = false;
  while (Clock::now() < deadline) {
    const HistoryOp op = c.Setup(accounts_);
    c.Record(op);
    if (op.outcome == Outcome::kOk) return true;
    if (TxnRouteMissing(c.last())) {
      *error = "POST /v1/txn answered " + op.error + ": this kvd does not serve transactions";
      return false;
    }
    maybe_applied = maybe_applied || op.outcome == Outcome::kUnknown;
    if (op.error == "200 compare failed") {
      // The accounts exist: an earlier attempt of ours committed, or the cluster was not fresh.
      const HistoryOp read = c.Read("read_all", accounts_);
      c.Record(read);
      // Every account that exists holds the initial balance. If some are missing, an earlier
      // attempt of ours was applied in part: the check reports this read (an account missing
      // from a read of all accounts), so the run goes on rather than failing its setup.
      bool initial = read.outcome == Outcome::kOk;
      for (const Mop& m : read.mops) {
        initial = initial && (!m.value || Balance(m.value) == kInitialBalance);
      }
      if (initial && maybe_applied) return true;
      if (read.outcome == Outcome::kOk) {
        *error = "the accounts already existed before setup";
        return false;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  *error = "the accounts could not be created in " + std::to_string(timeout.count()) + " s";
  return false;
}

void BankWorkers::Start() {
  for (int w = 0; w < options_.concurrency; ++w) threads_.emplace_back([this, w] { Run(w); });
}

void BankWorkers::Stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

bool BankWorkers::FinalRead(std::chrono::seconds timeout) {
  BankClient c(options_, endpoints_, -1, history_, start_, &next_process_, 1'000'000);
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const HistoryOp op = c.Read("read_all", accounts_);
    c.Record(op);
    if (op.outcome == Outcome::kOk) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void BankWorkers::Run(int worker) {
  BankClient c(options_, endpoints_, worker, history_, start_, &next_process_, worker);
  std::mt19937_64 rng(options_.seed * 1000003 + 104729 + static_cast<uint64_t>(worker));
  const auto pause = std::chrono::milliseconds(20);
  while (!stop_) {
    if (static_cast<double>(rng() % 10000) < options_.read_all_fraction * 10000) {
      const HistoryOp op = c.Read("read_all", accounts_);
      c.Record(op);
      if (op.outcome != Outcome::kOk && !Sleep(stop_, pause)) break;
      continue;
    }
    const size_t i = rng() % accounts_.size();
    const size_t j = (i + 1 + rng() % (accounts_.size() - 1)) % accounts_.size();
    const HistoryOp read = c.Read("read_pair", {accounts_[i], accounts_[j]});
    c.Record(read);
    if (read.outcome != Outcome::kOk) {
      if (!Sleep(stop_, pause)) break;
      continue;
    }
    const std::optional<int64_t> from = Balance(read.mops[0].value);
    const std::optional<int64_t> to = Balance(read.mops[1].value);
    const int64_t amount = 1 + static_cast<int64_t>(rng() % 5);
    if (!from || !to || *from < amount) continue;  // missing or bad balances: the check reports
    const HistoryOp transfer =
        c.Transfer(accounts_[i], accounts_[j], *read.mops[0].value, *read.mops[1].value, amount);
    c.Record(transfer);
    if (transfer.outcome != Outcome::kOk && transfer.error != "200 compare failed" &&
        !Sleep(stop_, pause)) {
      break;
    }
  }
}

}  // namespace kvd::jepsen
