// Locks in the node (docs/design.md, Locks and fencing): lock commands are routed by the lock's
// name like writes by key, proposed as Raft commands of its shard, and answered when applied; a
// queued acquire is answered when a later entry grants or refuses it (a LockWakeup). The leader
// of a shard whose locks have waiters proposes a LockTick when its estimate of the shard clock
// says a holder's lease or a waiter's wait has run out, so waiters never depend on other traffic.
#include <algorithm>

#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

constexpr uint64_t kLockTickRetryTicks = 5;  // re-propose a tick that did not take effect
constexpr size_t kMaxLockListLimit = 1000;

LockInfo InfoOf(const std::string& name, uint64_t shard, const kvpb::LockRecord& rec, int64_t now) {
  LockInfo info;
  info.name = name;
  info.shard = shard;
  // A lease that ran out is free, though no command has settled the record yet.
  if (rec.has_holder() && rec.holder().deadline_ms() > now) {
    info.holder = HolderFromProto(rec.holder(), now);
  }
  info.last_token = rec.last_token();
  for (const kvpb::LockWaiter& w : rec.waiters()) {
    info.waiters.push_back(
        {w.owner(), w.ttl_ms(), std::max<int64_t>(0, w.wait_deadline_ms() - now)});
  }
  return info;
}

// The applied outcome of a lock command, for its client.
LockResponse FromResult(uint64_t shard, const kvpb::Result& res) {
  LockResponse r;
  r.shard = shard;
  r.revision = res.revision();
  r.token = res.token();
  r.ttl_ms = res.ttl_ms();
  r.message = res.message();
  switch (res.code()) {
    case kvpb::RESULT_OK:
      r.code = ErrorCode::kOk;
      break;
    case kvpb::RESULT_LOCK_HELD:
      r.code = ErrorCode::kLockHeld;
      if (res.has_holder()) r.holder = HolderFromProto(res.holder(), 0);  // deadline_ms = time left
      break;
    case kvpb::RESULT_FENCED:
      r.code = ErrorCode::kFenced;
      break;
    case kvpb::RESULT_NOT_FOUND:
      r.code = ErrorCode::kNotFound;
      r.message = "no such lock";
      break;
    case kvpb::RESULT_QUEUED:  // a retry of an acquire that still waits (kDuplicateWaiter)
      r.code = ErrorCode::kTimeout;
      r.message =
          "the acquire is still waiting in the lock's queue; retry with the same Idempotency-Key";
      break;
    default:
      r.code = ErrorCode::kInvalidArgument;
      if (r.message.empty()) r.message = "lock command rejected by the state machine";
  }
  return r;
}

bool ValidName(const std::string& name) {
  return !name.empty() && name.size() <= kMaxLockNameBytes;
}

// The pages of a listing over every shard, merged by name once all answered (as scans are).
struct LockListMerge {
  size_t limit = 0;
  size_t pending = 0;
  LockListDone done;
  std::optional<LockListResponse> error;
  std::optional<std::string> cutoff;  // the smallest name a shard that stopped early reached
  bool more = false;
  std::vector<LockInfo> locks;

  void Add(LockListResponse r) {
    if (r.code != ErrorCode::kOk) {
      if (!error) error = std::move(r);
    } else {
      if (r.more && (!cutoff || r.next_after < *cutoff)) cutoff = r.next_after;
      more = more || r.more;
      for (auto& l : r.locks) locks.push_back(std::move(l));
    }
    if (--pending == 0) Finish();
  }

  void Finish() {
    if (error) return done(std::move(*error));
    std::sort(locks.begin(), locks.end(),
              [](const LockInfo& a, const LockInfo& b) { return a.name < b.name; });
    if (cutoff) {
      std::erase_if(locks, [&](const LockInfo& l) { return l.name > *cutoff; });
    }
    LockListResponse resp;
    if (locks.size() > limit) {
      locks.resize(limit);
      resp.more = true;
      resp.next_after = locks.back().name;
    } else if (more) {  // every shard's locks up to the cutoff are in this page
      resp.more = true;
      resp.next_after = *cutoff;
    }
    resp.locks = std::move(locks);
    done(std::move(resp));
  }
};

}  // namespace

LockHolder HolderFromProto(const kvpb::LockHolder& h, int64_t now) {
  return {h.owner(), h.token(), h.ttl_ms(), std::max<int64_t>(0, h.deadline_ms() - now)};
}

