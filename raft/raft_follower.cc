// Followers and candidates: accepting appends with the log-matching check (Raft §5.3),
// heartbeats, snapshots (§7), vote counting (§5.2), forwarding to the leader.
#include "raft/check.h"
#include "raft/confchange.h"
#include "raft/raft.h"

namespace kvd::raft {

Status Raft::StepFollower(raftpb::Message& m) {
  switch (m.type()) {
    case raftpb::MSG_PROP:
      if (lead_ == 0) return Status::Error(Code::kProposalDropped, "no leader known");
      m.set_to(lead_);
      Send(std::move(m));
      return Status::Ok();
    case raftpb::MSG_APP:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleAppendEntries(m);
      return Status::Ok();
    case raftpb::MSG_HEARTBEAT:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleHeartbeat(m);
      return Status::Ok();
    case raftpb::MSG_SNAP:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleSnapshot(m);
      return Status::Ok();
    case raftpb::MSG_TRANSFER_LEADER:
      if (lead_ == 0) return Status::Error(Code::kProposalDropped, "no leader to transfer from");
      m.set_to(lead_);
      Send(std::move(m));
      return Status::Ok();
    case raftpb::MSG_TIMEOUT_NOW:
      // The leader handed us leadership: campaign at once, skipping PreVote (thesis §3.10).
      Hup(CampaignType::kTransfer);
      return Status::Ok();
    case raftpb::MSG_READ_INDEX:
      if (lead_ == 0) return Status::Error(Code::kProposalDropped, "no leader known");
      m.set_to(lead_);
      Send(std::move(m));
      return Status::Ok();
    case raftpb::MSG_READ_INDEX_RESP:
      read_states_.push_back({m.index(), m.context()});
      return Status::Ok();
    default:
      return Status::Ok();
  }
}

Status Raft::StepCandidate(raftpb::Message& m) {
  const raftpb::MessageType my_response =
      state_ == StateType::kPreCandidate ? raftpb::MSG_PRE_VOTE_RESP : raftpb::MSG_VOTE_RESP;
  switch (m.type()) {
    case raftpb::MSG_PROP:
    case raftpb::MSG_READ_INDEX:
      return Status::Error(Code::kProposalDropped, "no leader during an election");
    case raftpb::MSG_APP:
      BecomeFollower(m.term(), m.from());  // a leader of our term exists
      HandleAppendEntries(m);
      return Status::Ok();
    case raftpb::MSG_HEARTBEAT:
      BecomeFollower(m.term(), m.from());
      HandleHeartbeat(m);
      return Status::Ok();
    case raftpb::MSG_SNAP:
      BecomeFollower(m.term(), m.from());
      HandleSnapshot(m);
      return Status::Ok();
    default:
      break;
  }
  if (m.type() != my_response) return Status::Ok();
  switch (Poll(m.from(), !m.reject())) {
    case VoteResult::kWon:
      if (state_ == StateType::kPreCandidate) {
        Campaign(CampaignType::kElection);
      } else {
        BecomeLeader();
        BroadcastAppend();
      }
      break;
    case VoteResult::kLost:
      BecomeFollower(term_, 0);  // a pre-candidate keeps its term: it never changed it
      break;
    case VoteResult::kPending:
      break;
  }
  return Status::Ok();
}

void Raft::HandleAppendEntries(const raftpb::Message& m) {
  raftpb::Message resp;
  resp.set_to(m.from());
  resp.set_type(raftpb::MSG_APP_RESP);
  if (m.index() < log_.committed()) {
    // Everything up to our commit index matches the leader's log already.
    resp.set_index(log_.committed());
    Send(std::move(resp));
    return;
  }
  std::vector<raftpb::Entry> entries(m.entries().begin(), m.entries().end());
  if (auto last_new = log_.MaybeAppend(m.index(), m.log_term(), m.commit(), entries)) {
    resp.set_index(*last_new);
    Send(std::move(resp));
    return;
  }
  // Reject with a hint: the last index whose term is <= the leader's term at m.index(), so the
  // leader can skip a whole conflicting term per round trip.
  const uint64_t hint_index = std::min(m.index(), log_.LastIndex());
  const auto [conflict_index, conflict_term] = log_.FindConflictByTerm(hint_index, m.log_term());
  resp.set_index(m.index());
  resp.set_reject(true);
  resp.set_reject_hint(conflict_index);
  resp.set_log_term(conflict_term);
  Send(std::move(resp));
}

void Raft::HandleHeartbeat(const raftpb::Message& m) {
  log_.CommitTo(m.commit());
  raftpb::Message resp;
  resp.set_to(m.from());
  resp.set_type(raftpb::MSG_HEARTBEAT_RESP);
  resp.set_context(m.context());
  Send(std::move(resp));
}

void Raft::HandleSnapshot(const raftpb::Message& m) {
  raftpb::Message resp;
  resp.set_to(m.from());
  resp.set_type(raftpb::MSG_APP_RESP);
  if (Restore(m.snapshot())) {
    resp.set_index(log_.LastIndex());
  } else {
    resp.set_index(log_.committed());
  }
  Send(std::move(resp));
}

bool Raft::Restore(const raftpb::Snapshot& s) {
  const auto& meta = s.metadata();
  if (meta.index() <= log_.committed()) return false;
  if (state_ != StateType::kFollower) {
    // Only a leader sends snapshots, so we should be its follower already; be defensive.
    BecomeFollower(term_ + 1, 0);
    return false;
  }
  bool member = false;
  const auto& cs = meta.conf_state();
  for (auto ids : {&cs.voters(), &cs.learners(), &cs.voters_outgoing()}) {
    for (uint64_t id : *ids) member = member || id == id_;
  }
  if (!member) {
    Log("ignoring snapshot that does not include this node");
    return false;
  }
  // Our log already has the snapshot's last entry: just fast-forward the commit index.
  if (log_.MatchTerm(meta.index(), meta.term())) {
    log_.CommitTo(meta.index());
    return false;
  }
  log_.Restore(s);
  Status st = RestoreConfig(cs, log_.LastIndex(), &trk_);
  KVD_CHECK_MSG(st.ok(), "snapshot configuration invalid: " << st.ToString());
  auto self = trk_.progress.find(id_);
  is_learner_ = self != trk_.progress.end() && self->second.is_learner;
  Log("restored snapshot at index " + std::to_string(meta.index()));
  return true;
}

}  // namespace kvd::raft
