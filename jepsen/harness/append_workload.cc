// Copyright (c) kvd authors.

#include "jepsen/harness/append_workload.h"

#include <map>
#include <random>
#include <set>

#include "jepsen/harness/txn_client.h"

namespace kvd::jepsen {
namespace {

using lincheck::Outcome;

constexpr size_t kFinalBatch = 64;

// Sends `req`, records it as a "txn" op with `mops`, reads filled from `gets` (the index of
// each read mop's get in the success branch).
class AppendClient {
 public:
  AppendClient(const Options& o, const std::vector<std::string>& endpoints, int worker,
               History& history, Clock::time_point start, std::atomic<int64_t>* next_process,
               int64_t process)
      : worker_(worker),
        history_(history),
        start_(start),
        next_process_(next_process),
        client_(TxnClientOptions(endpoints, std::max(worker, 0), o.client_timeout_ms)),
        process_(process) {}

  // A read-only transaction of gets of `keys`; *versions gets each key's version (0: absent)
  // and *lists its list text when ok.
  HistoryOp ReadKeys(const std::vector<std::string>& keys,
                     std::map<std::string, uint64_t>* versions,
                     std::map<std::string, std::string>* lists) {
    TxnRequest req;
    std::vector<Mop> mops;
    std::vector<size_t> gets;
    for (const std::string& k : keys) {
      gets.push_back(req.success.size());
      req.success.push_back({TxnOpType::kGet, k, ""});
      mops.push_back({"r", k, std::nullopt});
    }
    HistoryOp op = Send(req, std::move(mops), gets);
    if (op.outcome == Outcome::kOk && versions != nullptr) {
      for (size_t i = 0; i < keys.size(); ++i) {
        (*versions)[keys[i]] = last_.results[i].found ? last_.results[i].version : 0;
        (*lists)[keys[i]] = op.mops[i].value.value_or("");
      }
    }
    return op;
  }

  // The commit of a transaction with appends (see append_workload.h).
  HistoryOp Commit(const std::vector<Mop>& mops, const std::map<std::string, uint64_t>& versions,
                   const std::map<std::string, std::string>& lists) {
    TxnRequest req;
    std::vector<size_t> gets;
    std::map<std::string, std::string> appended;  // key -> the list with its new elements
    for (const Mop& m : mops) {
      if (m.f == "r") {
        gets.push_back(req.success.size());
        req.success.push_back({TxnOpType::kGet, m.key, ""});
        continue;
      }
      auto [it, fresh] = appended.emplace(m.key, lists.at(m.key));
      it->second += (it->second.empty() ? "" : ",") + *m.value;
      if (fresh) req.compare.push_back({m.key, versions.at(m.key), std::nullopt, std::nullopt});
    }
    for (const auto& [key, list] : appended) req.success.push_back({TxnOpType::kPut, key, list});
    return Send(req, mops, gets);
  }

  void Record(const HistoryOp& op) {
    history_.Append(op);
    if (op.outcome == Outcome::kUnknown) process_ = next_process_->fetch_add(1);
  }

 private:
  HistoryOp Send(const TxnRequest& req, std::vector<Mop> mops, const std::vector<size_t>& gets) {
    HistoryOp op;
    op.worker = worker_;
    op.process = process_;
    op.f = "txn";
    op.mops = std::move(mops);
    op.call_ns = SinceNs(start_);
    last_ = client_.Send(req);
    op.ret_ns = SinceNs(start_);
    ClassifyTxn(last_, op);
    if (op.outcome != Outcome::kOk) return op;
    if (last_.results.size() != req.success.size()) {
      op.outcome = Outcome::kUnknown;  // committed, but what it read is not all there
      op.error = "200 with " + std::to_string(last_.results.size()) + " results for " +
                 std::to_string(req.success.size()) + " ops";
      return op;
    }
    size_t next = 0;
    for (Mop& m : op.mops) {
      if (m.f != "r") continue;
      const TxnOpResult& res = last_.results[gets[next++]];
      m.value = res.found ? res.value.value_or("") : "";
    }
    return op;
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

AppendWorkers::AppendWorkers(const Options& options, std::vector<std::string> endpoints,
                             History& history, Clock::time_point start, ShardOf shard_of)
    : options_(options),
      endpoints_(std::move(endpoints)),
      history_(history),
      start_(start),
      keys_(options.txn_keys, options.txn_ops_per_key, std::move(shard_of), options.shards, "k"),
      next_process_(options.concurrency) {}

AppendWorkers::~AppendWorkers() { Stop(); }

void AppendWorkers::Start() {
  for (int w = 0; w < options_.concurrency; ++w) threads_.emplace_back([this, w] { Run(w); });
}

void AppendWorkers::Stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

int AppendWorkers::FinalBatches() const {
  return static_cast<int>((keys_.AllKeys().size() + kFinalBatch - 1) / kFinalBatch);
}

int AppendWorkers::FinalReads(std::chrono::seconds timeout) {
  AppendClient c(options_, endpoints_, -1, history_, start_, &next_process_, 1'000'000);
  const std::vector<std::string> all = keys_.AllKeys();
  const auto deadline = Clock::now() + timeout;
  int failed = 0;
  for (size_t begin = 0; begin < all.size(); begin += kFinalBatch) {
    const std::vector<std::string> batch(all.begin() + begin,
                                         all.begin() + std::min(all.size(), begin + kFinalBatch));
    for (;;) {
      const HistoryOp op = c.ReadKeys(batch, nullptr, nullptr);
      c.Record(op);
      if (op.outcome == Outcome::kOk) break;
      if (Clock::now() >= deadline) {
        failed++;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return failed;
}

void AppendWorkers::Run(int worker) {
  AppendClient c(options_, endpoints_, worker, history_, start_, &next_process_, worker);
  std::mt19937_64 rng(options_.seed * 1000003 + 15485863 + static_cast<uint64_t>(worker));
  const auto pause = std::chrono::milliseconds(20);
  while (!stop_) {
    std::vector<Mop> mops;
    std::set<std::string> appended, touched;
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      const std::string key = keys_.Next(rng());
      touched.insert(key);
      if (rng() % 2 == 0 && !appended.count(key)) {
        mops.push_back({"r", key, std::nullopt});
      } else {
        appended.insert(key);
        mops.push_back({"append", key, std::to_string(next_element_++)});
      }
    }
    HistoryOp op;
    if (appended.empty()) {
      std::vector<std::string> keys;
      for (const Mop& m : mops) keys.push_back(m.key);
      op = c.ReadKeys(keys, nullptr, nullptr);  // one "r" mop per key, in order
    } else {
      std::map<std::string, uint64_t> versions;
      std::map<std::string, std::string> lists;
      const HistoryOp read =
          c.ReadKeys(std::vector<std::string>(touched.begin(), touched.end()), &versions, &lists);
      c.Record(read);
      if (read.outcome != Outcome::kOk) {
        if (!Sleep(stop_, pause)) break;
        continue;
      }
      op = c.Commit(mops, versions, lists);
    }
    c.Record(op);
    if (op.outcome != Outcome::kOk && op.error != "200 compare failed" && !Sleep(stop_, pause)) {
      break;
    }
  }
}

}  // namespace kvd::jepsen