kvpb::LockHolder HolderToProto(const LockHolder& h) {
  kvpb::LockHolder p;
  p.set_owner(h.owner);
  p.set_token(h.token);
  p.set_ttl_ms(h.ttl_ms);
  p.set_deadline_ms(h.expires_in_ms);
  return p;
}

// A lock command's answer. The holder's deadline_ms carries the time it has left.
kvpb::ForwardedResponse ForwardedFromLock(const LockResponse& l) {
  kvpb::ForwardedResponse r;
  r.set_code(static_cast<uint32_t>(l.code));
  r.set_message(l.message);
  r.set_shard(l.shard);
  r.set_directory_version(l.directory_version);
  kvpb::Result* res = r.mutable_lock_result();
  res->set_token(l.token);
  res->set_ttl_ms(l.ttl_ms);
  res->set_revision(l.revision);
  if (l.holder) *res->mutable_holder() = HolderToProto(*l.holder);
  return r;
}

// A lock read's answer: the records with times left as deadlines, at clock 0.
kvpb::ForwardedResponse ForwardedFromLockList(const LockListResponse& l) {
  kvpb::ForwardedResponse r;
  r.set_code(static_cast<uint32_t>(l.code));
  r.set_message(l.message);
  r.set_more(l.more);
  r.set_next_after(l.next_after);
  r.set_directory_version(l.directory_version);
  for (const LockInfo& info : l.locks) {
    r.set_shard(info.shard);
    kvpb::LockPair* p = r.add_locks();
    p->set_name(info.name);
    kvpb::LockRecord* rec = p->mutable_record();
    rec->set_last_token(info.last_token);
    if (info.holder) *rec->mutable_holder() = HolderToProto(*info.holder);
    for (const LockWaiter& w : info.waiters) {
      kvpb::LockWaiter* pw = rec->add_waiters();
      pw->set_owner(w.owner);
      pw->set_ttl_ms(w.ttl_ms);
      pw->set_wait_deadline_ms(w.wait_left_ms);
    }
  }
  return r;
}

LockResponse LockFromForwarded(const kvpb::ForwardedResponse& r, ErrorCode code) {
  LockResponse l;
  l.code = code;
  l.message = r.message();
  l.shard = r.shard();
  l.token = r.lock_result().token();
  l.ttl_ms = r.lock_result().ttl_ms();
  l.revision = r.lock_result().revision();
  if (r.lock_result().has_holder()) l.holder = HolderFromProto(r.lock_result().holder(), 0);
  return l;
}

LockListResponse LockListFromForwarded(const kvpb::ForwardedResponse& r, ErrorCode code) {
  LockListResponse l = LockListError(code, r.message());
  l.more = r.more();
  l.next_after = r.next_after();
  for (const kvpb::LockPair& p : r.locks()) {
    LockInfo info;
    info.name = p.name();
    info.shard = r.shard();
    info.last_token = p.record().last_token();
    if (p.record().has_holder()) info.holder = HolderFromProto(p.record().holder(), 0);
    for (const kvpb::LockWaiter& w : p.record().waiters()) {
      info.waiters.push_back({w.owner(), w.ttl_ms(), w.wait_deadline_ms()});
    }
    l.locks.push_back(std::move(info));
  }
  return l;
}

LockListResponse ReadLocks(const ShardStateMachine& sm, uint64_t shard, const LockListRequest& req,
                           int64_t now) {
  LockListResponse resp;
  if (!req.name.empty()) {
    std::optional<kvpb::LockRecord> rec;
    raft::Status s = sm.GetLock(req.name, &rec);
    if (!s.ok()) return LockListError(ErrorCode::kUnavailable, s.ToString());
    if (!rec) return LockListError(ErrorCode::kNotFound, "no such lock");
    resp.locks.push_back(InfoOf(req.name, shard, *rec, now));
    return resp;
  }
  std::vector<std::pair<std::string, kvpb::LockRecord>> records;
  const size_t limit = std::clamp<size_t>(req.limit, 1, kMaxLockListLimit);
  raft::Status s = sm.ListLocks(req.after, limit, &records, &resp.more, &resp.next_after);
  if (!s.ok()) return LockListError(ErrorCode::kUnavailable, s.ToString());
  for (const auto& [name, rec] : records) {
    LockInfo info = InfoOf(name, shard, rec, now);
    if (info.holder || !info.waiters.empty()) resp.locks.push_back(std::move(info));
  }
  return resp;
}

