// Linearizable reads that meet intents (docs/design.md, Transactions). The read is answered from
// the state at the moment it is served, as if no intent were there, if none of the transactions
// holding its keys is committed when asked afterwards: a transaction not committed at the time
// of asking was not committed when the values were taken, so the read comes before it. If one is
// committed, its intents here are resolved first and the read is served again.
#include <set>

#include "kv/node_impl.h"

namespace kvd::kv {
namespace {

constexpr size_t kMaxIntentsPerRead = 16;
constexpr int kMaxIntentRounds = 3;

}  // namespace

void CoreImpl::ServeCheckingIntents(Replica& r, PendingRead& read) {
  if (read.is_locks) return read.Serve(*r.sm);
  // The answer as of now, held back until the transactions are asked.
  struct Held {
    PendingRead read;
    ReadResponse got;
    ScanResponse scanned;
    size_t waiting = 0;
    bool failed = false;
    std::vector<std::pair<std::string, bool>> committed;   // txn, branch
    std::vector<std::pair<std::string, uint64_t>> others;  // txn, record shard
    void Answer() {
      if (read.is_scan) return read.scan_done(std::move(scanned));
      read.get_done(std::move(got));
    }
  };
  auto held = std::make_shared<Held>();  // shared by the record queries' callbacks
  held->read = read;
  PendingRead probe = read;
  probe.get_done = [&held](ReadResponse x) { held->got = std::move(x); };
  probe.scan_done = [&held](ScanResponse x) { held->scanned = std::move(x); };
  probe.Serve(*r.sm);
  std::vector<std::pair<std::string, kvpb::TxnIntent>> intents;
  raft::Status s;
  if (!read.is_scan) {
    std::optional<kvpb::TxnIntent> intent;
    s = r.sm->GetIntent(read.get.key, &intent);
    if (intent) intents.emplace_back(read.get.key, *intent);
  } else if (held->scanned.code == ErrorCode::kOk) {
    const auto& items = held->scanned.items;
    const std::string until = held->scanned.more && !items.empty() ? items.back().first : "";
    s = r.sm->Intents(read.scan.prefix, read.scan.after, until, kMaxIntentsPerRead + 1, &intents);
  }
  if (!s.ok()) return read.Fail(ErrorCode::kUnavailable, s.ToString());
  if (intents.empty()) return held->Answer();
  if (intents.size() > kMaxIntentsPerRead || read.intent_rounds >= kMaxIntentRounds) {
    counters.reads_failed++;
    return read.Fail(ErrorCode::kUnavailable,
                     "the keys are held by transactions in flight; retry shortly");
  }
  std::map<std::string, uint64_t> txns;  // id -> record shard
  for (const auto& [key, intent] : intents) txns[intent.txn()] = intent.record_shard();
  held->waiting = txns.size();
  const uint64_t shard = r.shard;
  for (const auto& [txn, record_shard] : txns) {
    kvpb::Command ask;
    ask.mutable_txn_decide()->set_id(txn);
    ask.mutable_txn_decide()->set_decision(kvpb::TXN_PENDING);
    ProposeToShard(
        record_shard, std::move(ask),
        [this, held, shard, txn, record_shard](ErrorCode code, const std::string&,
                                               const kvpb::Result& res) {
          // A record that is gone finished (maybe committed) after the values were taken: they
          // may be stale, so the read fails (503, safe to retry).
          if (code != ErrorCode::kOk || res.code() == kvpb::RESULT_NOT_FOUND) {
            held->failed = true;
          } else if (res.code() == kvpb::RESULT_OK && res.txn_state() == kvpb::TXN_COMMITTED) {
            held->committed.emplace_back(txn, res.txn_succeeded());
          } else if (res.code() != kvpb::RESULT_OK || res.txn_state() == kvpb::TXN_ABORTED) {
            held->others.emplace_back(txn, record_shard);
          }
          if (--held->waiting > 0) return;
          if (held->failed) {
            counters.reads_failed++;
            return held->read.Fail(ErrorCode::kUnavailable,
                                   "could not learn the state of a transaction holding the keys");
          }
          for (const auto& [t, rs] : held->others) HelpResolve(shard, t, rs);
          if (held->committed.empty()) return held->Answer();
          // Committed, not yet resolved here: resolve, then read again.
          held->waiting = held->committed.size();
          for (const auto& [t, succeeded] : held->committed) {
            kvpb::Command resolve;
            resolve.mutable_txn_resolve()->set_id(t);
            resolve.mutable_txn_resolve()->set_commit(true);
            resolve.mutable_txn_resolve()->set_succeeded(succeeded);
            ProposeToShard(
                shard, std::move(resolve),
                [this, held, shard](ErrorCode c, const std::string&, const kvpb::Result&) {
                  held->failed = held->failed || c != ErrorCode::kOk;
                  if (--held->waiting > 0) return;
                  if (held->failed || !replicas.count(shard)) {
                    counters.reads_failed++;
                    return held->read.Fail(ErrorCode::kUnavailable,
                                           "could not resolve a committed transaction; retry");
                  }
                  PendingRead again = std::move(held->read);
                  again.intent_rounds++;
                  again.has_index = false;
                  HandleRead(again);
                },
                0);
          }
        },
        0);
  }
}

}  // namespace kvd::kv
