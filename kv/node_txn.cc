// Transactions at the node that took the request (docs/design.md, Transactions). Keys in one
// shard: one TxnExecute entry. Keys in several shards: this node coordinates two-phase commit
// with its state in Raft:
//   1. TxnBegin writes the record (PENDING, participants, deadline) in the first key's shard;
//   2. every participant shard applies a TxnPrepare: checks its compares, places intents, votes;
//   3. all voted yes: TxnDecide flips the record to COMMITTED (the commit point) and the client is
//      answered; any no: the record is aborted;
//   4. every participant resolves its intents (TxnResolve), then the record is forgotten.
// A crash of this node at any step leaves the record and the intents in Raft: recovery
// (node_txn_recovery.cc) aborts a pending record past its deadline, or finishes a decided one.
// A transaction that meets another's intents is retried with backoff until its deadline.
#include <algorithm>
#include <set>

#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

constexpr int64_t kMinRetryHeadroomMs = 50;  // no new attempt this close to the deadline

kvpb::TxnCompare CompareToProto(const TxnCompare& c) {
  kvpb::TxnCompare p;
  p.set_key(c.key);
  p.set_target(c.target == TxnCompareTarget::kVersion ? kTxnVersion
               : c.target == TxnCompareTarget::kValue ? kTxnValue
                                                      : kTxnExists);
  p.set_version(c.version);
  p.set_value(c.value);
  p.set_exists(c.exists);
  return p;
}

kvpb::TxnOp OpToProto(const TxnOp& op, uint32_t index) {
  kvpb::TxnOp p;
  p.set_type(op.type == TxnOpType::kGet   ? kTxnGet
             : op.type == TxnOpType::kPut ? kTxnPut
                                          : kTxnDelete);
  p.set_key(op.key);
  p.set_value(op.value);
  p.set_index(index);
  return p;
}

TxnOpResult OpResultFromProto(const kvpb::TxnOpResult& p) {
  TxnOpResult r;
  r.type = p.type() == kTxnGet   ? TxnOpType::kGet
           : p.type() == kTxnPut ? TxnOpType::kPut
                                 : TxnOpType::kDelete;
  r.key = p.key();
  r.found = p.found();
  r.value = p.value();
  r.version = p.version();
  r.deleted = p.deleted();
  return r;
}

// Why a request is malformed, or empty if it is within every bound.
std::string Malformed(const TxnRequest& req) {
  if (req.compare.size() > kMaxTxnCompares) return "too many compares";
  if (req.success.size() > kMaxTxnOps || req.failure.size() > kMaxTxnOps) return "too many ops";
  std::set<std::string> keys;
  size_t bytes = 0;
  auto key_ok = [&](const std::string& key) {
    keys.insert(key);
    bytes += key.size();
    return !key.empty() && key.size() <= kMaxTxnKeyBytes;
  };
  for (const TxnCompare& c : req.compare) {
    if (!key_ok(c.key)) return "bad key in a compare";
    bytes += c.value.size();
  }
  for (const auto* branch : {&req.success, &req.failure}) {
    for (const TxnOp& op : *branch) {
      if (!key_ok(op.key)) return "bad key in an op";
      bytes += op.value.size();
    }
  }
  if (keys.size() > kMaxTxnKeys) return "too many distinct keys";
  if (bytes > kMaxTxnBytes) return "keys and values over 4 MiB";
  if (req.fence && (req.fence->lock.empty() || req.fence->token == 0)) return "bad fence";
  return "";
}

// The answer of a cross-shard transaction that committed 'succeeded': the branch's results from
// every participant's vote, in the client's order.
TxnResponse CommittedResponse(const TxnRun& run, bool succeeded) {
  TxnResponse resp;
  resp.succeeded = succeeded;
  std::vector<kvpb::TxnOpResult> results;
  for (const auto& [shard, vote] : run.votes) {
    for (const auto& r : succeeded ? vote.success() : vote.failure()) results.push_back(r);
    resp.shards.push_back(shard);
  }
  std::sort(results.begin(), results.end(),
            [](const auto& a, const auto& b) { return a.index() < b.index(); });
  for (const auto& r : results) resp.results.push_back(OpResultFromProto(r));
  resp.txn_id = run.txn_id;
  return resp;
}

}  // namespace

