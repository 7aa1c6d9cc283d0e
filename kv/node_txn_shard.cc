// Transaction commands for a shard by id (docs/design.md, Transactions): proposed through the
// local replica if this node hosts one, else forwarded to a node that does (kind 6), which
// proposes it and answers the applied result. Also the help a request gives a transaction whose
// intent blocked it, the finishing of decided transactions, and the listing of records.
#include <algorithm>

#include "kv/keys.h"
#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

constexpr uint32_t kTxnCommandKind = 6;
constexpr uint32_t kTxnListKind = 7;
constexpr uint64_t kHelpAgainTicks = 5;  // a help still running after this is tried again
constexpr size_t kMaxHelping = 1024;
constexpr size_t kMaxListedPerShard = 1000;

kvpb::ForwardedResponse CommandAnswer(ErrorCode code, const std::string& why,
                                      const kvpb::Result& res) {
  kvpb::ForwardedResponse r;
  r.set_code(static_cast<uint32_t>(code));
  r.set_message(why);
  *r.mutable_lock_result() = res;
  return r;
}

}  // namespace

void CoreImpl::ProposeToShard(uint64_t shard, kvpb::Command cmd, CommandDone done, uint32_t hops) {
  if (stopping) return done(ErrorCode::kUnavailable, "node stopping", kvpb::Result());
  auto it = replicas.find(shard);
  if (it != replicas.end()) {
    PendingWrite pending;
    pending.shard = shard;
    pending.done = [done](WriteResponse w) { done(w.code, w.message, kvpb::Result()); };
    pending.on_result = [done](const kvpb::Result& res) { done(ErrorCode::kOk, "", res); };
    return ProposeForClient(*it->second, cmd, std::move(pending));
  }
  const std::shared_ptr<const Directory> dir = Dir();
  kvpb::ForwardedRequest f;
  f.set_hops(hops);
  f.set_kind(kTxnCommandKind);
  f.set_shard(shard);
  f.set_command(EncodeCommand(cmd));
  PendingForward pf;
  pf.command_done = std::move(done);
  Forward(*dir, shard, std::move(f), std::move(pf));
}

void CoreImpl::ReadTxnRecords(uint64_t shard, TxnRecordsDone done, uint32_t hops) {
  auto it = replicas.find(shard);
  if (it != replicas.end()) {
    std::vector<std::pair<std::string, kvpb::TxnRecord>> records;
    raft::Status s = it->second->sm->TxnRecords(kMaxListedPerShard, &records);
    if (!s.ok()) return done(ErrorCode::kUnavailable, s.ToString(), {}, 0);
    return done(ErrorCode::kOk, "", std::move(records), ShardClockEstimate(*it->second));
  }
  const std::shared_ptr<const Directory> dir = Dir();
  kvpb::ForwardedRequest f;
  f.set_hops(hops);
  f.set_kind(kTxnListKind);
  f.set_shard(shard);
  PendingForward pf;
  pf.records_done = std::move(done);
  Forward(*dir, shard, std::move(f), std::move(pf));
}

void CoreImpl::ServeForwardedTxn(const kvpb::ForwardedRequest& f, uint32_t hops,
                                 std::function<void(kvpb::ForwardedResponse)> reply) {
  if (f.kind() == kTxnListKind) {
    return ReadTxnRecords(
        f.shard(),
        [reply](ErrorCode code, const std::string& why,
                std::vector<std::pair<std::string, kvpb::TxnRecord>> records, int64_t clock) {
          kvpb::ForwardedResponse r;
          r.set_code(static_cast<uint32_t>(code));
          r.set_message(why);
          r.set_clock_ms(clock);
          for (auto& [id, rec] : records) {
            kvpb::TxnStatePair* p = r.add_txns();
            p->set_kind(static_cast<uint32_t>(keys::kTxnRecordTag));
            p->set_key(id);
            p->set_value(rec.SerializeAsString());
          }
          reply(std::move(r));
        },
        hops);
  }
  kvpb::Command cmd;
  // Only transaction commands travel this way; their fields are bounded by apply.
  if (!DecodeCommand(f.command(), &cmd) || !IsTxnOp(cmd) || f.shard() == kMetaShard) {
    return reply(CommandAnswer(ErrorCode::kInvalidArgument, "not a transaction command", {}));
  }
  cmd.clear_leader_time_ms();
  cmd.clear_stamp_node();
  ProposeToShard(
      f.shard(), std::move(cmd),
      [reply](ErrorCode code, const std::string& why, const kvpb::Result& res) {
        reply(CommandAnswer(code, why, res));
      },
      hops);
}

