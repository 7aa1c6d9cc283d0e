// NodeSim: the bank workload's end-of-run checks (node_sim_txn.cc has the workload and says
// what is checked): after healing and recovery nothing is in doubt, the final state, the chains.
#include <algorithm>

#include "kv/node_impl.h"  // white-box: the records and intents each replica holds
#include "tests/sim/node_sim_impl.h"

namespace kvd::sim::node_sim {
namespace {

// After healing, recovery gets the TTL plus this long (several election timeouts of 100-200 ms)
// to finish every transaction.
constexpr int64_t kRecoveryGraceMs = 1000;

}  // namespace

void NodeSim::TxnFinal() {
  if (txn_workers_.empty()) return;
  auto run_for = [this](int64_t ms, const std::function<bool()>& done) {
    const int64_t until = q_.now() + ms;
    while (!failed() && !q_.empty() && q_.now() < until && !done()) q_.RunNext();
  };
  // The workers' last calls end (answered or timed out), then recovery has its time.
  run_for(3 * kClientTimeoutMs, [this] {
    return std::none_of(txn_workers_.begin(), txn_workers_.end(),
                        [](const TxnWorker& w) { return w.busy; });
  });
  run_for(p_.txn_ttl_ms + kRecoveryGraceMs, [] { return false; });
  if (failed()) return;
  // Nothing in doubt: no record (pending, or decided and not yet resolved everywhere) and no
  // intent on any replica.
  for (const auto& [id, n] : nodes_) {
    if (!n->up()) return Fail("n" + std::to_string(id) + " is down at the end");
    for (const auto& [shard, r] : n->core->impl().replicas) {
      const std::string where = "n" + std::to_string(id) + " shard " + std::to_string(shard);
      for (const auto& [txn, rec] : r->txn_records) {
        return Fail("transaction " + txn + " still in doubt " +
                    std::to_string(q_.now() - heal_time_) + " ms after healing: its record (" +
                    kvpb::TxnState_Name(rec.state()) + ", deadline " +
                    std::to_string(rec.deadline_ms()) + ", shard clock " +
                    std::to_string(r->sm->applied().clock_ms()) + ") is still on " + where);
      }
      for (const auto& [txn, p] : r->txn_prepared) {
        return Fail("transaction " + txn + " still holds intents on " + where + " " +
                    std::to_string(q_.now() - heal_time_) + " ms after healing (record shard " +
                    std::to_string(p.record_shard) + ")");
      }
    }
  }
  TxnFinalList();
  if (!failed()) TxnFinalReads();
  if (!failed()) CheckChains();
}

void NodeSim::TxnFinalList() {
  // The listing (GET /v1/txns) through each node in turn until one answers.
  for (int attempt = 0; attempt < 10 && !failed(); ++attempt) {
    auto it = nodes_.begin();
    std::advance(it, static_cast<size_t>(attempt) % nodes_.size());
    auto got = std::make_shared<std::optional<kv::TxnListResponse>>();
    OnNode(*it->second, [&](kv::NodeCore& core) {
      core.Txns(kv::TxnListRequest{}, [got](kv::TxnListResponse r) { *got = std::move(r); });
    });
    const int64_t until = q_.now() + kClientTimeoutMs;
    while (!failed() && !got->has_value() && q_.now() < until) q_.RunNext();
    if (!got->has_value() || (*got)->code != kv::ErrorCode::kOk) continue;
    if (!(*got)->txns.empty()) {
      const kv::TxnInfo& t = (*got)->txns.front();
      return Fail("the listing shows " + std::to_string((*got)->txns.size()) +
                  " transaction(s) in doubt after healing, e.g. " + t.id + " (" + t.state +
                  ", age " + std::to_string(t.age_ms) + " ms)");
    }
    return;
  }
  if (!failed()) Fail("no node listed the in-doubt transactions after healing");
}

void NodeSim::TxnFinalReads() {
  // Every account through one transaction, then each with a plain linearizable read; nothing
  // runs in between, so they must agree.
  std::vector<int64_t> balances;
  for (int attempt = 0; attempt < 10 && !failed() && final_values_.empty(); ++attempt) {
    auto it = nodes_.begin();
    std::advance(it, static_cast<size_t>(attempt) % nodes_.size());
    auto got = std::make_shared<std::optional<kv::TxnResponse>>();
    kv::TxnRequest req;
    for (const std::string& a : accounts_) req.success.push_back(TxnGet(a));
    TxnWorker final_reader;
    TxnCall(
        final_reader, std::move(req), [got](kv::TxnResponse r) { *got = std::move(r); }, it->first);
    while (!failed() && !got->has_value()) q_.RunNext();
    if (failed() || (*got)->code != kv::ErrorCode::kOk) continue;
    TxnBalances(**got, accounts_, "the final whole-bank read", q_.now(), &balances, &final_values_);
  }
  if (failed()) return;
  if (final_values_.empty()) return Fail("the final whole-bank transaction did not succeed");
  CheckTotal(balances, final_values_, "the final whole-bank read");
  for (size_t i = 0; i < accounts_.size() && !failed(); ++i) {
    bool ok = false;
    for (int attempt = 0; attempt < 10 && !ok && !failed(); ++attempt) {
      auto it = nodes_.begin();
      std::advance(it, (i + static_cast<size_t>(attempt)) % nodes_.size());
      auto got = std::make_shared<std::optional<kv::ReadResponse>>();
      kv::ReadRequest req;
      req.key = accounts_[i];
      OnNode(*it->second, [&](kv::NodeCore& core) {
        core.Read(req, [got](kv::ReadResponse r) { *got = std::move(r); });
      });
      const int64_t until = q_.now() + kClientTimeoutMs;
      while (!failed() && !got->has_value() && q_.now() < until) q_.RunNext();
      if (!got->has_value()) continue;
      const kv::ReadResponse& r = **got;
      if (r.code != kv::ErrorCode::kOk && r.code != kv::ErrorCode::kNotFound) continue;
      ok = true;
      const std::string value = r.code == kv::ErrorCode::kOk ? r.record->value() : "";
      if (value != final_values_[i]) {
        Fail("the final plain read of " + accounts_[i] + " returned '" + value +
             "', the final whole-bank transaction '" + final_values_[i] + "'");
      }
    }
    if (!ok && !failed()) Fail("the final plain read of " + accounts_[i] + " did not succeed");
  }
}

void NodeSim::CheckChains() {
  // Walk each account's chain back from its final value to its absence.
  std::set<std::pair<std::string, size_t>> on_chain;   // (transfer, which of its writes)
  std::map<std::string, std::set<std::string>> chain;  // account -> its values ("" = absent)
  for (size_t a = 0; a < accounts_.size(); ++a) {
    const std::string& key = accounts_[a];
    std::string v = final_values_[a];
    chain[key].insert(v);
    for (size_t steps = 0; !v.empty(); ++steps) {
      int64_t balance = 0;
      std::string id;
      auto t = ParseBalance(v, &balance, &id) ? transfers_.find(id) : transfers_.end();
      if (t == transfers_.end() || steps > transfers_.size()) {
        return Fail(key + " holds '" + v + "' in its history, which no transfer wrote");
      }
      const size_t k = t->second.key[0] == key && t->second.next[0] == v ? 0 : 1;
      if (t->second.key[k] != key || t->second.next[k] != v) {
        return Fail(key + " holds '" + v + "', which transfer " + id + " did not write to it");
      }
      if (t->second.state == Transfer::State::kFailed) {
        return Fail("transfer " + id + " was answered '" + t->second.answer +
                    "' (nothing applied), but its write of " + key +
                    " is in the account's history");
      }
      on_chain.emplace(id, k);
      v = t->second.prev[k];
      chain[key].insert(v);
    }
  }
  for (const auto& [id, t] : transfers_) {
    const bool first = on_chain.count({id, 0}) > 0, second = on_chain.count({id, 1}) > 0;
    if (t.state == Transfer::State::kAcked && !(first && second)) {
      const size_t lost = first ? 1 : 0;
      const size_t a = static_cast<size_t>(
          std::find(accounts_.begin(), accounts_.end(), t.key[lost]) - accounts_.begin());
      return Fail("acknowledged transfer " + id + " is lost: its write '" + t.next[lost] + "' of " +
                  t.key[lost] + " is not in the account's history (final value '" +
                  final_values_.at(a) + "')");
    }
    if (first != second) {
      return Fail("transfer " + id + " applied partly: its write of " + t.key[first ? 0 : 1] +
                  " is in that account's history, its write of " + t.key[first ? 1 : 0] +
                  " is not");
    }
    if (first) result_.transfers_applied++;
  }
  // Every value a read returned is on its account's chain (no dirty read), and no older than
  // the write of any transfer acknowledged before the read was sent (no stale read).
  std::map<std::string, std::map<std::string, size_t>> position;  // account -> value -> from end
  for (size_t a = 0; a < accounts_.size(); ++a) {
    std::string v = final_values_[a];
    auto& pos = position[accounts_[a]];
    for (size_t back = 0;; ++back) {
      pos[v] = back;
      if (v.empty()) break;
      int64_t balance = 0;
      std::string id;
      (void)ParseBalance(v, &balance, &id);
      const Transfer& t = transfers_.at(id);
      v = t.prev[t.key[0] == accounts_[a] && t.next[0] == v ? 0 : 1];
    }
  }
  std::vector<const Transfer*> acked;  // in acknowledgement order
  for (const auto& [id, t] : transfers_) {
    if (t.state == Transfer::State::kAcked) acked.push_back(&t);
  }
  std::sort(acked.begin(), acked.end(),
            [](const Transfer* a, const Transfer* b) { return a->acked < b->acked; });
  for (const AccountRead& read : account_reads_) {
    for (const auto& [key, value] : read.values) {
      auto it = position[key].find(value);
      if (it == position[key].end()) {
        return Fail("a read sent at " + std::to_string(read.sent) + " ms returned '" + value +
                    "' for " + key +
                    ", which is not in the account's committed history (a dirty read)");
      }
      for (const Transfer* t : acked) {
        if (t->acked >= read.sent) break;
        const size_t k = t->key[0] == key ? 0 : t->key[1] == key ? 1 : 2;
        if (k < 2 && position[key].at(t->next[k]) < it->second) {
          return Fail("a read sent at " + std::to_string(read.sent) + " ms returned '" + value +
                      "' for " + key + ", older than '" + t->next[k] + "', which transfer " +
                      t->id + " wrote and was acknowledged for at " + std::to_string(t->acked) +
                      " ms (a stale read)");
        }
      }
    }
  }
}

}  // namespace kvd::sim::node_sim