void CoreImpl::RouteTxn(TxnRequest& req, TxnDone done) {
  if (std::string why = Malformed(req); !why.empty()) {
    return done(ErrorResponse<TxnResponse>(ErrorCode::kInvalidArgument, why));
  }
  if (Dir()->version() == 0) {
    return done(ErrorResponse<TxnResponse>(ErrorCode::kUnavailable,
                                           "this node has not yet applied the directory; retry"));
  }
  if (stopping) return done(ErrorResponse<TxnResponse>(ErrorCode::kUnavailable, "node stopping"));
  if (txns.size() >= cfg.max_pending_requests) {
    counters.overloaded++;
    return done(
        ErrorResponse<TxnResponse>(ErrorCode::kOverloaded, "too many transactions in flight"));
  }
  const uint64_t id = NextRequestId();
  TxnRun& run = txns[id];
  run.req = std::move(req);
  run.done = std::move(done);
  run.started_ms = NowMs();
  run.deadline_ms = run.started_ms + cfg.request_timeout_ms;
  After(cfg.request_timeout_ms, [this, id] { OnTxnDeadline(id); });
  StartTxnAttempt(id);
}

void CoreImpl::StartTxnAttempt(uint64_t id) {
  auto it = txns.find(id);
  if (it == txns.end()) return;
  TxnRun& run = it->second;
  if (run.answered) return (void)txns.erase(it);
  ++run.attempt;
  run.parts.clear();
  run.votes.clear();
  run.refusal = ErrorCode::kOk;
  run.refusal_message.clear();
  const std::shared_ptr<const Directory> dir = Dir();
  std::vector<uint64_t> order;  // shards by first appearance: the first holds the record
  auto part = [&](const std::string& key) -> kvpb::TxnPrepare& {
    const uint64_t shard = dir->ShardFor(key);
    if (!run.parts.count(shard)) order.push_back(shard);
    return run.parts[shard];
  };
  for (const TxnCompare& c : run.req.compare) *part(c.key).add_compare() = CompareToProto(c);
  for (uint32_t i = 0; i < run.req.success.size(); ++i) {
    *part(run.req.success[i].key).add_success() = OpToProto(run.req.success[i], i);
  }
  for (uint32_t i = 0; i < run.req.failure.size(); ++i) {
    *part(run.req.failure[i].key).add_failure() = OpToProto(run.req.failure[i], i);
  }
  if (run.parts.empty()) {  // nothing to compare or do: the compares (none) hold
    TxnResponse resp;
    resp.succeeded = true;
    AnswerTxn(id, std::move(resp));
    return (void)txns.erase(id);
  }
  for (auto& [shard, p] : run.parts) {
    if (!run.req.fence) continue;
    kvpb::Fence* f = p.mutable_fence();
    f->set_lock(run.req.fence->lock);
    f->set_token(run.req.fence->token);
    f->set_lock_in_shard(dir->ShardFor(run.req.fence->lock) == shard);
  }
  if (run.parts.size() > 1 && IsReadOnly(run.req)) return ReadOnlyTxnPass(id, nullptr);
  if (run.parts.size() == 1) {
    const uint64_t shard = order.front();
    kvpb::TxnPrepare& p = run.parts.begin()->second;
    kvpb::Command cmd;
    kvpb::TxnExecute* t = cmd.mutable_txn_execute();
    *t->mutable_compare() = p.compare();
    *t->mutable_success() = p.success();
    *t->mutable_failure() = p.failure();
    if (p.has_fence()) *t->mutable_fence() = p.fence();
    cmd.set_client_id(run.req.client_id);
    cmd.set_seq(run.req.seq);
    run.commit_sent = true;  // one entry: once proposed, it may apply
    return ProposeToShard(
        shard, std::move(cmd),
        [this, id, shard](ErrorCode code, const std::string& why, const kvpb::Result& res) {
          OnTxnExecuted(id, shard, code, why, res);
        },
        0);
  }
  run.txn_id = std::to_string(cfg.node_id) + "-" + std::to_string(NextRequestId());
  run.record_shard = order.front();
  kvpb::Command begin;
  begin.mutable_txn_begin()->set_id(run.txn_id);
  begin.mutable_txn_begin()->set_ttl_ms(cfg.txn_ttl_ms);
  for (auto& [shard, p] : run.parts) {
    begin.mutable_txn_begin()->add_participants(shard);
    p.set_id(run.txn_id);
    p.set_record_shard(run.record_shard);
  }
  ProposeToShard(
      run.record_shard, std::move(begin),
      [this, id](ErrorCode code, const std::string& why, const kvpb::Result& res) {
        OnTxnBegun(id, code, why, res);
      },
      0);
}

