// NodeCore: the inputs (peer frames, client requests, ticks) and status. Opening and recovery
// are in node_open.cc, the driver round in node_driver.cc, applying in node_apply.cc.
#include "kv/node_core.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>

#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

constexpr uint64_t kStatusEveryTicks = 4;
constexpr uint64_t kClockIdleTicks = 5;

}  // namespace

std::string RequestContext(uint64_t request_id) {
  std::string s;
  for (int i = 7; i >= 0; --i) s.push_back(static_cast<char>((request_id >> (8 * i)) & 0xff));
  return s;
}

uint64_t RequestIdFromContext(const std::string& ctx) {
  if (ctx.size() != 8) return 0;
  uint64_t id = 0;
  for (unsigned char c : ctx) id = (id << 8) | c;
  return id;
}

const char* CrashPointName(CrashPoint p) {
  switch (p) {
    case CrashPoint::kAfterSnapshotInstall:
      return "after-snapshot-install";
    case CrashPoint::kAfterLogWrite:
      return "after-log-write";
    case CrashPoint::kAfterApply:
      return "after-apply";
    case CrashPoint::kAfterCompactionSync:
      return "after-compaction-sync";
    case CrashPoint::kAfterCompaction:
      return "after-compaction";
    case CrashPoint::kAfterBoot:
      return "after-boot";
    case CrashPoint::kOpenFailed:
      return "open-failed";
    case CrashPoint::kTxnAfterRecord:
      return "txn-after-record";
    case CrashPoint::kTxnAfterPrepare:
      return "txn-after-prepare";
    case CrashPoint::kTxnAfterDecideProposed:
      return "txn-after-decide-proposed";
    case CrashPoint::kTxnAfterCommit:
      return "txn-after-commit";
  }
  return "?";
}

namespace {

// Every answer to a client carries the directory version of the node that answers it, as of
// the answer: a client that routed by an older one refreshes its copy.
template <typename Response>
std::function<void(Response)> StampVersion(const CoreImpl& impl,
                                           std::function<void(Response)> done) {
  return [&impl, done = std::move(done)](Response r) {
    r.directory_version = impl.Dir()->version();
    done(std::move(r));
  };
}

}  // namespace

NodeCore::NodeCore(std::unique_ptr<CoreImpl> impl) : impl_(std::move(impl)) {}
NodeCore::~NodeCore() = default;

void NodeCore::Deliver(kvpb::PeerBatch batch) { impl_->HandleBatch(batch); }

void NodeCore::Write(WriteRequest req, std::function<void(WriteResponse)> done) {
  if (req.key.empty()) {
    done(WriteError(ErrorCode::kInvalidArgument, "empty key"));
    return;
  }
  // A key held by a transaction: retried (with backoff) until the request's deadline.
  const int64_t deadline = impl_->NowMs() + impl_->cfg.request_timeout_ms;
  impl_->WriteRetryingConflicts(std::move(req),
                                StampVersion<WriteResponse>(*impl_, std::move(done)), deadline, 0);
}

void NodeCore::Read(ReadRequest req, std::function<void(ReadResponse)> done) {
  impl_->RouteRead(req, StampVersion<ReadResponse>(*impl_, std::move(done)), 0);
}

void NodeCore::Scan(ScanRequest req, std::function<void(ScanResponse)> done) {
  impl_->RouteScan(req, StampVersion<ScanResponse>(*impl_, std::move(done)));
}

void NodeCore::Lock(LockRequest req, std::function<void(LockResponse)> done) {
  impl_->RouteLock(req, StampVersion<LockResponse>(*impl_, std::move(done)), 0);
}

void NodeCore::Locks(LockListRequest req, std::function<void(LockListResponse)> done) {
  impl_->RouteLockRead(req, StampVersion<LockListResponse>(*impl_, std::move(done)));
}

void NodeCore::Txn(TxnRequest req, std::function<void(TxnResponse)> done) {
  impl_->RouteTxn(req, StampVersion<TxnResponse>(*impl_, std::move(done)));
}