void CoreImpl::RouteLock(LockRequest& req, LockDone done, uint32_t hops) {
  if (!ValidName(req.name)) {
    return done(LockError(ErrorCode::kInvalidArgument, "lock name must be 1 to 4096 bytes"));
  }
  const std::shared_ptr<const Directory> dir = Dir();
  if (dir->version() == 0) {
    return done(LockError(ErrorCode::kUnavailable,
                          "this node has not yet applied the cluster's directory; retry"));
  }
  const uint64_t shard = dir->ShardFor(req.name);
  if (replicas.count(shard)) return HandleLock(shard, req, std::move(done));
  kvpb::ForwardedRequest f;
  f.set_hops(hops);
  f.set_kind(4);
  f.set_key(req.name);
  f.set_lock_op(static_cast<uint32_t>(req.op));
  f.set_owner(req.owner);
  f.set_ttl_ms(req.ttl_ms);
  f.set_wait_ms(req.wait_ms);
  f.set_token(req.token);
  f.set_client_id(req.client_id);
  f.set_seq(req.seq);
  PendingForward pf;
  pf.lock_done = std::move(done);
  if (req.op == LockOp::kAcquire) {
    pf.extra_wait_ms = std::clamp<int64_t>(req.wait_ms, 0, kMaxLockWaitMs);
  }
  Forward(*dir, shard, std::move(f), std::move(pf));
}

void CoreImpl::HandleLock(uint64_t shard, LockRequest& req, LockDone done) {
  kvpb::Command cmd;
  cmd.set_client_id(req.client_id);
  cmd.set_seq(req.seq);
  PendingWrite pending;
  switch (req.op) {
    case LockOp::kAcquire: {
      auto* a = cmd.mutable_lock_acquire();
      a->set_name(req.name);
      a->set_owner(req.owner);
      a->set_ttl_ms(req.ttl_ms);
      a->set_wait_ms(req.wait_ms);
      pending.wait_ms = std::clamp<int64_t>(req.wait_ms, 0, kMaxLockWaitMs);
      break;
    }
    case LockOp::kKeepalive:
      cmd.mutable_lock_keepalive()->set_name(req.name);
      cmd.mutable_lock_keepalive()->set_token(req.token);
      break;
    case LockOp::kRelease:
      cmd.mutable_lock_release()->set_name(req.name);
      cmd.mutable_lock_release()->set_token(req.token);
      break;
  }
  auto shared = std::make_shared<LockDone>(std::move(done));
  pending.shard = shard;
  pending.done = [shared](WriteResponse w) {
    (*shared)(LockError(w.code, std::move(w.message), w.shard));
  };
  const bool acquire = req.op == LockOp::kAcquire;
  pending.on_result = [this, shared, shard, acquire](const kvpb::Result& r) {
    LockResponse resp = FromResult(shard, r);
    if (acquire && resp.code == ErrorCode::kOk) counters.lock_grants++;
    if (resp.code == ErrorCode::kLockHeld) counters.lock_held++;
    if (resp.code == ErrorCode::kFenced) counters.fenced++;
    (*shared)(std::move(resp));
  };
  ProposeForClient(*replicas.at(shard), cmd, std::move(pending));
}

void CoreImpl::RouteLockRead(LockListRequest& req, LockListDone done) {
  const std::shared_ptr<const Directory> dir = Dir();
  if (dir->version() == 0) {
    return done(LockListError(ErrorCode::kUnavailable,
                              "this node has not yet applied the cluster's directory; retry"));
  }
  if (!req.name.empty()) {
    if (!ValidName(req.name)) {
      return done(LockListError(ErrorCode::kInvalidArgument, "lock name must be 1 to 4096 bytes"));
    }
    return LockReadShard(dir->ShardFor(req.name), req, std::move(done), 0);
  }
  auto merge = std::make_shared<LockListMerge>();
  merge->limit = std::clamp<size_t>(req.limit, 1, kMaxLockListLimit);
  merge->done = std::move(done);
  merge->pending = static_cast<size_t>(dir->record.shards_size());
  if (merge->pending == 0) return merge->Finish();
  for (const auto& s : dir->record.shards()) {
    LockReadShard(
        s.id(), req, [merge](LockListResponse r) { merge->Add(std::move(r)); }, 0);
  }
}

