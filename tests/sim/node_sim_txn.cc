// NodeSim: bank workers over cross-shard transactions, and their checks (docs/design.md,
// Transactions; docs/api.md, Transactions).
//
// Six accounts, spread over the shards, start absent, which counts as a balance of 100. Workers,
// each through a random node (so coordinators crash with the simulator's faults, at the
// transaction crash points too), either read every account in ONE transaction of gets, or read
// one account with a plain linearizable read, or transfer: read two accounts (a transaction of
// gets), then one transaction that compares both values (or their absence) and puts the new
// ones. A written value is "<balance>|T<worker>:<n>", so every write names the transfer that
// made it. Checks (the end-of-run ones in node_sim_txn_checks.cc):
//   - every successful whole-bank read sees the initial total and no negative balance;
//   - after healing and the TTL plus a few election timeouts: no transaction record is left and
//     no intent is held (every replica, and the listing of in-doubt transactions), a
//     whole-bank transaction and plain linearizable reads succeed, agree, and hold the total;
//   - the chain: from each account's final value back to its absence, every value was written
//     by a transfer that compared the previous one and was not refused (nothing applied by a
//     transfer answered with an error, or with its compares failed). Every acknowledged
//     transfer's two writes are on the chains (no lost write), every transfer on a chain has
//     both writes there (all-or-nothing, indeterminate ones included), every value any read
//     returned is on its account's chain (no dirty read), and no read returned a value older
//     than the write of a transfer acknowledged before the read was sent (no stale read).
#include <algorithm>
#include <cstdlib>

#include "kv/node_impl.h"  // white-box: the recovery counters
#include "tests/sim/node_sim_impl.h"

