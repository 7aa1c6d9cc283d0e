// The leader: proposals, log replication with flow control (Raft §5.3), commit by counting only
// entries of the current term (§5.4.2), batched ReadIndex (thesis §6.4), leadership transfer
// (thesis §3.10).
#include "raft/check.h"
#include "raft/confchange.h"
#include "raft/raft.h"

namespace kvd::raft {
namespace {

uint64_t PayloadSize(const std::vector<raftpb::Entry>& entries) {
  uint64_t n = 0;
  for (const auto& e : entries) n += e.data().size();
  return n;
}

}  // namespace

Status Raft::StepLeader(raftpb::Message& m) {
  switch (m.type()) {
    case raftpb::MSG_BEAT:
      BroadcastHeartbeat();
      return Status::Ok();
    case raftpb::MSG_CHECK_QUORUM:
      if (!trk_.QuorumActive(id_)) {
        Log("stepping down: no quorum heard within an election timeout");
        BecomeFollower(term_, 0);
        return Status::Ok();
      }
      for (auto& [id, pr] : trk_.progress) {
        if (id != id_) pr.recent_active = false;
      }
      return Status::Ok();
    case raftpb::MSG_PROP:
      return HandlePropose(m);
    case raftpb::MSG_READ_INDEX:
      HandleReadIndexRequest(m);
      return Status::Ok();
    default:
      break;
  }
  auto it = trk_.progress.find(m.from());
  if (it == trk_.progress.end()) return Status::Ok();
  Progress& pr = it->second;
  switch (m.type()) {
    case raftpb::MSG_APP_RESP:
      HandleAppendResponse(m, pr);
      break;
    case raftpb::MSG_HEARTBEAT_RESP:
      HandleHeartbeatResponse(m, pr);
      break;
    case raftpb::MSG_SNAP_STATUS:
      if (pr.state != ProgressState::kSnapshot) break;
      if (m.reject()) pr.pending_snapshot = 0;  // failed: probe from match again
      pr.BecomeProbe();
      // Wait for the follower's response (or the next heartbeat) before sending again.
      pr.msg_app_flow_paused = true;
      break;
    case raftpb::MSG_UNREACHABLE:
      if (pr.state == ProgressState::kReplicate) pr.BecomeProbe();
      break;
    case raftpb::MSG_TRANSFER_LEADER:
      HandleTransferLeader(m, pr);
      break;
    default:
      break;
  }
  return Status::Ok();
}

Status Raft::HandlePropose(raftpb::Message& m) {
  if (m.entries().empty()) return Status::Error(Code::kInvalidArgument, "empty proposal");
  if (!trk_.progress.count(id_)) {
    return Status::Error(Code::kProposalDropped, "leader was removed from the configuration");
  }
  if (lead_transferee_ != 0) {
    return Status::Error(Code::kProposalDropped, "leadership transfer in progress");
  }
  std::vector<raftpb::Entry> entries(m.entries().begin(), m.entries().end());
  for (size_t i = 0; i < entries.size(); ++i) {
    raftpb::Entry& e = entries[i];
    if (e.type() != raftpb::ENTRY_CONF_CHANGE) continue;
    raftpb::ConfChange cc;
    bool refuse = !cc.ParseFromString(e.data());
    if (!refuse) {
      const bool already_pending = pending_conf_index_ > log_.applied();
      const bool already_joint = trk_.config.joint();
      const bool wants_leave = ConfChangeLeavesJoint(cc);
      // One change at a time; inside a joint config only the change that leaves it.
      refuse =
          already_pending || (already_joint && !wants_leave) || (!already_joint && wants_leave);
    }
    if (refuse) {
      Log("refusing configuration change; appending a no-op instead");
      e = raftpb::Entry();
    } else {
      pending_conf_index_ = log_.LastIndex() + i + 1;
    }
  }
  if (!AppendEntries(std::move(entries))) {
    return Status::Error(Code::kProposalDropped, "too many uncommitted bytes");
  }
  BroadcastAppend();
  return Status::Ok();
}

bool Raft::AppendEntries(std::vector<raftpb::Entry> entries) {
  const uint64_t last = log_.LastIndex();
  for (size_t i = 0; i < entries.size(); ++i) {
    entries[i].set_term(term_);
    entries[i].set_index(last + 1 + i);
  }
  const uint64_t size = PayloadSize(entries);
  // Always admit at least one proposal (uncommitted_size_ == 0), however large.
  if (max_uncommitted_size_ != 0 && uncommitted_size_ > 0 && size > 0 &&
      uncommitted_size_ + size > max_uncommitted_size_) {
    return false;
  }
  uncommitted_size_ += size;
  log_.Append(entries);
  // Our own progress advances in OnPersisted(), after the driver's fsync.
  return true;
}

bool Raft::MaybeSendAppend(uint64_t to, bool send_if_empty) {
  Progress& pr = trk_.progress.at(to);
  if (pr.IsPaused()) return false;
  raftpb::Message m;
  m.set_to(to);
  const uint64_t prev_index = pr.next - 1;
  uint64_t prev_term = 0;
  Status term_status = log_.Term(prev_index, &prev_term);
  std::vector<raftpb::Entry> entries;
  Status entries_status;
  if (term_status.ok()) {
    entries_status = log_.Slice(pr.next, log_.LastIndex() + 1, max_msg_size_, &entries);
  }
  if (term_status.ok() && entries_status.ok()) {
    if (entries.empty() && !send_if_empty) return false;
    m.set_type(raftpb::MSG_APP);
    m.set_index(prev_index);
    m.set_log_term(prev_term);
    m.set_commit(log_.committed());
    uint64_t bytes = 0;
    for (auto& e : entries) {
      bytes += e.data().size();
      *m.add_entries() = std::move(e);
    }
    if (m.entries_size() > 0) {
      pr.SentEntries(m.entries_size(), bytes, m.entries(m.entries_size() - 1).index());
    }
    if (pr.state == ProgressState::kProbe) pr.probe_sent_tick = ticks_;
    Send(std::move(m));
    return true;
  }
  // The entries the follower needs are compacted: send a snapshot, but only to a follower known
  // to be alive (a snapshot is expensive).
  if (!pr.recent_active) return false;
  raftpb::Snapshot snapshot;
  Status s = log_.Snapshot(&snapshot);
  if (s.code() == Code::kSnapshotTemporarilyUnavailable) return false;
  KVD_CHECK_MSG(s.ok(), "snapshot unreadable: " << s.ToString());
  KVD_CHECK_MSG(snapshot.metadata().index() != 0, "log compacted without a snapshot");
  m.set_type(raftpb::MSG_SNAP);
  pr.BecomeSnapshot(snapshot.metadata().index());
  *m.mutable_snapshot() = std::move(snapshot);
  Send(std::move(m));
  return true;
}

void Raft::SendHeartbeat(uint64_t to, const std::string& ctx) {
  // Never tell a follower to commit past what it is known to have.
  const uint64_t commit = std::min(trk_.progress.at(to).match, log_.committed());
  raftpb::Message m;
  m.set_to(to);
  m.set_type(raftpb::MSG_HEARTBEAT);
  m.set_commit(commit);
  m.set_context(ctx);
  Send(std::move(m));
}

void Raft::BroadcastAppend() {
  for (const auto& [id, pr] : trk_.progress) {
    if (id != id_) MaybeSendAppend(id, true);
  }
}

void Raft::BroadcastHeartbeat() {
  // Heartbeats carry the newest pending read round, so a lost acknowledgement is retried.
  const uint64_t round = read_only_.LatestPendingRound();
  const std::string ctx = round ? ReadOnly::EncodeRoundId(round) : std::string();
  for (const auto& [id, pr] : trk_.progress) {
    if (id != id_) SendHeartbeat(id, ctx);
  }
}

bool Raft::MaybeCommit() { return log_.MaybeCommit(trk_.Committed(), term_); }

bool Raft::CommittedEntryInCurrentTerm() const {
  return log_.TermOrZero(log_.committed()) == term_;
}

void Raft::HandleAppendResponse(const raftpb::Message& m, Progress& pr) {
  pr.recent_active = true;
  if (m.reject()) {
    // Fast backtracking: skip every entry of the follower's conflicting term at once.
    uint64_t next_probe = m.reject_hint();
    if (m.log_term() > 0) next_probe = log_.FindConflictByTerm(m.reject_hint(), m.log_term()).first;
    if (pr.MaybeDecrTo(m.index(), next_probe)) {
      if (pr.state == ProgressState::kReplicate) pr.BecomeProbe();
      MaybeSendAppend(m.from(), true);
    }
    return;
  }
  const bool was_paused = pr.IsPaused();
  if (!pr.MaybeUpdate(m.index()) && !(pr.match == m.index() && pr.state == ProgressState::kProbe)) {
    return;
  }
  switch (pr.state) {
    case ProgressState::kProbe:
      pr.BecomeReplicate();
      break;
    case ProgressState::kSnapshot:
      if (pr.match + 1 >= log_.FirstIndex()) {
        pr.BecomeProbe();
        pr.BecomeReplicate();
      }
      break;
    case ProgressState::kReplicate:
      pr.inflights.FreeLE(m.index());
      break;
  }
  if (MaybeCommit()) {
    ReleasePendingReadIndexMessages();
    BroadcastAppend();
  } else if (was_paused) {
    MaybeSendAppend(m.from(), true);
  }
  // Pipelining: keep sending while flow control allows.
  while (MaybeSendAppend(m.from(), false)) {
  }
  if (m.from() == lead_transferee_ && pr.match == log_.LastIndex()) SendTimeoutNow(m.from());
}

void Raft::HandleHeartbeatResponse(const raftpb::Message& m, Progress& pr) {
  pr.recent_active = true;
  // A probe whose answer is missing is resent at most once per heartbeat interval (as etcd
  // documents), however many heartbeats ReadIndex rounds add: each probe can carry a whole
  // message of entries, and resending it on every read round's response swamped a lagging
  // follower and stalled this leader long enough for needless elections.
  if (pr.state != ProgressState::kProbe || ticks_ >= pr.probe_sent_tick + heartbeat_timeout_) {
    pr.msg_app_flow_paused = false;
  }
  if (pr.match < log_.LastIndex() || pr.state == ProgressState::kProbe) {
    if (pr.state == ProgressState::kReplicate && pr.inflights.Full()) {
      // The window may be full of appends that were all lost; then no ack would ever free it and
      // the follower would never hear from us again (scenario flow_control.txt). The heartbeat
      // response proves it reachable: send one empty append at 'next', outside the window, as
      // etcd does. An ack frees the window; a rejection makes us probe from its match.
      uint64_t prev_term = 0;
      if (log_.Term(pr.next - 1, &prev_term).ok()) {
        raftpb::Message app;
        app.set_to(m.from());
        app.set_type(raftpb::MSG_APP);
        app.set_index(pr.next - 1);
        app.set_log_term(prev_term);
        app.set_commit(log_.committed());
        Send(std::move(app));
      } else {
        pr.BecomeProbe();  // 'next' was compacted meanwhile: probe, which may send a snapshot
        MaybeSendAppend(m.from(), true);
      }
    } else {
      MaybeSendAppend(m.from(), true);
    }
  }
  const uint64_t round = ReadOnly::DecodeRoundId(m.context());
  if (round == 0) return;
  for (const auto& [index, req] : read_only_.Ack(round, m.from(), trk_.config.voters)) {
    RespondToRead(index, req);
  }
}

void Raft::HandleReadIndexRequest(const raftpb::Message& m) {
  ReadRequest req{m.from(), m.context()};
  // Until the leader commits an entry of its term it does not know the commit index (§8).
  if (!CommittedEntryInCurrentTerm()) {
    pending_read_index_msgs_.push_back(m);
    return;
  }
  if (trk_.IsSingleton()) {
    RespondToRead(log_.committed(), req);
    return;
  }
  read_only_.Queue(std::move(req));
}

void Raft::ReleasePendingReadIndexMessages() {
  if (pending_read_index_msgs_.empty() || !CommittedEntryInCurrentTerm()) return;
  auto pending = std::move(pending_read_index_msgs_);
  pending_read_index_msgs_.clear();
  for (const auto& m : pending) HandleReadIndexRequest(m);
}

void Raft::RespondToRead(uint64_t index, const ReadRequest& req) {
  if (req.from == 0 || req.from == id_) {
    read_states_.push_back({index, req.request_ctx});
    return;
  }
  raftpb::Message m;
  m.set_to(req.from);
  m.set_type(raftpb::MSG_READ_INDEX_RESP);
  m.set_index(index);
  m.set_context(req.request_ctx);
  Send(std::move(m));
}

bool Raft::HasUnsentReadRound() const {
  return state_ == StateType::kLeader && read_only_.HasQueued();
}

void Raft::FlushReadIndex() {
  if (!HasUnsentReadRound()) return;
  const uint64_t round = read_only_.Flush(log_.committed(), id_);
  const std::string ctx = ReadOnly::EncodeRoundId(round);
  for (const auto& [id, pr] : trk_.progress) {
    if (id != id_) SendHeartbeat(id, ctx);
  }
}

void Raft::HandleTransferLeader(const raftpb::Message& m, Progress& pr) {
  if (pr.is_learner) return;
  const uint64_t transferee = m.from();
  if (lead_transferee_ != 0) {
    if (lead_transferee_ == transferee) return;  // already in progress
    AbortLeaderTransfer();
  }
  if (transferee == id_) return;
  // The transfer must finish within an election timeout; proposals are refused meanwhile.
  election_elapsed_ = 0;
  lead_transferee_ = transferee;
  if (pr.match == log_.LastIndex()) {
    SendTimeoutNow(transferee);
  } else {
    MaybeSendAppend(transferee, true);
  }
}

void Raft::SendTimeoutNow(uint64_t to) {
  raftpb::Message m;
  m.set_to(to);
  m.set_type(raftpb::MSG_TIMEOUT_NOW);
  Send(std::move(m));
}

void Raft::MaybeAutoLeaveJoint() {
  if (state_ != StateType::kLeader || !trk_.config.auto_leave) return;
  if (log_.applied() < pending_conf_index_) return;
  raftpb::Entry e;
  e.set_type(raftpb::ENTRY_CONF_CHANGE);
  e.set_data(raftpb::ConfChange().SerializeAsString());
  if (!AppendEntries({e})) return;  // retried at the next apply
  pending_conf_index_ = log_.LastIndex();
  Log("leaving joint configuration automatically");
  BroadcastAppend();
}

}  // namespace kvd::raft