void CoreImpl::OnTxnExecuted(uint64_t id, uint64_t shard, ErrorCode code, const std::string& why,
                             const kvpb::Result& res) {
  auto it = txns.find(id);
  if (it == txns.end()) return;
  TxnRun& run = it->second;
  run.commit_sent = false;
  if (code == ErrorCode::kTimeout) {
    counters.txn_unknown++;
    AnswerTxn(id, ErrorResponse<TxnResponse>(code, "transaction outcome unknown: " + why));
    return (void)txns.erase(id);
  }
  if (code != ErrorCode::kOk) return RetryTxnOrFail(id, code, why);
  switch (res.code()) {
    case kvpb::RESULT_OK: {
      TxnResponse resp;
      resp.succeeded = res.txn().compares_ok();
      for (const auto& r : resp.succeeded ? res.txn().success() : res.txn().failure()) {
        resp.results.push_back(OpResultFromProto(r));
      }
      resp.revision = res.revision();
      resp.shards = {shard};
      counters.txn_single++;
      AnswerTxn(id, std::move(resp));
      return (void)txns.erase(id);
    }
    case kvpb::RESULT_CONFLICT:
      counters.txn_conflicts++;
      return RetryTxnOrFail(id, ErrorCode::kConflict,
                            "its keys are held by transaction " + res.intent_txn());
    case kvpb::RESULT_FENCED:
      return RetryTxnOrFail(id, ErrorCode::kFenced, res.message());
    default:
      return RetryTxnOrFail(id, ErrorCode::kInvalidArgument,
                            res.message().empty() ? "transaction refused" : res.message());
  }
}

void CoreImpl::OnTxnBegun(uint64_t id, ErrorCode code, const std::string& why,
                          const kvpb::Result& res) {
  auto it = txns.find(id);
  if (it == txns.end()) return;
  TxnRun& run = it->second;
  // Not begun (or not known to be): nothing was prepared, so it cannot commit. A record that
  // exists after all is aborted by recovery at its deadline.
  if (code != ErrorCode::kOk || res.code() != kvpb::RESULT_OK ||
      res.txn_state() != kvpb::TXN_PENDING) {
    return RetryTxnOrFail(id,
                          code == ErrorCode::kOk        ? ErrorCode::kUnavailable
                          : code == ErrorCode::kTimeout ? ErrorCode::kUnavailable
                                                        : code,
                          why.empty() ? "the transaction record was not written" : why);
  }
  if (run.answered) return RetryTxnOrFail(id, ErrorCode::kUnavailable, "deadline passed");
  Crash(CrashPoint::kTxnAfterRecord);
  run.waiting = run.parts.size();
  for (auto& [shard, p] : run.parts) {
    kvpb::Command cmd;
    *cmd.mutable_txn_prepare() = p;
    const uint64_t s = shard;
    ProposeToShard(
        s, std::move(cmd),
        [this, id, s](ErrorCode c, const std::string& w, const kvpb::Result& r) {
          OnTxnPrepared(id, s, c, w, r);
        },
        0);
  }
}