namespace kvd::sim::node_sim {
namespace {

constexpr int kAccounts = 6;
constexpr int64_t kInitialBalance = 100;
constexpr double kReadAllShare = 0.3;
constexpr double kPlainReadShare = 0.15;  // of one account, through the intent-checking read path

const char* CodeName(kv::ErrorCode c) {
  static const char* const kNames[] = {
      "ok",      "not_found",  "version_mismatch", "invalid_argument", "unavailable",
      "timeout", "overloaded", "lock_held",        "fenced",           "conflict"};
  const auto i = static_cast<size_t>(c);
  return i < std::size(kNames) ? kNames[i] : "?";
}

}  // namespace

bool ParseBalance(const std::string& value, int64_t* balance, std::string* id) {
  const size_t bar = value.find('|');
  if (bar == std::string::npos || bar == 0) return false;
  char* end = nullptr;
  *balance = std::strtoll(value.c_str(), &end, 10);
  if (end != value.c_str() + bar) return false;
  *id = value.substr(bar + 1);
  return !id->empty();
}

kv::TxnOp TxnGet(const std::string& key) { return kv::TxnOp{kv::TxnOpType::kGet, key, ""}; }

void NodeSim::TxnSetup() {
  if (p_.txn_workers == 0) return;
  // Names that the cluster's ring (16 vnodes per shard) deals round-robin over the shards, so
  // most pairs of accounts span two shards. (A misconfigured node's directory may win the meta
  // shard's race; then they are spread by chance.)
  std::vector<uint64_t> ids;
  for (int i = 1; i <= p_.shards; ++i) ids.push_back(static_cast<uint64_t>(i));
  std::optional<kv::Ring> ring = kv::Ring::Build(ids, 16, nullptr);
  KVD_CHECK(ring.has_value());
  for (int i = 0; i < kAccounts; ++i) {
    const uint64_t want = 1 + static_cast<uint64_t>(i % p_.shards);
    std::string name = "acct" + std::to_string(i);
    for (int j = 0; j < 1000; ++j) {
      const std::string candidate = name + "." + std::to_string(j);
      if (ring->ShardFor(candidate) == want) {
        name = candidate;
        break;
      }
    }
    accounts_.push_back(name);
  }
  for (int i = 1; i <= p_.txn_workers; ++i) {
    TxnWorker w;
    w.id = static_cast<uint64_t>(i);
    txn_workers_.push_back(w);
    q_.After(rng_.Range(200, 400), [this, i] { TxnIssue(static_cast<uint64_t>(i)); });
  }
}

void NodeSim::TxnIssue(uint64_t wid) {
  TxnWorker& w = txn_workers_[wid - 1];
  if (clients_stop_ || failed() || w.busy) return;
  const int64_t idle_end = p_.idle_from_ms + p_.idle_ms;
  if (p_.idle_ms > 0 && q_.now() >= p_.idle_from_ms && q_.now() < idle_end) {
    q_.After(idle_end - q_.now(), [this, wid] { TxnIssue(wid); });
    return;
  }
  w.busy = true;
  const double roll = rng_.Real();
  if (roll < kReadAllShare) return TxnReadAll(wid);
  if (roll < kReadAllShare + kPlainReadShare) return TxnPlainRead(wid);
  TxnTransfer(wid);
}

void NodeSim::TxnPlainRead(uint64_t wid) {
  const std::string key = accounts_[rng_.Below(accounts_.size())];
  const int64_t sent = q_.now();
  auto answered = std::make_shared<bool>(false);
  q_.After(kClientTimeoutMs, [this, wid, answered] {
    if (!*answered) TxnIdle(wid);
    *answered = true;
  });
  SimNode* n = PickNode(0);
  if (n == nullptr) return;
  Trace("txn plain read", n->id, wid);
  kv::ReadRequest req;
  req.key = key;
  OnNode(*n, [&](kv::NodeCore& core) {
    core.Read(req, [this, wid, key, sent, answered](kv::ReadResponse r) {
      q_.After(0, [this, wid, key, sent, answered, r = std::move(r)] {
        if (*answered) return;
        *answered = true;
        if (r.code == kv::ErrorCode::kOk || r.code == kv::ErrorCode::kNotFound) {
          const std::string value = r.code == kv::ErrorCode::kOk ? r.record->value() : "";
          int64_t balance = 0;
          std::string id;
          if (!value.empty() && !ParseBalance(value, &balance, &id)) {
            return Fail("a read returned '" + value + "' for " + key + ", which no worker wrote");
          }
          account_reads_.push_back({sent, {{key, value}}});
          result_.txn_plain_reads++;
        }
        TxnIdle(wid);
      });
    });
  });
}

void NodeSim::TxnReadAll(uint64_t wid) {
  kv::TxnRequest req;
  for (const std::string& a : accounts_) req.success.push_back(TxnGet(a));
  Trace("txn read-all", 0, wid);
  const int64_t sent = q_.now();
  TxnCall(txn_workers_[wid - 1], std::move(req), [this, wid, sent](kv::TxnResponse r) {
    if (r.code == kv::ErrorCode::kOk) {
      std::vector<int64_t> balances;
      std::vector<std::string> values;
      if (!TxnBalances(r, accounts_, "a whole-bank read", sent, &balances, &values)) return;
      CountTxn(r);
      result_.txn_reads_all++;
      CheckTotal(balances, values,
                 "a whole-bank read (" +
                     (r.txn_id.empty() ? "read-only" : "transaction " + r.txn_id) + ", " +
                     std::to_string(r.shards.size()) + " shards)");
    }
    TxnIdle(wid);
  });
}

void NodeSim::TxnTransfer(uint64_t wid) {
  const size_t i = rng_.Below(accounts_.size());
  size_t j = rng_.Below(accounts_.size() - 1);
  if (j >= i) ++j;
  const std::vector<std::string> keys = {accounts_[i], accounts_[j]};
  kv::TxnRequest req;
  for (const std::string& k : keys) req.success.push_back(TxnGet(k));
  const int64_t sent = q_.now();
  TxnCall(txn_workers_[wid - 1], std::move(req), [this, wid, keys, sent](kv::TxnResponse r) {
    if (r.code != kv::ErrorCode::kOk) return TxnIdle(wid);
    std::vector<int64_t> bal;
    std::vector<std::string> vals;
    if (!TxnBalances(r, keys, "a transfer's read", sent, &bal, &vals)) return;
    CountTxn(r);
    if (bal[0] <= 0 && bal[1] <= 0) return TxnIdle(wid);
    const size_t from = bal[1] <= 0 ? 0 : bal[0] <= 0 ? 1 : rng_.Below(2);
    const int64_t amount = rng_.Range(1, bal[from]);
    bal[from] -= amount;
    bal[1 - from] += amount;
    TxnWorker& w = txn_workers_[wid - 1];
    Transfer t;
    t.id = "T" + std::to_string(wid) + ":" + std::to_string(++w.n);
    kv::TxnRequest put;
    for (size_t k = 0; k < 2; ++k) {
      t.key[k] = keys[k];
      t.prev[k] = vals[k];
      t.next[k] = std::to_string(bal[k]) + "|" + t.id;
      kv::TxnCompare c;
      c.key = keys[k];
      if (vals[k].empty()) {  // absent: it must still be
        c.target = kv::TxnCompareTarget::kExists;
        c.exists = false;
      } else {
        c.target = kv::TxnCompareTarget::kValue;
        c.value = vals[k];
      }
      put.compare.push_back(c);
      put.success.push_back(kv::TxnOp{kv::TxnOpType::kPut, keys[k], t.next[k]});
    }
    const std::string id = t.id;
    transfers_.emplace(id, std::move(t));
    Trace("txn transfer", 0, wid, w.n);
    TxnCall(w, std::move(put), [this, wid, id](kv::TxnResponse a) {
      TransferDone(id, a);
      TxnIdle(wid);
    });
  });
}

void NodeSim::TransferDone(const std::string& id, const kv::TxnResponse& r) {
  Transfer& t = transfers_.at(id);
  switch (r.code) {
    case kv::ErrorCode::kOk:
      CountTxn(r);
      if (!r.succeeded) {  // committed the (empty) failure branch: nothing written
        t.state = Transfer::State::kFailed;
        t.answer = "ok, compares failed";
        return;
      }
      if (r.results.size() != 2 || r.results[0].type != kv::TxnOpType::kPut ||
          r.results[1].type != kv::TxnOpType::kPut) {
        return Fail("transfer " + id + " acknowledged with results that are not its two puts");
      }
      t.state = Transfer::State::kAcked;
      t.acked = q_.now();
      result_.transfers_ok++;
      return;
    case kv::ErrorCode::kTimeout:  // no answer, or an unknown outcome
      t.state = Transfer::State::kUnknown;
      result_.txns_unknown++;
      return;
    case kv::ErrorCode::kConflict:
    case kv::ErrorCode::kUnavailable:
    case kv::ErrorCode::kOverloaded:
      t.state = Transfer::State::kFailed;  // docs/api.md: nothing applied
      t.answer = std::string(CodeName(r.code)) + ": " + r.message;
      return;
    default:
      Fail("transfer " + id + ": unexpected answer " + CodeName(r.code) + ": " + r.message);
  }
}

void NodeSim::CountTxn(const kv::TxnResponse& r) {
  result_.txns_ok++;
  if (r.shards.size() > 1) result_.txns_cross++;
}

bool NodeSim::TxnBalances(const kv::TxnResponse& r, const std::vector<std::string>& keys,
                          const std::string& what, int64_t sent, std::vector<int64_t>* balances,
                          std::vector<std::string>* values) {
  if (!r.succeeded || r.results.size() != keys.size()) {
    Fail(what + " answered ok without one get result per account");
    return false;
  }
  AccountRead read;
  read.sent = sent;
  for (size_t i = 0; i < keys.size(); ++i) {
    const kv::TxnOpResult& g = r.results[i];
    if (g.type != kv::TxnOpType::kGet || g.key != keys[i]) {
      Fail(what + ": result " + std::to_string(i) + " is not the get of " + keys[i]);
      return false;
    }
    int64_t balance = kInitialBalance;
    std::string id;
    if (g.found && !ParseBalance(g.value, &balance, &id)) {
      Fail(what + " returned '" + g.value + "' for " + keys[i] + ", which no worker wrote");
      return false;
    }
    balances->push_back(balance);
    values->push_back(g.found ? g.value : "");
    read.values.emplace_back(keys[i], values->back());
  }
  account_reads_.push_back(std::move(read));
  return true;
}

void NodeSim::CheckTotal(const std::vector<int64_t>& balances,
                         const std::vector<std::string>& values, const std::string& what) {
  int64_t total = 0;
  std::string shown;
  for (size_t i = 0; i < balances.size(); ++i) {
    total += balances[i];
    shown += " " + accounts_[i] + "=" + (values[i].empty() ? "(absent)" : values[i]);
  }
  const bool negative =
      std::any_of(balances.begin(), balances.end(), [](int64_t b) { return b < 0; });
  if (total != kAccounts * kInitialBalance || negative) {
    Fail(what + " saw a total of " + std::to_string(total) + " (initial " +
         std::to_string(kAccounts * kInitialBalance) + ")" +
         (negative ? ", a negative balance" : "") + ":" + shown);
  }
}

void NodeSim::TxnIdle(uint64_t wid) {
  TxnWorker& w = txn_workers_[wid - 1];
  w.busy = false;
  q_.After(rng_.Range(5, 60), [this, wid] { TxnIssue(wid); });
}

void NodeSim::TxnCall(TxnWorker& w, kv::TxnRequest req, std::function<void(kv::TxnResponse)> done,
                      uint64_t node) {
  // Answered once: by the node, or with kTimeout when the client gives up (indeterminate).
  struct Call {
    std::function<void(kv::TxnResponse)> done;
    bool over = false;
  };
  auto call = std::make_shared<Call>();
  call->done = std::move(done);
  const uint64_t wid = w.id, sent = static_cast<uint64_t>(q_.now());
  auto finish = [this, call, wid, sent](kv::TxnResponse r) {
    if (call->over) return;
    call->over = true;
    // The answer, its shards and transaction id, and the time it took.
    Trace(std::string("txn ") + CodeName(r.code) + " (" + std::to_string(r.shards.size()) +
              " shards" + (r.txn_id.empty() ? "" : " " + r.txn_id) + ")" +
              (r.code == kv::ErrorCode::kOk ? "" : ": " + r.message),
          0, wid, static_cast<uint64_t>(q_.now()) - sent);
    call->done(std::move(r));
  };
  q_.After(kClientTimeoutMs, [finish] {
    kv::TxnResponse r;
    r.code = kv::ErrorCode::kTimeout;
    r.message = "no answer before the client's timeout";
    finish(std::move(r));
  });
  SimNode* n = node != 0 ? nodes_.at(node).get() : PickNode(0);
  if (n == nullptr) return;
  Trace("txn", n->id, w.id, w.n);
  // Handled as an event of its own: the worker's next step must not re-enter the node.
  OnNode(*n, [&](kv::NodeCore& core) {
    core.Txn(std::move(req), [this, finish](kv::TxnResponse r) {
      q_.After(0, [finish, r = std::move(r)]() mutable { finish(std::move(r)); });
    });
  });
}

void NodeSim::OnTxnApply(uint64_t shard, uint64_t index, const kvpb::Command& cmd,
                         const kvpb::Result& r) {
  if (!cmd.has_txn_begin() && !cmd.has_txn_decide()) return;
  if (!txn_slots_.insert({shard, index}).second) return;  // another replica applied it first
  if (r.code() != kvpb::RESULT_OK) return;
  const std::string& id = cmd.has_txn_begin() ? cmd.txn_begin().id() : cmd.txn_decide().id();
  auto [it, fresh] = txn_states_.emplace(id, kvpb::TXN_PENDING);
  if (fresh || it->second != kvpb::TXN_PENDING || r.txn_state() == kvpb::TXN_PENDING) return;
  it->second = r.txn_state();
  if (r.txn_state() == kvpb::TXN_COMMITTED) {
    result_.txn_commit_points++;
  } else if (cmd.txn_decide().decision() == kvpb::TXN_PENDING) {
    result_.txn_expired++;  // aborted past its deadline by recovery or a blocked reader
  }
}

void NodeSim::NoteTxnCounters(SimNode& n) {
  if (!n.up()) return;
  result_.txn_recoveries += n.core->impl().counters.txn_recoveries;
}

std::string NodeSim::TxnSummary() {
  for (auto& [id, n] : nodes_) NoteTxnCounters(*n);
  const uint64_t pct = result_.txns_ok == 0 ? 0 : 100 * result_.txns_cross / result_.txns_ok;
  std::string crashes = "crashes at";
  for (const auto& [point, hits] : result_.txn_crashes) {
    crashes += " " + point + " " + std::to_string(hits);
  }
  if (result_.txn_crashes.empty()) crashes += " no txn point";
  return ", txns (ttl " + std::to_string(p_.txn_ttl_ms) +
         " ms): " + std::to_string(result_.txns_ok) + " ok (" + std::to_string(pct) +
         "% cross-shard, " + std::to_string(result_.txn_reads_all) + " whole-bank reads), " +
         std::to_string(result_.txn_plain_reads) + " plain reads, " +
         std::to_string(result_.transfers_ok) + " transfers acked, " +
         std::to_string(result_.transfers_applied) + " applied, " +
         std::to_string(result_.txns_unknown) + " unknown, " +
         std::to_string(result_.txn_commit_points) + " commit points, " + crashes + ", " +
         std::to_string(result_.txn_expired) + " expired, " +
         std::to_string(result_.txn_recoveries) + " recovered";
}

}  // namespace kvd::sim::node_sim
