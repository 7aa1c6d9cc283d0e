// Copyright (c) kvd authors.

#include "jepsen/harness/lock_check.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace kvd::jepsen {
namespace {

using lincheck::Outcome;

bool IsWrite(const HistoryOp& op) { return (op.f == "write" || op.f == "cas") && !op.lock.empty(); }
bool Status(const HistoryOp& op, const char* prefix) { return op.error.rfind(prefix, 0) == 0; }

std::string Describe(const HistoryOp& op) {
  std::string s = "w" + std::to_string(op.worker) + " " + op.f + " " + op.key;
  if (IsWrite(op)) s += " fence " + op.lock + ":" + std::to_string(op.token);
  if (!IsWrite(op) && op.f != "read") s += " token " + std::to_string(op.token);
  if (op.revision != 0) s += " at revision " + std::to_string(op.revision);
  if (op.value) s += " value " + *op.value;
  return s;
}

// Anomalies by kind: how many, and the first few.
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

void Count(const std::vector<HistoryOp>& ops, LockCheckResult& r) {
  for (const HistoryOp& op : ops) {
    if (op.worker < 0) continue;
    const bool ok = op.outcome == Outcome::kOk, unknown = op.outcome == Outcome::kUnknown;
    if (op.f == "acquire") {
      r.acquires++;
      r.acquires_ok += ok;
      r.acquires_unknown += unknown;
      if (op.outcome == Outcome::kFail) (Status(op, "409") ? r.acquires_held : r.acquires_failed)++;
    } else if (op.f == "keepalive") {
      r.keepalives++;
      r.keepalives_ok += ok;
      if (!ok) (Status(op, "409") ? r.keepalives_fenced : r.keepalives_other)++;
    } else if (op.f == "release") {
      r.releases++;
      r.releases_ok += ok;
      if (!ok) (Status(op, "409") ? r.releases_fenced : r.releases_other)++;
    } else if (op.f == "read" && !op.lock.empty()) {
      r.reads++;
      r.reads_ok += ok;
    } else if (IsWrite(op)) {
      r.fenced_writes++;
      r.fenced_ok += ok;
      r.fenced_unknown += unknown;
      const bool refused = !ok && !unknown && Status(op, "409");
      if (op.outcome == Outcome::kFail) {
        (refused ? r.fenced_refused : Status(op, "412") ? r.fenced_mismatch : r.fenced_failed)++;
      }
      if (op.stale) {
        r.stale_writes++;
        (ok ? r.stale_accepted : refused ? r.stale_refused : r.stale_other)++;
      }
    }
  }
}

// Tokens are granted once and grow in real time.
void CheckTokens(const std::vector<const HistoryOp*>& acquires, Anomalies& a) {
  std::map<std::string, std::vector<const HistoryOp*>> by_lock;
  for (const HistoryOp* op : acquires) by_lock[op->lock].push_back(op);
  for (auto& [lock, list] : by_lock) {
    std::map<uint64_t, const HistoryOp*> granted;
    for (const HistoryOp* op : list) {
      auto [it, fresh] = granted.emplace(op->token, op);
      if (!fresh) {
        a.Add("token granted twice", Describe(*it->second) + " and " + Describe(*op) + " got " +
                                         std::to_string(op->token));
      }
    }
    // Sweep by invocation: every acquire that returned before this one was invoked got less.
    std::vector<const HistoryOp*> by_ret = list;
    std::sort(list.begin(), list.end(),
              [](const HistoryOp* x, const HistoryOp* y) { return x->call_ns < y->call_ns; });
    std::sort(by_ret.begin(), by_ret.end(),
              [](const HistoryOp* x, const HistoryOp* y) { return x->ret_ns < y->ret_ns; });
    size_t done = 0;
    const HistoryOp* max_before = nullptr;
    for (const HistoryOp* op : list) {
      for (; done < by_ret.size() && by_ret[done]->ret_ns < op->call_ns; ++done) {
        if (max_before == nullptr || by_ret[done]->token > max_before->token) {
          max_before = by_ret[done];
        }
      }
      if (max_before != nullptr && op->token <= max_before->token) {
        a.Add("token not above one granted earlier in real time",
              Describe(*op) + " invoked after " + Describe(*max_before) + " returned");
      }
    }
  }
}

// Per key, the accepted fenced writes in revision order: (b), (c), revisions and versions.
void CheckFenceOrder(const std::vector<const HistoryOp*>& writes,
                     const std::map<std::pair<std::string, uint64_t>, int>& grantee,
                     LockCheckResult& r, Anomalies& a) {
  std::map<std::string, std::vector<const HistoryOp*>> by_key;
  for (const HistoryOp* op : writes) by_key[op->key].push_back(op);
  r.keys_checked = by_key.size();
  for (auto& [key, list] : by_key) {
    std::stable_sort(list.begin(), list.end(), [](const HistoryOp* x, const HistoryOp* y) {
      return x->revision < y->revision;
    });
    // Per lock: the largest token accepted so far on this key, and the write that carried it.
    std::map<std::string, const HistoryOp*> top;
    std::map<std::pair<std::string, uint64_t>, int> writer;  // (lock, token) -> worker
    for (size_t i = 0; i < list.size(); ++i) {
      const HistoryOp& op = *list[i];
      if (i > 0 && list[i - 1]->revision == op.revision) {
        a.Add("two accepted writes with one revision",
              Describe(*list[i - 1]) + " and " + Describe(op));
      }
      if (i > 0 && op.version != 0 && list[i - 1]->version >= op.version) {
        a.Add("key version not growing with revision",
              Describe(*list[i - 1]) + " (version " + std::to_string(list[i - 1]->version) +
                  ") then " + Describe(op) + " (version " + std::to_string(op.version) + ")");
      }
      const HistoryOp*& best = top[op.lock];
      if (best != nullptr && op.token < best->token) {
        a.Add("(b) fenced write accepted after a larger token's",
              Describe(op) + " after " + Describe(*best));
      }
      if (best == nullptr || op.token > best->token) best = &op;
      const auto id = std::make_pair(op.lock, op.token);
      auto [it, fresh] = writer.emplace(id, op.worker);
      if (!fresh && it->second != op.worker) {
        a.Add("(c) two workers wrote with one token",
              "w" + std::to_string(it->second) + " and " + Describe(op));
      }
      auto g = grantee.find(id);
      if (g != grantee.end() && g->second != op.worker) {
        a.Add("(c) write fenced by a token granted to another worker",
              Describe(op) + ", granted to w" + std::to_string(g->second));
      }
    }
  }
}

// Leases, by Raft index in the lock's shard: a token is the index of the entry that granted it.
// An op of token T answered at revision R (a keepalive or release, in the lock's own log; a
// fenced write when the lock shares the key's shard) must not come after a larger token's grant
// at an index in (T, R), nor after T's release was applied.
void CheckLeases(const std::vector<const HistoryOp*>& checked,
                 const std::vector<const HistoryOp*>& acquires,
                 const std::vector<const HistoryOp*>& releases, Anomalies& a) {
  std::map<std::string, std::map<uint64_t, const HistoryOp*>> granted;  // lock -> index -> op
  for (const HistoryOp* op : acquires) {
    // The grant's index: the token (docs/api.md), or the answer's revision if it says later.
    granted[op->lock].emplace(std::max(op->token, op->revision), op);
  }
  std::map<std::pair<std::string, uint64_t>, const HistoryOp*> released;  // the earliest
  for (const HistoryOp* op : releases) {
    if (op->revision == 0) continue;
    auto [it, fresh] = released.emplace(std::make_pair(op->lock, op->token), op);
    if (!fresh && op->revision < it->second->revision) it->second = op;
  }
  for (const HistoryOp* op : checked) {
    const std::string what = IsWrite(*op) ? "fenced write" : op->f;
    const auto& grants = granted[op->lock];
    for (auto it = grants.upper_bound(op->token); it != grants.end() && it->first < op->revision;
         ++it) {
      if (it->second->token <= op->token) continue;
      a.Add("lease: " + what + " accepted after a larger token was granted",
            Describe(*op) + " after " + Describe(*it->second) + " was granted");
      break;
    }
    auto rel = released.find({op->lock, op->token});
    if (rel != released.end() && rel->second->revision < op->revision) {
      a.Add("lease: " + what + " accepted after its token was released",
            Describe(*op) + " after " + Describe(*rel->second));
    }
  }
}

}  // namespace