void CoreImpl::HelpResolve(uint64_t shard, const std::string& txn, uint64_t record_shard) {
  auto it = txn_helping.find(txn);
  if (it != txn_helping.end() && ticks - it->second < kHelpAgainTicks) return;
  if (it == txn_helping.end()) {
    if (txn_helping.size() >= kMaxHelping) return;  // plenty in flight; recovery does the rest
    it = txn_helping.emplace(txn, ticks).first;
  }
  it->second = ticks;
  kvpb::Command ask;
  ask.mutable_txn_decide()->set_id(txn);
  ask.mutable_txn_decide()->set_decision(kvpb::TXN_PENDING);  // ask; abort if past its deadline
  ProposeToShard(
      record_shard, std::move(ask),
      [this, shard, txn](ErrorCode code, const std::string&, const kvpb::Result& res) {
        const bool unknown = code != ErrorCode::kOk || (res.code() == kvpb::RESULT_OK &&
                                                        res.txn_state() == kvpb::TXN_PENDING);
        if (unknown) {
          txn_helping.erase(txn);
          return;
        }
        // A record that is gone was finished (every intent resolved) or never reached a
        // participant: the intent is dropped.
        const bool commit = res.code() == kvpb::RESULT_OK && res.txn_state() == kvpb::TXN_COMMITTED;
        kvpb::Command resolve;
        resolve.mutable_txn_resolve()->set_id(txn);
        resolve.mutable_txn_resolve()->set_commit(commit);
        resolve.mutable_txn_resolve()->set_succeeded(res.txn_succeeded());
        ProposeToShard(
            shard, std::move(resolve),
            [this, txn](ErrorCode, const std::string&, const kvpb::Result&) {
              txn_helping.erase(txn);
            },
            0);
      },
      0);
}

void CoreImpl::FinishTxn(const std::string& txn, uint64_t record_shard,
                         std::vector<uint64_t> participants, bool commit, bool succeeded,
                         int64_t recovery_started_ms) {
  // Shared by the resolve callbacks: the record is forgotten once the last one succeeded.
  struct Finish {
    size_t waiting = 0;
    bool failed = false;
  };
  auto finish = std::make_shared<Finish>();
  finish->waiting = participants.size();
  for (uint64_t shard : participants) {
    kvpb::Command resolve;
    resolve.mutable_txn_resolve()->set_id(txn);
    resolve.mutable_txn_resolve()->set_commit(commit);
    resolve.mutable_txn_resolve()->set_succeeded(succeeded);
    ProposeToShard(
        shard, std::move(resolve),
        [this, finish, txn, record_shard, recovery_started_ms](ErrorCode code, const std::string&,
                                                               const kvpb::Result& res) {
          finish->failed =
              finish->failed || code != ErrorCode::kOk || res.code() != kvpb::RESULT_OK;
          if (--finish->waiting > 0 || finish->failed) return;  // recovery retries a failure
          kvpb::Command forget;
          forget.mutable_txn_forget()->set_id(txn);
          ProposeToShard(
              record_shard, std::move(forget),
              [this, recovery_started_ms](ErrorCode c, const std::string&, const kvpb::Result&) {
                if (c != ErrorCode::kOk || recovery_started_ms == 0) return;
                counters.txn_recoveries++;
                counters.txn_recovery_micros +=
                    static_cast<uint64_t>(std::max<int64_t>(0, NowMs() - recovery_started_ms)) *
                    1000;
              },
              0);
        },
        0);
  }
}

void CoreImpl::RouteTxnList(TxnListRequest& req, TxnListDone done) {
  const std::shared_ptr<const Directory> dir = Dir();
  if (dir->version() == 0) {
    return done(ErrorResponse<TxnListResponse>(ErrorCode::kUnavailable,
                                               "this node has not yet applied the directory"));
  }
  struct Merge {
    size_t waiting = 0;
    size_t limit = 0;
    TxnListDone done;
    std::optional<TxnListResponse> error;
    std::vector<TxnInfo> txns;
  };
  auto merge = std::make_shared<Merge>();  // shared by the shards' callbacks
  merge->waiting = static_cast<size_t>(dir->record.shards_size());
  merge->limit = std::clamp<size_t>(req.limit, 1, 1000);
  merge->done = std::move(done);
  for (const auto& sh : dir->record.shards()) {
    const uint64_t shard = sh.id();
    ReadTxnRecords(
        shard,
        [merge, shard](ErrorCode code, const std::string& why,
                       std::vector<std::pair<std::string, kvpb::TxnRecord>> records, int64_t now) {
          if (code != ErrorCode::kOk && !merge->error) {
            merge->error = ErrorResponse<TxnListResponse>(code, why);
          }
          for (auto& [id, rec] : records) {
            TxnInfo info;
            info.id = id;
            info.state = rec.state() == kvpb::TXN_PENDING     ? "pending"
                         : rec.state() == kvpb::TXN_COMMITTED ? "committed"
                                                              : "aborted";
            info.age_ms = std::max<int64_t>(0, now - rec.created_ms());
            if (rec.state() == kvpb::TXN_PENDING) {
              info.expires_in_ms = std::max<int64_t>(0, rec.deadline_ms() - now);
            }
            info.record_shard = shard;
            info.participants.assign(rec.participants().begin(), rec.participants().end());
            merge->txns.push_back(std::move(info));
          }
          if (--merge->waiting > 0) return;
          if (merge->error) return merge->done(std::move(*merge->error));
          TxnListResponse resp;
          std::sort(merge->txns.begin(), merge->txns.end(), [](const TxnInfo& a, const TxnInfo& b) {
            return a.age_ms != b.age_ms ? a.age_ms > b.age_ms : a.id < b.id;
          });
          if (merge->txns.size() > merge->limit) {
            merge->txns.resize(merge->limit);
            resp.more = true;
          }
          resp.txns = std::move(merge->txns);
          merge->done(std::move(resp));
        },
        0);
  }
}

}  // namespace kvd::kv