void NodeCore::Txns(TxnListRequest req, std::function<void(TxnListResponse)> done) {
  impl_->RouteTxnList(req, StampVersion<TxnListResponse>(*impl_, std::move(done)));
}

void NodeCore::Tick() { impl_->Tick(); }
int64_t NodeCore::MsUntilNextTimer() const {
  if (impl_->timers.empty()) return -1;
  return std::max<int64_t>(0, impl_->timers.begin()->first - impl_->NowMs());
}
bool NodeCore::Round() {
  impl_->RunTimers();
  const bool more = impl_->ProcessReadies();
  impl_->FlushOutbox();
  return more;
}
void NodeCore::FailPending(const std::string& why) { impl_->FailAll(why); }
uint64_t NodeCore::id() const { return impl_->cfg.node_id; }
uint64_t NodeCore::boot_count() const { return impl_->boot; }
void NodeCore::CountDroppedFrame() { impl_->counters.frames_dropped++; }
void NodeCore::CountOverloaded() { impl_->counters.overloaded++; }
std::string NodeCore::Metrics() const { return impl_->MetricsText(); }

bool NodeCore::HostsShardOf(const std::string& key) const {
  const std::shared_ptr<const kv::Directory> dir = impl_->Dir();
  return dir->version() != 0 && impl_->replicas.count(dir->ShardFor(key)) > 0;
}

ReadResponse NodeCore::StaleRead(const ReadRequest& req) const {
  const std::shared_ptr<const kv::Directory> dir = impl_->Dir();
  const uint64_t shard = dir->ShardFor(req.key);
  ReadResponse resp;
  resp.shard = shard;
  resp.directory_version = dir->version();
  auto it = impl_->replicas.find(shard);
  if (dir->version() == 0 || it == impl_->replicas.end()) {
    resp.code = ErrorCode::kUnavailable;
    resp.message = "this node hosts no replica of shard " + std::to_string(shard) +
                   " under the cluster's directory";
    return resp;
  }
  impl_->counters.reads_stale++;
  resp.applied_index = it->second->applied_index;
  raft::Status s = it->second->sm->Get(req.key, &resp.record);
  if (!s.ok()) {
    resp.code = ErrorCode::kUnavailable;
    resp.message = s.ToString();
  } else if (!resp.record) {
    resp.code = ErrorCode::kNotFound;
  }
  return resp;
}

DirectoryView NodeCore::Directory() const { return impl_->DirectoryViewNow(); }

ClusterStatus NodeCore::Status() const {
  std::lock_guard<std::mutex> lock(impl_->status_mu);
  ClusterStatus st = impl_->status_cache;
  for (auto& n : st.nodes) {
    n.up = n.id == impl_->cfg.node_id || impl_->transport == nullptr ||
           impl_->transport->Reachable(n.id);
  }
  return st;
}

bool NodeCore::IsReady() const {
  std::lock_guard<std::mutex> lock(impl_->status_mu);
  return impl_->ready_cache;
}

// ---- CoreImpl: inputs ----