LockCheckResult CheckLocks(const std::vector<HistoryOp>& ops, const LockCheckOptions& options) {
  LockCheckResult r;
  Count(ops, r);
  std::vector<const HistoryOp*> acquires, writes, releases, keepalives;
  std::map<std::pair<std::string, uint64_t>, int> grantee;
  for (const HistoryOp& op : ops) {
    if (op.outcome != Outcome::kOk || op.worker < 0) continue;
    if (op.f == "acquire" && op.token != 0) {
      acquires.push_back(&op);
      grantee.emplace(std::make_pair(op.lock, op.token), op.worker);
    } else if (op.f == "release") {
      releases.push_back(&op);
    } else if (op.f == "keepalive") {
      keepalives.push_back(&op);
    } else if (IsWrite(op)) {
      writes.push_back(&op);
    }
  }
  Anomalies a;
  CheckTokens(acquires, a);
  CheckFenceOrder(writes, grantee, r, a);
  std::vector<const HistoryOp*> leased = keepalives;
  leased.insert(leased.end(), releases.begin(), releases.end());
  if (options.lock_with_key) leased.insert(leased.end(), writes.begin(), writes.end());
  CheckLeases(leased, acquires, releases, a);
  a.Into(r.anomalies);

  if (r.acquires_ok == 0) r.vacuity.push_back("no lock was acquired");
  if (r.fenced_ok == 0) r.vacuity.push_back("no fenced write was accepted");
  if (options.stalls_requested && r.stale_refused == 0) {
    r.vacuity.push_back("no stale write was refused (409 fenced): fencing never visibly acted (" +
                        std::to_string(r.stale_writes) + " stale writes)");
  }
  return r;
}

