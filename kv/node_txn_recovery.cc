// Recovery of cross-shard transactions whose coordinator stopped (docs/design.md,
// Transactions). Every replica keeps, from apply, the records its shard holds and the
// transactions prepared in it. Each tick, the leader of a shard:
//   - for a PENDING record whose deadline its clock has reached: proposes TxnDecide(PENDING),
//     which aborts it only if it is still pending at that entry's time (a compare-and-set: a
//     commit that lands first wins);
//   - for a decided record past its deadline (its coordinator should have finished long ago):
//     resolves every participant and forgets the record;
//   - for a transaction prepared here longer than the TTL ago: asks its record, and resolves
//     the intents here if it is decided (HelpResolve).
// So no transaction stays in doubt much longer than its deadline plus a leader election.
#include <algorithm>

#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

constexpr uint64_t kRecoverAgainTicks = 20;  // an action not yet visible is retried after this
constexpr size_t kMaxActionsPerTick = 64;

}  // namespace

void CoreImpl::NoteTxnEffects(Replica& r, const AppliedCommand& a) {
  for (const auto& [id, rec] : a.txn.records) {
    r.txn_recovery_tick.erase(id);  // a new state: the next step is due at once
    if (rec) {
      r.txn_records[id] = *rec;
    } else {
      r.txn_records.erase(id);
      r.txn_recovery_tick.erase(id);
    }
  }
  for (const auto& [id, p] : a.txn.prepared) {
    if (p) {
      r.txn_prepared[id] = *p;
    } else {
      r.txn_prepared.erase(id);
      r.txn_recovery_tick.erase(id);
    }
  }
}

void CoreImpl::LoadTxnState(Replica& r) {
  r.txn_records.clear();
  r.txn_prepared.clear();
  r.txn_recovery_tick.clear();
  std::vector<std::pair<std::string, kvpb::TxnRecord>> records;
  raft::Status s = r.sm->TxnRecords(SIZE_MAX, &records);
  KVD_CHECK_MSG(s.ok(), "reading transaction records: " << s.ToString());
  for (auto& [id, rec] : records) r.txn_records[id] = std::move(rec);
  std::vector<std::pair<std::string, TxnEffects::Prepared>> prepared;
  s = r.sm->PreparedTxns(&prepared);
  KVD_CHECK_MSG(s.ok(), "reading prepared transactions: " << s.ToString());
  for (auto& [id, p] : prepared) r.txn_prepared[id] = p;
}

void CoreImpl::MaybeRecoverTxns(Replica& r) {
  if (r.soft.state != raft::StateType::kLeader || stopping) return;
  if (r.txn_records.empty() && r.txn_prepared.empty()) return;
  const int64_t now = ShardClockEstimate(r);
  size_t actions = 0;
  auto due = [&](const std::string& id) {
    if (actions == kMaxActionsPerTick) return false;
    auto [it, fresh] = r.txn_recovery_tick.emplace(id, ticks);
    if (!fresh && ticks - it->second < kRecoverAgainTicks) return false;
    it->second = ticks;
    ++actions;
    return true;
  };
  for (const auto& [id, rec] : r.txn_records) {
    if (now < rec.deadline_ms() || !due(id)) continue;
    if (rec.state() == kvpb::TXN_PENDING) {
      kvpb::Command ask;
      ask.mutable_txn_decide()->set_id(id);
      ask.mutable_txn_decide()->set_decision(kvpb::TXN_PENDING);
      ProposeToShard(
          r.shard, std::move(ask), [](ErrorCode, const std::string&, const kvpb::Result&) {}, 0);
      continue;
    }
    std::vector<uint64_t> participants(rec.participants().begin(), rec.participants().end());
    FinishTxn(id, r.shard, std::move(participants), rec.state() == kvpb::TXN_COMMITTED,
              rec.succeeded(), NowMs());
  }
  // The planted bug (KVD_BUG_DROP_STALE_INTENTS) gives up on intents after half the TTL and
  // drops them without asking whether the transaction committed.
  const bool ask = AskRecordForStaleIntents();
  const int64_t stale_after = ask ? cfg.txn_ttl_ms : cfg.txn_ttl_ms / 2;
  for (const auto& [id, p] : r.txn_prepared) {
    if (now - p.prepared_ms < stale_after || !due(id)) continue;
    if (ask) {
      HelpResolve(r.shard, id, p.record_shard);
      continue;
    }
    kvpb::Command drop;
    drop.mutable_txn_resolve()->set_id(id);
    drop.mutable_txn_resolve()->set_commit(false);
    ProposeToShard(
        r.shard, std::move(drop), [](ErrorCode, const std::string&, const kvpb::Result&) {}, 0);
  }
}

}  // namespace kvd::kv