void CoreImpl::LockReadShard(uint64_t shard, const LockListRequest& req, LockListDone done,
                             uint32_t hops) {
  if (replicas.count(shard)) {
    if (ServeFromLocalState(req.stale)) {
      counters.reads_stale++;
      Replica& r = *replicas.at(shard);
      return done(ReadLocks(*r.sm, shard, req, ShardClockEstimate(r)));
    }
    PendingRead read;
    read.shard = shard;
    read.is_locks = true;
    read.locks = req;
    read.locks_done = std::move(done);
    return HandleRead(read);
  }
  kvpb::ForwardedRequest f;
  f.set_hops(hops);
  f.set_kind(5);
  f.set_shard(shard);
  f.set_key(req.name);
  f.set_after(req.after);
  f.set_limit(req.limit);
  f.set_stale(req.stale);
  PendingForward pf;
  pf.locks_done = std::move(done);
  Forward(*Dir(), shard, std::move(f), std::move(pf));
}

void CoreImpl::NoteLockEffects(Replica& r, const AppliedCommand& a) {
  if (!a.locks.name.empty()) {
    if (a.locks.next_event_ms == 0) {
      r.lock_events.erase(a.locks.name);
    } else {
      r.lock_events[a.locks.name] = a.locks.next_event_ms;
    }
    r.lock_tick_sent.erase(a.locks.name);
  }
  for (const LockWakeup& w : a.locks.wakeups) {
    if (w.proposer_node != cfg.node_id) continue;
    auto it = writes.find(w.request_id);
    if (it == writes.end() || !it->second.on_result) continue;  // gave up already
    PendingWrite answered = std::move(it->second);
    writes.erase(it);
    answered.on_result(w.result);
  }
}

int64_t CoreImpl::ShardClockEstimate(const Replica& r) const {
  const kvpb::AppliedState& applied = r.sm->applied();
  if (applied.stamp_node() == cfg.node_id) {  // its own stamps: its own clock measures since
    return applied.clock_ms() + std::max<int64_t>(0, StampMs() - applied.last_stamp_ms());
  }
  // Since this replica applied the latest stamp (AnswerCommitted notes when); unknown after a
  // restart or a snapshot until the next stamp: no time counted.
  if (r.stamp_seen_at == 0 || r.last_stamp_seen != applied.last_stamp_ms()) {
    return applied.clock_ms();
  }
  return applied.clock_ms() + std::max<int64_t>(0, NowMs() - r.stamp_seen_at);
}

void CoreImpl::LoadLockEvents(Replica& r) {
  r.lock_tick_sent.clear();
  raft::Status s = r.sm->LockEvents(&r.lock_events);
  KVD_CHECK_MSG(s.ok(), "reading lock events failed: " << s.ToString());
}

void CoreImpl::MaybeTickLocks(Replica& r) {
  if (r.lock_events.empty() || r.soft.state != raft::StateType::kLeader) return;
  // The shard clock advances by this leader's own stamps only once it is the reference (its
  // first stamp of the term, the clock entry at its first tick, makes it so). Until then no
  // estimate: waiting is safe, the lease only lasts longer.
  const kvpb::AppliedState& applied = r.sm->applied();
  if (applied.stamp_node() != cfg.node_id ||
      applied.stamp_term() != r.raw->GetBasicStatus().hard_state.term()) {
    return;
  }
  const int64_t estimate = applied.clock_ms() + (StampMs() - applied.last_stamp_ms());
  for (const auto& [name, due] : r.lock_events) {
    if (due > estimate) continue;
    auto sent = r.lock_tick_sent.find(name);
    if (sent != r.lock_tick_sent.end() && ticks - sent->second < kLockTickRetryTicks) continue;
    r.lock_tick_sent[name] = ticks;
    counters.lock_ticks++;
    kvpb::Command cmd;
    cmd.set_format(kCommandFormat);
    cmd.set_leader_time_ms(StampMs());
    cmd.set_proposer_node(cfg.node_id);
    cmd.mutable_lock_tick()->set_name(name);
    (void)r.raw->Propose(EncodeCommand(cmd));  // best effort: re-proposed if it did not apply
  }
}

}  // namespace kvd::kv