std::string LockSummaryLine(const LockCheckResult& r) {
  auto n = [](size_t v) { return std::to_string(v); };
  return "locks: " + std::string(r.valid() ? "valid" : "INVALID") + "; acquires " + n(r.acquires) +
         " (ok " + n(r.acquires_ok) + ", held " + n(r.acquires_held) + ", failed " +
         n(r.acquires_failed) + ", unknown " + n(r.acquires_unknown) + "); fenced writes " +
         n(r.fenced_writes) + " (ok " + n(r.fenced_ok) + ", fenced " + n(r.fenced_refused) +
         ", version mismatch " + n(r.fenced_mismatch) + ", failed " + n(r.fenced_failed) +
         ", unknown " + n(r.fenced_unknown) + "); stale writes " + n(r.stale_writes) +
         " (refused " + n(r.stale_refused) + ", accepted " + n(r.stale_accepted) + ", other " +
         n(r.stale_other) + "); releases " + n(r.releases) + " (ok " + n(r.releases_ok) +
         ", fenced " + n(r.releases_fenced) + ", other " + n(r.releases_other) + "); keepalives " +
         n(r.keepalives) + " (ok " + n(r.keepalives_ok) + ", fenced " + n(r.keepalives_fenced) +
         ", other " + n(r.keepalives_other) + "); reads " + n(r.reads_ok) + "/" + n(r.reads) +
         " ok; " + n(r.keys_checked) + " keys' fence order checked";
}

}  // namespace kvd::jepsen
