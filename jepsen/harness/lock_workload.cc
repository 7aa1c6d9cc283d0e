// Copyright (c) kvd authors.

#include "jepsen/harness/lock_workload.h"

#include <algorithm>
#include <charconv>
#include <random>
#include <set>

namespace kvd::jepsen {

std::vector<LockTarget> LockTargets(int count, bool other_shard, const ShardOf& shard_of,
                                    int shards) {
  std::vector<LockTarget> targets;
  std::set<uint64_t> covered;  // the keys' shards
  const size_t want_shards = shard_of ? static_cast<size_t>(std::max(shards, 1)) : 0;
  for (int i = 0; static_cast<int>(targets.size()) < count || covered.size() < want_shards; ++i) {
    if (i >= 100000) return {};
    const std::string tag = "g" + std::to_string(i);
    LockTarget t{"{" + tag + "}lock", "{" + tag + "}data"};
    if (shard_of) {
      const uint64_t key_shard = shard_of(t.key);
      // Past the first `count`, only keys of shards not covered yet.
      if (static_cast<int>(targets.size()) >= count && covered.count(key_shard)) continue;
      covered.insert(key_shard);
    }
    if (other_shard) {
      if (!shard_of) return {};
      const uint64_t key_shard = shard_of(t.key);
      bool found = false;
      for (int n = 0; n < 1000 && !found; ++n) {
        t.lock = "{" + tag + "-" + std::to_string(n) + "}lock";
        found = shard_of(t.lock) != key_shard;
      }
      if (!found) return {};
    }
    targets.push_back(std::move(t));
  }
  return targets;
}

std::string FenceValue(const std::string& lock, uint64_t token) {
  return lock + ":" + std::to_string(token);
}

std::string LockPath(const std::string& lock) { return "/v1/locks/" + rpc::PercentEncode(lock); }

std::optional<uint64_t> JsonTopLevelUint(std::string_view body, std::string_view field) {
  int depth = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      depth--;
    } else if (c == '"') {
      const size_t begin = ++i;
      while (i < body.size() && body[i] != '"') i += body[i] == '\\' ? 2 : 1;
      if (i >= body.size()) return std::nullopt;
      if (depth != 1 || body.substr(begin, i - begin) != field) continue;
      size_t j = i + 1;
      while (j < body.size() && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n')) j++;
      if (j >= body.size() || body[j] != ':') continue;  // a string value, not a name
      j++;
      while (j < body.size() && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n')) j++;
      uint64_t value = 0;
      auto [end, ec] = std::from_chars(body.data() + j, body.data() + body.size(), value);
      if (ec != std::errc() || end == body.data() + j) return std::nullopt;
      return value;
    }
  }
  return std::nullopt;
}

namespace {

using lincheck::Outcome;

// One worker's state and its four kinds of request.
class LockWorker {
 public:
  LockWorker(const Options& o, const std::vector<std::string>& endpoints, int worker,
             History& history, Clock::time_point start, std::atomic<int64_t>& next_process)
      : o_(o),
        worker_(worker),
        history_(history),
        start_(start),
        next_process_(next_process),
        endpoints_(endpoints),
        sticky_(static_cast<size_t>(worker) % endpoints.size()),
        client_(ClientOptionsFor(std::chrono::milliseconds(o.client_timeout_ms), 2)),
        client_id_("jl" + std::to_string(o.seed % 1000000007) + "-w" + std::to_string(worker)),
        process_(worker) {}

  HistoryOp Acquire(const LockTarget& t) {
    HistoryOp op = New("acquire", t.lock, t.lock);
    const std::string body = "{\"owner\":\"w" + std::to_string(worker_) +
                             "\",\"ttl_ms\":" + std::to_string(o_.lock_ttl_ms) +
                             ",\"wait_ms\":" + std::to_string(o_.lock_wait_ms) + "}";
    op.call_ns = SinceNs(start_);
    // An acquire may wait wait_ms for the lock before its answer comes.
    rpc::Result r = Send(o_.lock_wait_ms + o_.client_timeout_ms, "POST", LockPath(t.lock), body,
                         {Idempotency(), {"Content-Type", "application/json"}});
    op.token = JsonTopLevelUint(r.body, "token").value_or(0);
    if (r.ok() && op.token == 0) {  // granted or not, we cannot tell: the lock may be ours
      r.transport = rpc::Transport::kProtocolError;
      r.transport_error = "200 without a token: " + r.body.substr(0, 200);
    }
    return Finish(std::move(op), r);
  }

  HistoryOp Read(const LockTarget& t, uint64_t token) {
    HistoryOp op = New("read", t.key, t.lock);
    op.token = token;
    op.call_ns = SinceNs(start_);
    rpc::Result r = client_.Get(t.key);
    if (r.ok()) op.result = r.body;
    return Finish(std::move(op), r);
  }