void CoreImpl::OnTxnPrepared(uint64_t id, uint64_t shard, ErrorCode code, const std::string& why,
                             const kvpb::Result& res) {
  auto it = txns.find(id);
  if (it == txns.end()) return;
  TxnRun& run = it->second;
  ErrorCode refusal = ErrorCode::kOk;
  std::string message = why;
  if (code != ErrorCode::kOk) {
    refusal = code == ErrorCode::kTimeout ? ErrorCode::kUnavailable : code;
  } else if (res.code() == kvpb::RESULT_OK) {
    run.votes[shard] = res.txn();
    if (run.votes.size() == 1) Crash(CrashPoint::kTxnAfterPrepare);
  } else if (res.code() == kvpb::RESULT_CONFLICT) {
    refusal = ErrorCode::kConflict;
    message = "its keys are held by transaction " + res.intent_txn();
    counters.txn_conflicts++;
  } else {
    refusal = res.code() == kvpb::RESULT_FENCED ? ErrorCode::kFenced : ErrorCode::kInvalidArgument;
    message = res.message();
  }
  if (refusal != ErrorCode::kOk && run.refusal == ErrorCode::kOk) {
    run.refusal = refusal;
    run.refusal_message = message;
  }
  if (--run.waiting > 0) return;
  if (run.refusal == ErrorCode::kOk && !run.answered) return DecideTxn(id);
  // Some shard said no (or the client was answered already): abort. Only this coordinator ever
  // proposes COMMITTED, so once it decides not to, the intents are dropped at once, beside the
  // record's abort (they hold up others); the record is forgotten once it is aborted.
  kvpb::Command abort;
  abort.mutable_txn_decide()->set_id(run.txn_id);
  abort.mutable_txn_decide()->set_decision(kvpb::TXN_ABORTED);
  std::vector<uint64_t> participants;
  for (const auto& [s, p] : run.parts) participants.push_back(s);
  FinishTxn(run.txn_id, run.record_shard, participants, false, false, 0);
  ProposeToShard(
      run.record_shard, std::move(abort),
      [this, txn = run.txn_id, record = run.record_shard](ErrorCode c, const std::string&,
                                                          const kvpb::Result& r) {
        if (c != ErrorCode::kOk || r.code() != kvpb::RESULT_OK || stopping) return;
        kvpb::Command forget;  // again: the first may have come before the abort
        forget.mutable_txn_forget()->set_id(txn);
        ProposeToShard(
            record, std::move(forget), [](ErrorCode, const std::string&, const kvpb::Result&) {},
            0);
      },
      0);
  if (run.refusal == ErrorCode::kOk) run.refusal = ErrorCode::kUnavailable;
  RetryTxnOrFail(id, run.refusal, run.refusal_message);
}

void CoreImpl::DecideTxn(uint64_t id) {
  auto it = txns.find(id);
  if (it == txns.end()) return;
  TxnRun& run = it->second;
  bool compares_ok = true;
  for (const auto& [shard, vote] : run.votes) compares_ok = compares_ok && vote.compares_ok();
  run.commit_sent = true;
  if (!AnswerAtCommitPoint() && !run.answered) {  // the planted bug: answers on the votes
    AnswerTxn(id, CommittedResponse(run, compares_ok));
  }
  kvpb::Command decide;
  decide.mutable_txn_decide()->set_id(run.txn_id);
  decide.mutable_txn_decide()->set_decision(kvpb::TXN_COMMITTED);
  decide.mutable_txn_decide()->set_succeeded(compares_ok);
  ProposeToShard(
      run.record_shard, std::move(decide),
      [this, id](ErrorCode code, const std::string& why, const kvpb::Result& res) {
        OnTxnDecided(id, code, why, res);
      },
      0);
  Crash(CrashPoint::kTxnAfterDecideProposed);
}

void CoreImpl::OnTxnDecided(uint64_t id, ErrorCode code, const std::string& why,
                            const kvpb::Result& res) {
  auto it = txns.find(id);
  if (it == txns.end()) return;
  TxnRun& run = it->second;
  if (code != ErrorCode::kOk) {  // unknown: ask again (the decision is a compare-and-set)
    if (!stopping && NowMs() + kMinRetryHeadroomMs < run.deadline_ms) {
      return After(Backoff(1), [this, id] { DecideTxn(id); });
    }
    counters.txn_unknown++;
    AnswerTxn(
        id, ErrorResponse<TxnResponse>(ErrorCode::kTimeout, "transaction outcome unknown: " + why));
    return (void)txns.erase(id);
  }
  std::vector<uint64_t> participants;
  for (const auto& [s, p] : run.parts) participants.push_back(s);
  const bool committed = res.code() == kvpb::RESULT_OK && res.txn_state() == kvpb::TXN_COMMITTED;
  if (!committed) {  // recovery aborted it first (its deadline passed): nothing applied
    run.commit_sent = false;
    if (res.code() == kvpb::RESULT_OK && res.txn_state() == kvpb::TXN_ABORTED) {
      FinishTxn(run.txn_id, run.record_shard, participants, false, false, 0);
    }
    return RetryTxnOrFail(id, ErrorCode::kConflict,
                          "the transaction was aborted by recovery before it could commit");
  }
  Crash(CrashPoint::kTxnAfterCommit);
  TxnResponse resp = CommittedResponse(run, res.txn_succeeded());
  resp.revision = res.commit_revision();
  counters.txn_cross++;
  FinishTxn(run.txn_id, run.record_shard, participants, true, res.txn_succeeded(), 0);
  AnswerTxn(id, std::move(resp));
  txns.erase(id);
}