int64_t CoreImpl::NowMs() const {
  if (cfg.monotonic_ms) return cfg.monotonic_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t CoreImpl::WallMs() const {
  if (cfg.wall_ms) return cfg.wall_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t CoreImpl::NextRequestId() {
  KVD_CHECK_MSG(next_request_seq < (uint64_t{1} << kRequestSeqBits), "request ids exhausted");
  return (RequestIdBoot(boot) << kRequestSeqBits) | next_request_seq++;
}

void CoreImpl::HandleBatch(kvpb::PeerBatch& batch) {
  if (batch.has_snapshot_chunk()) {
    auto it = replicas.find(batch.snapshot_chunk().shard());
    if (it != replicas.end()) {
      if (it->second->quiesced) {
        Wake(*it->second);
        counters.quiesced_groups--;
      }
      StageChunk(*it->second, batch.snapshot_chunk());
    }
  }
  for (auto& sm : *batch.mutable_messages()) {
    auto it = replicas.find(sm.shard());
    if (it == replicas.end()) continue;  // not a replica of this shard here
    Replica& r = *it->second;
    WakeFor(r, sm.message());
    if (sm.message().type() == raftpb::MSG_SNAP && !AcceptStagedSnapshot(r, sm.message())) {
      continue;
    }
    StampForwardedProposals(r, *sm.mutable_message());
    (void)r.raw->Step(std::move(*sm.mutable_message()));  // unknown peers are ignored
  }
  for (const auto& n : batch.quiesce()) OnQuiesceNotice(batch.from_node(), n);
  for (const auto& f : batch.requests()) ServeForwarded(batch.from_node(), f);
  for (const auto& resp : batch.responses()) AnswerForwarded(resp);
}

bool CoreImpl::LeaderUnreachable(const Replica& r) const {
  // A follower would forward the request to a leader it cannot reach (say, one that just died);
  // the request would be lost and its outcome unknown. Refusing now applies nothing: the client
  // retries, by then against a new leader.
  return r.soft.lead != 0 && r.soft.lead != cfg.node_id && transport != nullptr &&
         !transport->Reachable(r.soft.lead);
}

namespace {

// Why a proposal was dropped, as the client should hear it: a leader that sheds load (its
// uncommitted log is full) is overloaded (429, retry later); anything else is unavailable.
WriteResponse DroppedProposal(const Replica& r, uint64_t self, const raft::Status& s) {
  const bool leader = r.soft.state == raft::StateType::kLeader && r.soft.lead == self;
  if (leader && r.raw->GetStatus().lead_transferee == 0) {
    return WriteError(ErrorCode::kOverloaded, "the leader's uncommitted log is full; retry later",
                      r.shard);
  }
  return WriteError(ErrorCode::kUnavailable, "no leader: " + s.message(), r.shard);
}

}  // namespace

void CoreImpl::HandleWrite(uint64_t shard, WriteRequest& req, WriteDone& done) {
  kvpb::Command cmd;
  cmd.set_client_id(req.client_id);
  cmd.set_seq(req.seq);
  // The fence, if any (and unless a planted bug drops it). The holder is checked too when this
  // node's directory places the lock in the key's shard.
  std::optional<kvpb::Fence> fence;
  if (req.fence && HonourFences()) {
    fence.emplace();
    fence->set_lock(req.fence->lock);
    fence->set_token(req.fence->token);
    fence->set_lock_in_shard(Dir()->ShardFor(req.fence->lock) == shard);
  }
  if (req.is_delete) {
    auto* d = cmd.mutable_delete_();
    d->set_key(req.key);
    d->set_has_if_version(req.if_version.has_value());
    d->set_if_version(req.if_version.value_or(0));
    if (fence) *d->mutable_fence() = std::move(*fence);
  } else {
    auto* p = cmd.mutable_put();
    p->set_key(req.key);
    p->set_value(std::move(req.value));
    p->set_has_if_version(req.if_version.has_value());
    p->set_if_version(req.if_version.value_or(0));
    if (fence) *p->mutable_fence() = std::move(*fence);
  }
  PendingWrite pending;
  pending.shard = shard;
  pending.done = std::move(done);
  ProposeForClient(*replicas.at(shard), cmd, std::move(pending));
}

void CoreImpl::ProposeForClient(Replica& r, kvpb::Command& cmd, PendingWrite pending) {
  if (r.quiesced) counters.quiesced_groups--;
  Wake(r);
  if (writes.size() + reads.size() + forwards.size() >= cfg.max_pending_requests) {
    counters.overloaded++;
    pending.done(WriteError(ErrorCode::kOverloaded, "too many requests in flight", r.shard));
    return;
  }
  if (LeaderUnreachable(r)) {
    counters.writes_failed++;
    pending.done(WriteError(ErrorCode::kUnavailable, "the leader is unreachable; retry", r.shard));
    return;
  }
  const uint64_t id = NextRequestId();
  cmd.set_format(kCommandFormat);
  // Only a leader's clock is used (sessions, lock leases); a follower's proposal is stamped by
  // the leader it reaches (StampForwardedProposals).
  if (r.soft.state == raft::StateType::kLeader) cmd.set_leader_time_ms(StampMs());
  cmd.set_proposer_node(cfg.node_id);
  cmd.set_request_id(id);
  raft::Status s = r.raw->Propose(EncodeCommand(cmd));
  if (!s.ok()) {
    WriteResponse resp = DroppedProposal(r, cfg.node_id, s);
    (resp.code == ErrorCode::kOverloaded ? counters.overloaded : counters.writes_failed)++;
    pending.done(std::move(resp));
    return;
  }
  counters.proposals++;
  if (AckOnPropose()) {
    pending.done(WriteResponse{ErrorCode::kOk, "", r.shard});
    return;
  }
  pending.deadline_ms = NowMs() + cfg.request_timeout_ms;
  writes[id] = std::move(pending);
}

void CoreImpl::StampForwardedProposals(Replica& r, raftpb::Message& m) {
  if (m.type() != raftpb::MSG_PROP || r.soft.state != raft::StateType::kLeader) return;
  const int64_t now = StampMs();
  for (raftpb::Entry& e : *m.mutable_entries()) {
    if (e.type() != raftpb::ENTRY_NORMAL || e.data().empty()) continue;
    kvpb::Command c;
    if (!DecodeCommand(e.data(), &c) || c.leader_time_ms() != 0) continue;
    c.set_leader_time_ms(now);
    c.set_stamp_node(cfg.node_id);
    e.set_data(EncodeCommand(c));
  }
}

void CoreImpl::MaybeProposeClock(Replica& r) {
  // Only leaders stamp time, and a shard whose writes all arrive through followers would see
  // none: the leader stamps its clock on an entry of its own at its first tick and every
  // session_ttl/8 after. So a command is applied at a clock at most about ttl/8 behind its
  // leader's, and a session is kept at least about 7/8 of the TTL after it was last seen.
  if (r.soft.state != raft::StateType::kLeader) return;
  // An idle group needs no clock: the next command's stamp advances it by the time that passed
  // (same leader and term). So clock entries stop and the group can quiesce.
  if (r.last_clock_proposal_ms != 0 && r.idle_ticks >= kClockIdleTicks) return;
  const int64_t now = StampMs();
  const int64_t every = std::max<int64_t>(1, cfg.session_ttl_ms / 8);
  if (r.last_clock_proposal_ms != 0 && now - r.last_clock_proposal_ms < every) return;
  r.last_clock_proposal_ms = now;
  kvpb::Command cmd;
  cmd.set_format(1);
  cmd.set_leader_time_ms(now);
  cmd.set_proposer_node(cfg.node_id);
  (void)r.raw->Propose(EncodeCommand(cmd));  // best effort: the next one comes soon enough
}

void CoreImpl::HandleRead(PendingRead& read) {
  Replica& r = *replicas.at(read.shard);
  if (r.quiesced) counters.quiesced_groups--;
  Wake(r);
  if (writes.size() + reads.size() + forwards.size() >= cfg.max_pending_requests) {
    counters.overloaded++;
    counters.reads_failed++;
    return read.Fail(ErrorCode::kOverloaded, "too many requests in flight");
  }
  if (LeaderUnreachable(r)) {
    counters.reads_failed++;
    return read.Fail(ErrorCode::kUnavailable, "the leader is unreachable; retry");
  }
  const uint64_t id = NextRequestId();
  raft::Status s = r.raw->ReadIndex(RequestContext(id));
  if (!s.ok()) {
    counters.reads_failed++;
    return read.Fail(ErrorCode::kUnavailable, "no leader: " + s.message());
  }
  counters.reads_linearizable++;
  read.deadline_ms = NowMs() + cfg.request_timeout_ms;
  reads.emplace(id, std::move(read));
}

void CoreImpl::Tick() {
  ++ticks;
  RunTimers();
  for (auto& [shard, r] : replicas) {
    MaybeRecoverTxns(*r);  // a quiesced group's leader too: a proposal wakes it
    if (StaysQuiet(*r)) continue;
    r->raw->Tick();
    RetryStuckSnapshots(*r);
    MaybeProposeClock(*r);
    MaybeTickLocks(*r);
    MaintainDirectory(*r);
    MaybeQuiesce(*r);
  }
  ExpireRequests();
  ExpireForwards(NowMs());
  // Status is refreshed on every role change (ProcessReadies); between those, a few times a
  // second is plenty for /v1/cluster and /readyz, and costs little with many shards.
  if (ticks % kStatusEveryTicks == 0) RefreshStatus();
}

void CoreImpl::ExpireRequests() {
  const int64_t now = NowMs();
  for (auto it = writes.begin(); it != writes.end();) {
    if (it->second.deadline_ms > now) {
      ++it;
      continue;
    }
    counters.writes_unknown++;
    it->second.done(
        {ErrorCode::kTimeout, "write outcome unknown: not committed in time", it->second.shard});
    it = writes.erase(it);
  }
  for (auto it = reads.begin(); it != reads.end();) {
    if (it->second.deadline_ms > now) {
      ++it;
      continue;
    }
    counters.reads_failed++;
    it->second.Fail(ErrorCode::kUnavailable, "read timed out; retry");
    it = reads.erase(it);
  }
}

void CoreImpl::FailAll(const std::string& why) {
  stopping = true;  // callbacks below start no new work
  for (auto& [id, w] : writes) {
    counters.writes_unknown++;
    w.done(WriteError(ErrorCode::kTimeout, why + "; write outcome unknown", w.shard));
  }
  writes.clear();
  for (auto& [id, read] : reads) read.Fail(ErrorCode::kUnavailable, why);
  reads.clear();
  for (auto& [id, pf] : forwards) {
    if (pf.write_done || pf.lock_done || pf.command_done) {
      counters.writes_unknown++;
      pf.Fail(ErrorCode::kTimeout, why + "; outcome unknown");
    } else {
      pf.Fail(ErrorCode::kUnavailable, why);
    }
  }
  forwards.clear();
  for (auto& [id, run] : txns) {
    if (run.answered) continue;
    TxnResponse resp =
        run.commit_sent
            ? ErrorResponse<TxnResponse>(ErrorCode::kTimeout, why + "; transaction outcome unknown")
            : ErrorResponse<TxnResponse>(ErrorCode::kUnavailable, why);
    run.done(std::move(resp));
  }
  txns.clear();
  timers.clear();
}

void CoreImpl::RefreshStatus() {
  ClusterStatus st;
  st.node_id = cfg.node_id;
  st.nodes = cfg.members;
  st.directory_version = Dir()->version();
  bool ready = true;
  for (auto& [shard, r] : replicas) {
    raft::NodeStatus ns = r->raw->GetBasicStatus();
    ShardStatus ss;
    ss.id = shard;
    for (uint64_t v : ns.config.voters()) ss.replicas.push_back(v);
    ss.leader = ns.soft_state.lead;
    ss.term = ns.hard_state.term();
    ss.commit_index = ns.hard_state.commit();
    ss.applied_index = r->sm->applied().index();
    ss.role = raft::StateName(ns.soft_state.state);
    ready = ready && ss.leader != 0;
    st.shards.push_back(std::move(ss));
  }
  // Ready = this node can route and serve: it applied the cluster's directory, and knows a
  // leader for every shard it hosts.
  ready = ready && st.directory_version != 0;
  std::lock_guard<std::mutex> lock(status_mu);
  status_cache = std::move(st);
  ready_cache = ready;
}

}  // namespace kvd::kv
