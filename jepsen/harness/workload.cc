// Copyright (c) kvd authors.

#include "jepsen/harness/workload.h"

#include <algorithm>
#include <limits>
#include <map>
#include <random>

namespace kvd::jepsen {

int ActiveRegisterKeys(const Options& options) {
  return options.shards > 1 ? std::max(options.active_keys, 2 * options.shards)
                            : options.active_keys;
}

KeyPool::KeyPool(int active, int ops_per_key, ShardOf shard_of, int shards, std::string prefix)
    : ops_per_key_(ops_per_key),
      prefix_(std::move(prefix)),
      shard_of_(std::move(shard_of)),
      shards_(std::max(shards, 1)) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < active; ++i) active_.push_back({Fresh(), 0});
}

std::string KeyPool::Fresh() {
  if (!shard_of_) {
    all_.push_back(prefix_ + std::to_string(next_name_++));
    return all_.back();
  }
  // Shards no key has landed in yet have none in use.
  int fewest = in_use_.size() < shards_ ? 0 : std::numeric_limits<int>::max();
  for (const auto& [shard, count] : in_use_) fewest = std::min(fewest, count);
  auto needy = [&](uint64_t shard) {
    auto it = in_use_.find(shard);
    return it == in_use_.end() || it->second <= fewest;
  };
  std::string key;
  uint64_t shard = 0;
  // The oldest name passed over before, in a shard with the fewest keys in use.
  const std::pair<uint64_t, std::string>* oldest = nullptr;
  for (const auto& [s, names] : spare_) {
    if (!names.empty() && needy(s) && (oldest == nullptr || names.front().first < oldest->first)) {
      oldest = &names.front();
      shard = s;
    }
  }
  if (oldest != nullptr) {
    key = oldest->second;
    spare_[shard].pop_front();
  } else {
    // Else new names, setting aside those of other shards (bounded: names spread over the
    // shards, so this ends after a few dozen).
    for (int tries = 0; tries < 10000; ++tries) {
      const uint64_t n = next_name_++;
      key = prefix_ + std::to_string(n);
      shard = shard_of_(key);
      if (needy(shard)) break;
      if (spare_[shard].size() < kMaxSpare) spare_[shard].emplace_back(n, key);
    }
  }
  in_use_[shard]++;
  all_.push_back(key);
  return key;
}

std::string KeyPool::Next(uint64_t random) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = active_[random % active_.size()];
  std::string key = slot.first;
  if (++slot.second >= ops_per_key_) {
    if (shard_of_) in_use_[shard_of_(key)]--;
    slot = {Fresh(), 0};
  }
  return key;
}

std::vector<std::string> KeyPool::ActiveKeys() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> keys;
  for (const auto& [key, ops] : active_) keys.push_back(key);
  return keys;
}

std::vector<std::string> KeyPool::AllKeys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return all_;
}

void Classify(const rpc::Result& r, HistoryOp& op) {
  using lincheck::Outcome;
  op.endpoint = r.endpoint;
  op.shard = r.shard.value_or(0);
  if (r.ok() || (op.f == "read" && r.not_found())) {
    op.outcome = Outcome::kOk;
    return;
  }
  op.error = r.transport == rpc::Transport::kOk
                 ? std::to_string(r.status) + " " + r.error_code
                 : std::string(rpc::TransportName(r.transport)) + " " + r.transport_error;
  const bool unknown = r.indeterminate || r.transport == rpc::Transport::kTimeout ||
                       r.transport == rpc::Transport::kProtocolError ||
                       (r.transport == rpc::Transport::kOk && r.status >= 500 && r.status != 503);
  if (unknown) {
    op.outcome = Outcome::kUnknown;
    return;
  }
  op.outcome = Outcome::kFail;  // connect failed, 503, 429, 4xx: nothing was applied
  op.cas_mismatch = op.f == "cas" && r.status == 412;
}

Workers::Workers(const Options& options, std::vector<std::string> endpoints, History& history,
                 Clock::time_point start, ShardOf shard_of)
    : options_(options),
      endpoints_(std::move(endpoints)),
      history_(history),
      start_(start),
      keys_(ActiveRegisterKeys(options), options.ops_per_key, std::move(shard_of), options.shards),
      next_process_(options.concurrency) {}

Workers::~Workers() { Stop(); }

void Workers::Start() {
  for (int w = 0; w < options_.concurrency; ++w) threads_.emplace_back([this, w] { Run(w); });
}