void CoreImpl::RetryTxnOrFail(uint64_t id, ErrorCode code, const std::string& why) {
  auto it = txns.find(id);
  if (it == txns.end()) return;
  TxnRun& run = it->second;
  const bool retry = (code == ErrorCode::kConflict || code == ErrorCode::kUnavailable) &&
                     !run.answered && !stopping;
  const int64_t delay = Backoff(run.attempt);
  if (retry && NowMs() + delay + kMinRetryHeadroomMs < run.deadline_ms) {
    run.refusal = code;
    run.refusal_message = why;
    return After(delay, [this, id] { StartTxnAttempt(id); });
  }
  counters.txn_failed++;
  AnswerTxn(id, ErrorResponse<TxnResponse>(code, why));
  txns.erase(id);
}

void CoreImpl::AnswerTxn(uint64_t id, TxnResponse resp) {
  auto it = txns.find(id);
  if (it == txns.end() || it->second.answered) return;
  TxnRun& run = it->second;
  run.answered = true;
  if (resp.code == ErrorCode::kOk) {
    counters.txn_micros +=
        static_cast<uint64_t>(std::max<int64_t>(0, NowMs() - run.started_ms)) * 1000;
  }
  TxnDone done = std::move(run.done);
  done(std::move(resp));
}

void CoreImpl::OnTxnDeadline(uint64_t id) {
  auto it = txns.find(id);
  if (it == txns.end() || it->second.answered) return;
  TxnRun& run = it->second;
  if (run.commit_sent) {
    counters.txn_unknown++;
    return AnswerTxn(
        id, ErrorResponse<TxnResponse>(ErrorCode::kTimeout,
                                       "transaction outcome unknown: no commit decision within the "
                                       "request timeout"));
  }
  // It never asked to commit, and will not now (answered): nothing was applied.
  counters.txn_failed++;
  const ErrorCode code =
      run.refusal == ErrorCode::kConflict ? ErrorCode::kConflict : ErrorCode::kUnavailable;
  AnswerTxn(id, ErrorResponse<TxnResponse>(
                    code, run.refusal_message.empty()
                              ? "the transaction did not complete within the request timeout"
                              : run.refusal_message));
}

void CoreImpl::WriteRetryingConflicts(WriteRequest req, WriteDone done, int64_t deadline_ms,
                                      int attempt) {
  WriteRequest copy = req;
  RouteWrite(
      copy,
      [this, req = std::move(req), done, deadline_ms, attempt](WriteResponse w) mutable {
        const int64_t delay = Backoff(attempt);
        if (w.code != ErrorCode::kConflict || stopping ||
            NowMs() + delay + kMinRetryHeadroomMs >= deadline_ms) {
          return done(std::move(w));
        }
        After(delay, [this, req = std::move(req), done, deadline_ms, attempt]() mutable {
          WriteRetryingConflicts(std::move(req), std::move(done), deadline_ms, attempt + 1);
        });
      },
      0);
}

int64_t CoreImpl::Backoff(int attempt) {
  // Exponential with full jitter, 2..128 ms: contending transactions spread out.
  const int64_t cap = int64_t{2} << std::clamp(attempt, 0, 6);
  txn_rng = txn_rng * 6364136223846793005ULL + 1442695040888963407ULL + cfg.node_id;
  return 1 + static_cast<int64_t>((txn_rng >> 33) % static_cast<uint64_t>(cap));
}

void CoreImpl::After(int64_t delay_ms, std::function<void()> fn) {
  timers.emplace(NowMs() + delay_ms, std::move(fn));
}

void CoreImpl::RunTimers() {
  const int64_t now = NowMs();
  while (!timers.empty() && timers.begin()->first <= now) {
    std::function<void()> fn = std::move(timers.begin()->second);
    timers.erase(timers.begin());
    fn();
  }
}

}  // namespace kvd::kv