  // A fenced PUT of a fresh value; a cas when `if_version` is given (expected: its value).
  HistoryOp Write(const LockTarget& t, uint64_t token, std::optional<uint64_t> if_version,
                  std::optional<std::string> expected, bool stale) {
    HistoryOp op = New(if_version ? "cas" : "write", t.key, t.lock);
    op.token = token;
    op.stale = stale;
    op.value = "w" + std::to_string(worker_) + ":" + std::to_string(token) + ":" +
               std::to_string(++counter_);
    std::string target = rpc::KeyPath(t.key);
    if (if_version) {
      op.if_version = if_version;
      op.expected = std::move(expected);
      target += "?if_version=" + std::to_string(*if_version);
    }
    op.call_ns = SinceNs(start_);
    const rpc::Result r = Send(o_.client_timeout_ms, "PUT", target, *op.value,
                               {{"X-Fence", FenceValue(t.lock, token)}, Idempotency()});
    return Finish(std::move(op), r);
  }

  HistoryOp Keepalive(const LockTarget& t, uint64_t token) {
    HistoryOp op = New("keepalive", t.lock, t.lock);
    op.token = token;
    op.call_ns = SinceNs(start_);
    const rpc::Result r = Send(o_.client_timeout_ms, "POST", LockPath(t.lock) + "/keepalive",
                               "{\"token\":" + std::to_string(token) + "}",
                               {Idempotency(), {"Content-Type", "application/json"}});
    return Finish(std::move(op), r);
  }

  HistoryOp Release(const LockTarget& t, uint64_t token) {
    HistoryOp op = New("release", t.lock, t.lock);
    op.token = token;
    op.call_ns = SinceNs(start_);
    const rpc::Result r =
        Send(o_.client_timeout_ms, "DELETE", LockPath(t.lock) + "?token=" + std::to_string(token),
             {}, {Idempotency()});
    return Finish(std::move(op), r);
  }

  // Records the operation; a new process id after an unknown outcome.
  void Record(const HistoryOp& op) {
    history_.Append(op);
    if (op.outcome == Outcome::kUnknown) process_ = next_process_++;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  // Client options for one worker: every endpoint, the sticky one first.
  rpc::ClientOptions ClientOptionsFor(std::chrono::milliseconds timeout, int attempts) const {
    rpc::ClientOptions c;
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      c.endpoints.push_back(endpoints_[(sticky_ + i) % endpoints_.size()]);
    }
    c.connect_timeout = std::chrono::milliseconds(500);
    c.request_timeout = timeout;
    c.max_attempts = attempts;
    c.retry_backoff = std::chrono::milliseconds(50);
    c.max_backoff = std::chrono::milliseconds(300);
    return c;
  }

  HistoryOp New(const char* f, const std::string& key, const std::string& lock) const {
    HistoryOp op;
    op.worker = worker_;
    op.process = process_;
    op.f = f;
    op.key = key;
    op.lock = lock;
    return op;
  }

  // Sends a request that carries an Idempotency-Key, retrying it (the same key) after an unknown
  // outcome or a refusal that applied nothing (503, 429, no connection), up to 3 attempts. An
  // answer that went through the shard's log (2xx, other 4xx) settles it: the server returns the
  // first attempt's outcome if that one applied first. Anything else after an attempt with an
  // unknown outcome leaves the whole unknown: that attempt may still commit (a retry answered 503
  // by a cluster without a leader says nothing about an entry the old leader replicated).
  //
  // Each attempt is one HttpClient call on a new client, so on a new connection. HttpClient's own
  // retries cannot be used: after an unknown attempt they return a later 503 as the answer, not
  // indeterminate. Nor can a pooled connection: when a reused connection drops after the request
  // was written, the client resends it on a new connection to the same node, and if that node is
  // gone (killed) reports the request as never sent and tries the next node, whose 503 then
  // looks like a refusal. Both lost writes that committed (jepsen/README.md).
  rpc::Result Send(int timeout_ms, std::string_view method, const std::string& target,
                   std::string_view body, const std::vector<rpc::Header>& headers) {
    bool uncertain = false;
    rpc::Result r;
    for (int attempt = 1; attempt <= 3; ++attempt) {
      if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
      rpc::HttpClient client(ClientOptionsFor(std::chrono::milliseconds(timeout_ms), 1));
      r = client.Request(method, target, body, headers);
      r.attempts = attempt;
      const bool answered = r.transport == rpc::Transport::kOk;
      // Stick to the node that answered; move on from one that did not.
      for (size_t i = 0; i < endpoints_.size(); ++i) {
        if (endpoints_[i] == r.endpoint) sticky_ = answered ? i : (i + 1) % endpoints_.size();
      }
      const bool nothing_applied = r.transport == rpc::Transport::kConnectFailed ||
                                   (answered && (r.status == 503 || r.status == 429));
      const bool unknown = !nothing_applied && (r.indeterminate || !answered || r.status >= 500);
      if (!nothing_applied && !unknown) return r;
      uncertain = uncertain || unknown;
    }
    if (uncertain && !r.indeterminate) {
      r.indeterminate = true;
      r.error_code += " after an attempt with an unknown outcome";
    }
    return r;
  }