void Workers::Stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

rpc::HttpClient Workers::MakeClient(int worker) const {
  rpc::ClientOptions o;
  // Spread workers over the nodes: each starts at a different endpoint and fails over in order.
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    o.endpoints.push_back(endpoints_[(worker + i) % endpoints_.size()]);
  }
  o.connect_timeout = std::chrono::milliseconds(500);
  o.request_timeout = std::chrono::milliseconds(options_.client_timeout_ms);
  o.max_attempts = 2;
  o.retry_backoff = std::chrono::milliseconds(50);
  o.max_backoff = std::chrono::milliseconds(300);
  return rpc::HttpClient(o);
}

void Workers::Run(int worker) {
  std::mt19937_64 rng(options_.seed * 1000003 + worker);
  rpc::HttpClient client = MakeClient(worker);
  int64_t process = worker;
  uint64_t seq = 0;
  // What this worker last learned about a key: its value (nullopt = absent) and version.
  std::map<std::string, std::pair<std::optional<std::string>, uint64_t>> known;
  while (!stop_) {
    HistoryOp op;
    op.worker = worker;
    op.process = process;
    const std::string unique = "p" + std::to_string(process) + "-" + std::to_string(++seq);
    rpc::Result r;
    if (options_.workload == Workload::kSet) {
      op.f = "add";
      op.key = kSetPrefix + unique;
      op.value = "1";
      op.call_ns = SinceNs(start_);
      r = client.Put(op.key, *op.value);
    } else {
      op.key = keys_.Next(rng());
      const int dice = static_cast<int>(rng() % 100);
      auto it = known.find(op.key);
      if (dice < 25 && it != known.end()) {
        op.f = "cas";
        op.expected = it->second.first;
        op.if_version = it->second.second;
        op.value = unique;
        op.call_ns = SinceNs(start_);
        r = client.Cas(op.key, *op.if_version, *op.value);
      } else if (dice < 60) {
        op.f = "write";
        op.value = unique;
        op.call_ns = SinceNs(start_);
        r = client.Put(op.key, *op.value);
      } else {
        op.f = "read";
        op.call_ns = SinceNs(start_);
        r = client.Get(op.key);
      }
    }
    op.ret_ns = SinceNs(start_);
    Classify(r, op);
    if (op.outcome == lincheck::Outcome::kOk) {
      ok_++;
      if (op.f == "read") {
        if (r.ok()) op.result = r.body;
        if (r.version || r.not_found()) known[op.key] = {op.result, r.version.value_or(0)};
      } else if (op.f != "add" && r.version) {
        known[op.key] = {op.value, *r.version};
      }
    } else if (op.f != "read") {
      known.erase(op.key);  // a failed or unknown write leaves us unsure of the current version
    }
    if (op.outcome == lincheck::Outcome::kUnknown) process = next_process_++;
    history_.Append(std::move(op));
    if (known.size() > 64) known.clear();
  }
}

rpc::HttpClient FinalClient(const std::vector<std::string>& endpoints) {
  rpc::ClientOptions o;
  o.endpoints = endpoints;
  o.connect_timeout = std::chrono::milliseconds(500);
  o.request_timeout = std::chrono::milliseconds(3000);
  o.max_attempts = 4;
  o.retry_backoff = std::chrono::milliseconds(100);
  o.max_backoff = std::chrono::milliseconds(500);
  return rpc::HttpClient(o);
}

int FinalReads(const std::vector<std::string>& keys, const std::vector<std::string>& endpoints,
               History& history, Clock::time_point start, std::chrono::seconds timeout) {
  rpc::HttpClient client = FinalClient(endpoints);
  const auto deadline = Clock::now() + timeout;
  int failed = 0;
  int64_t process = 1'000'000;
  for (const std::string& key : keys) {
    HistoryOp op;
    do {
      op = HistoryOp{};
      op.worker = -1;
      op.process = process;
      op.f = "read";
      op.key = key;
      op.call_ns = SinceNs(start);
      rpc::Result r = client.Get(key);
      op.ret_ns = SinceNs(start);
      Classify(r, op);
      if (r.ok()) op.result = r.body;
    } while (op.outcome != lincheck::Outcome::kOk && Clock::now() < deadline);
    if (op.outcome != lincheck::Outcome::kOk) failed++;
    if (op.outcome == lincheck::Outcome::kUnknown) process++;
    history.Append(std::move(op));
  }
  return failed;
}

}  // namespace kvd::jepsen