  rpc::Header Idempotency() {
    return {"Idempotency-Key", client_id_ + ":" + std::to_string(++seq_)};
  }

  HistoryOp Finish(HistoryOp op, const rpc::Result& r) const {
    op.ret_ns = SinceNs(start_);
    Classify(r, op);
    if (op.outcome != Outcome::kOk && r.attempts > 1) {
      op.error += " (attempts " + std::to_string(r.attempts) + ")";
    }
    if (op.outcome == Outcome::kOk) {
      op.version = r.version.value_or(0);
      op.revision = r.revision.value_or(JsonTopLevelUint(r.body, "revision").value_or(0));
      if (op.f == "read" && !r.ok()) op.version = 0;  // 404: absent, version 0
    }
    return op;
  }

  const Options& o_;
  const int worker_;
  History& history_;
  const Clock::time_point start_;
  std::atomic<int64_t>& next_process_;
  const std::vector<std::string> endpoints_;
  size_t sticky_;                // the endpoint Send() tries first
  rpc::HttpClient client_;       // reads (the client retries them: a read applies nothing)
  const std::string client_id_;  // for Idempotency-Key; seq_ grows over all the worker's writes
  uint64_t seq_ = 0;
  uint64_t counter_ = 0;
  int64_t process_;
  std::mt19937_64 rng_{o_.seed * 1000003 + 7919 + static_cast<uint64_t>(worker_)};
};

}  // namespace

LockWorkers::LockWorkers(const Options& options, std::vector<std::string> endpoints,
                         History& history, Clock::time_point start, std::vector<LockTarget> targets)
    : options_(options),
      endpoints_(std::move(endpoints)),
      history_(history),
      start_(start),
      targets_(std::move(targets)),
      next_process_(options.concurrency) {}

LockWorkers::~LockWorkers() { Stop(); }

void LockWorkers::Start() {
  for (int w = 0; w < options_.concurrency; ++w) threads_.emplace_back([this, w] { Run(w); });
}

void LockWorkers::Stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

std::vector<std::string> LockWorkers::Keys() const {
  std::vector<std::string> keys;
  for (const LockTarget& t : targets_) keys.push_back(t.key);
  return keys;
}

bool LockWorkers::Stall(std::chrono::milliseconds d) const {
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
    if (stop_) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

void LockWorkers::Run(int worker) {
  LockWorker w(options_, endpoints_, worker, history_, start_, next_process_);
  std::uniform_real_distribution<double> unit(0, 1);
  while (!stop_) {
    const LockTarget& t = targets_[w.rng()() % targets_.size()];
    const HistoryOp acquired = w.Acquire(t);
    w.Record(acquired);
    if (acquired.outcome != Outcome::kOk) {
      // Held past wait_ms: try again at once. Else the cluster refused (no leader, ...) or the
      // outcome is unknown: a short pause, so a dead cluster is not spun on.
      if (acquired.error.rfind("409", 0) != 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      continue;
    }
    const uint64_t token = acquired.token;
    const HistoryOp read = w.Read(t, token);
    w.Record(read);
    if (read.outcome == Outcome::kOk) {
      const bool stall = unit(w.rng()) < options_.lock_stall_probability;
      if (stall && !Stall(std::chrono::milliseconds(2 * options_.lock_ttl_ms))) break;
      // Sometimes extend the lease first (after a stall: too late, it should be refused; the
      // write goes ahead anyway, as a holder that ignores the answer would).
      if (unit(w.rng()) < (stall ? 0.5 : 0.2)) w.Record(w.Keepalive(t, token));
      std::optional<uint64_t> if_version;
      // A 200 read without X-Kv-Version gives no version to compare with.
      const bool version_known = !read.result || read.version != 0;
      if (!stall && version_known && w.rng()() % 2 == 0) if_version = read.version;
      const HistoryOp first = w.Write(t, token, if_version, read.result, stall);
      w.Record(first);
      if (!stall && first.outcome == Outcome::kOk && first.version != 0 && w.rng()() % 2 == 0) {
        w.Record(w.Write(t, token, first.version, first.value, false));
      }
    }
    w.Record(w.Release(t, token));
  }
}

}  // namespace kvd::jepsen
