// Raft roles, ticks, message dispatch and elections (Raft §5.1, §5.2; thesis §9.6 PreVote,
// §6.2 CheckQuorum), and membership switching (thesis §4.3).
#include "raft/raft.h"

#include "raft/check.h"
#include "raft/confchange.h"
#include "raft/memory_storage.h"

namespace kvd::raft {
namespace {

const char kTransferContext[] = "transfer";

raftpb::MessageType VoteResponseType(raftpb::MessageType t) {
  return t == raftpb::MSG_PRE_VOTE ? raftpb::MSG_PRE_VOTE_RESP : raftpb::MSG_VOTE_RESP;
}

}  // namespace

Raft::Raft(const Config& c)
    : id_(c.id),
      log_(*c.storage, c.max_committed_size_per_ready),
      trk_(c.max_inflight_msgs, c.max_inflight_bytes),
      election_timeout_(c.election_tick),
      heartbeat_timeout_(c.heartbeat_tick),
      max_msg_size_(c.max_size_per_msg),
      max_uncommitted_size_(c.max_uncommitted_entries_size),
      check_quorum_(c.check_quorum),
      pre_vote_(c.pre_vote),
      step_down_on_removal_(c.step_down_on_removal),
      rng_(c.random_seed),
      logger_(c.logger) {}

Status Raft::Create(const Config& c, std::unique_ptr<Raft>* out) {
  Status s = c.Validate();
  if (!s.ok()) return s;
  std::unique_ptr<Raft> r(new Raft(c));
  raftpb::HardState hs;
  raftpb::ConfState cs;
  s = c.storage->InitialState(&hs, &cs);
  if (!s.ok()) return s;
  s = RestoreConfig(cs, r->log_.LastIndex(), &r->trk_);
  if (!s.ok()) return s;
  auto self = r->trk_.progress.find(r->id_);
  r->is_learner_ = self != r->trk_.progress.end() && self->second.is_learner;
  if (hs.term() != 0 || hs.vote() != 0 || hs.commit() != 0) {
    if (hs.commit() < r->log_.committed() || hs.commit() > r->log_.LastIndex()) {
      return Status::Error(Code::kInvalidArgument, "hard state commit outside the log");
    }
    r->log_.CommitTo(hs.commit());
    r->term_ = hs.term();
    r->vote_ = hs.vote();
  }
  if (c.applied > 0) {
    if (c.applied > r->log_.committed()) {
      return Status::Error(Code::kInvalidArgument, "applied index past commit");
    }
    r->log_.AppliedTo(std::max(c.applied, r->log_.applied()));
  }
  r->BecomeFollower(r->term_, 0);
  *out = std::move(r);
  return Status::Ok();
}

raftpb::HardState Raft::hard_state() const {
  raftpb::HardState hs;
  hs.set_term(term_);
  hs.set_vote(vote_);
  hs.set_commit(log_.committed());
  return hs;
}

void Raft::Log(const std::string& what) const {
  if (logger_)
    logger_("raft " + std::to_string(id_) + " term " + std::to_string(term_) + ": " + what);
}

// ---- Roles -------------------------------------------------------------------------------------

void Raft::Reset(uint64_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = 0;
  }
  lead_ = 0;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  AbortLeaderTransfer();
  trk_.ResetVotes();
  const uint64_t last = log_.LastIndex();
  for (auto& [id, pr] : trk_.progress) {
    Progress fresh(last + 1, trk_.max_inflight(), trk_.max_inflight_bytes(), pr.is_learner);
    if (id == id_) fresh.match = log_.StableLastIndex();
    pr = std::move(fresh);
  }
  pending_conf_index_ = 0;
  uncommitted_size_ = 0;
  read_only_.Reset();
  pending_read_index_msgs_.clear();
}

void Raft::ResetRandomizedElectionTimeout() {
  std::uniform_int_distribution<int> extra(0, election_timeout_ - 1);
  randomized_election_timeout_ = election_timeout_ + extra(rng_);
}

bool Raft::PastElectionTimeout() const { return election_elapsed_ >= randomized_election_timeout_; }

void Raft::BecomeFollower(uint64_t term, uint64_t lead) {
  Reset(term);
  lead_ = lead;
  state_ = StateType::kFollower;
}

void Raft::BecomeCandidate() {
  KVD_CHECK_MSG(state_ != StateType::kLeader, "leader cannot become candidate");
  Reset(term_ + 1);
  vote_ = id_;
  state_ = StateType::kCandidate;
}

void Raft::BecomePreCandidate() {
  KVD_CHECK_MSG(state_ != StateType::kLeader, "leader cannot become pre-candidate");
  // PreVote does not change the term or the vote: it is a trial (thesis §9.6).
  trk_.ResetVotes();
  lead_ = 0;
  state_ = StateType::kPreCandidate;
}

void Raft::BecomeLeader() {
  KVD_CHECK_MSG(state_ != StateType::kFollower, "follower cannot become leader directly");
  Reset(term_);
  lead_ = id_;
  state_ = StateType::kLeader;
  if (auto it = trk_.progress.find(id_); it != trk_.progress.end()) {
    it->second.BecomeReplicate();
    it->second.match = log_.StableLastIndex();
  }
  // Conservatively treat any unapplied entry as a pending conf change.
  pending_conf_index_ = log_.LastIndex();
  // An empty entry of the new term: committing it commits every earlier entry (§5.4.2, §8).
  KVD_CHECK(AppendEntries({raftpb::Entry()}));
  Log("became leader");
}

bool Raft::Promotable() const {
  auto it = trk_.progress.find(id_);
  return it != trk_.progress.end() && !it->second.is_learner && !log_.UnstableSnapshot();
}

// ---- Time --------------------------------------------------------------------------------------

void Raft::Tick() {
  ++ticks_;
  if (state_ == StateType::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
}

void Raft::TickElection() {
  ++election_elapsed_;
  if (Promotable() && PastElectionTimeout()) {
    election_elapsed_ = 0;
    raftpb::Message m;
    m.set_type(raftpb::MSG_HUP);
    (void)Step(std::move(m));
  }
}

void Raft::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= election_timeout_) {
    election_elapsed_ = 0;
    if (check_quorum_) {
      raftpb::Message m;
      m.set_type(raftpb::MSG_CHECK_QUORUM);
      (void)Step(std::move(m));
    }
    // A transfer that did not finish within an election timeout is abandoned.
    if (state_ == StateType::kLeader) AbortLeaderTransfer();
  }
  if (state_ != StateType::kLeader) return;
  if (heartbeat_elapsed_ >= heartbeat_timeout_) {
    heartbeat_elapsed_ = 0;
    raftpb::Message m;
    m.set_type(raftpb::MSG_BEAT);
    (void)Step(std::move(m));
  }
}

// ---- Dispatch ----------------------------------------------------------------------------------

Status Raft::Step(raftpb::Message m) {
  if (m.term() == 0) {
    // Local message, or a forwarded proposal / read request (term-independent).
  } else if (m.term() > term_) {
    const bool is_vote = m.type() == raftpb::MSG_VOTE || m.type() == raftpb::MSG_PRE_VOTE;
    if (is_vote) {
      const bool forced = m.context() == kTransferContext;
      // CheckQuorum leases: a node that heard from a leader within the election timeout ignores
      // votes, so a partitioned node cannot depose a healthy leader (thesis §4.2.3).
      const bool in_lease = check_quorum_ && lead_ != 0 && election_elapsed_ < election_timeout_;
      if (!forced && in_lease) return Status::Ok();
    }
    if (m.type() == raftpb::MSG_PRE_VOTE) {
      // A pre-vote never changes our term.
    } else if (m.type() == raftpb::MSG_PRE_VOTE_RESP && !m.reject()) {
      // Granted pre-votes carry the future term; the real election will adopt it.
    } else if (m.type() == raftpb::MSG_APP || m.type() == raftpb::MSG_HEARTBEAT ||
               m.type() == raftpb::MSG_SNAP) {
      BecomeFollower(m.term(), m.from());
    } else {
      BecomeFollower(m.term(), 0);
    }
  } else if (m.term() < term_) {
    if ((check_quorum_ || pre_vote_) &&
        (m.type() == raftpb::MSG_HEARTBEAT || m.type() == raftpb::MSG_APP)) {
      // A stale leader (e.g. after a partition) learns our term and steps down; otherwise, with
      // CheckQuorum or PreVote, it could never learn it and this node could not rejoin.
      raftpb::Message resp;
      resp.set_to(m.from());
      resp.set_type(raftpb::MSG_APP_RESP);
      Send(std::move(resp));
    } else if (m.type() == raftpb::MSG_PRE_VOTE) {
      raftpb::Message resp;
      resp.set_to(m.from());
      resp.set_type(raftpb::MSG_PRE_VOTE_RESP);
      resp.set_term(term_);
      resp.set_reject(true);
      Send(std::move(resp));
    }
    return Status::Ok();
  }

  switch (m.type()) {
    case raftpb::MSG_HUP:
      Hup(pre_vote_ ? CampaignType::kPreElection : CampaignType::kElection);
      return Status::Ok();
    case raftpb::MSG_VOTE:
    case raftpb::MSG_PRE_VOTE:
      HandleVoteRequest(m);
      return Status::Ok();
    default:
      break;
  }
  switch (state_) {
    case StateType::kLeader:
      return StepLeader(m);
    case StateType::kCandidate:
    case StateType::kPreCandidate:
      return StepCandidate(m);
    case StateType::kFollower:
      return StepFollower(m);
  }
  return Status::Ok();
}

void Raft::Send(raftpb::Message m) {
  if (m.from() == 0) m.set_from(id_);
  const auto t = m.type();
  if (t == raftpb::MSG_VOTE || t == raftpb::MSG_VOTE_RESP || t == raftpb::MSG_PRE_VOTE ||
      t == raftpb::MSG_PRE_VOTE_RESP) {
    KVD_CHECK_MSG(m.term() != 0, "vote message without term");
  } else if (t != raftpb::MSG_PROP && t != raftpb::MSG_READ_INDEX) {
    // Proposals and read requests are forwarded without a term: they are valid in any term.
    m.set_term(term_);
  }
  msgs_.push_back(std::move(m));
}

// ---- Elections ---------------------------------------------------------------------------------

bool Raft::HasUnappliedConfChanges() const {
  if (log_.applied() >= log_.committed()) return false;
  for (const auto& e : log_.NextCommittedEntries()) {
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) return true;
  }
  return false;
}

void Raft::Hup(CampaignType t) {
  if (state_ == StateType::kLeader) return;
  if (!Promotable()) return;
  // A membership change committed but not applied could change who may vote: wait for it.
  if (HasUnappliedConfChanges()) {
    Log("not campaigning: unapplied configuration change");
    return;
  }
  Campaign(t);
}

void Raft::Campaign(CampaignType t) {
  if (!Promotable()) return;
  raftpb::MessageType vote_type;
  uint64_t term;
  if (t == CampaignType::kPreElection) {
    BecomePreCandidate();
    vote_type = raftpb::MSG_PRE_VOTE;
    term = term_ + 1;  // the term we would campaign in; not adopted yet
  } else {
    BecomeCandidate();
    vote_type = raftpb::MSG_VOTE;
    term = term_;
  }
  if (Poll(id_, true) == VoteResult::kWon) {
    // A single-voter configuration wins at once.
    if (t == CampaignType::kPreElection) {
      Campaign(CampaignType::kElection);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (uint64_t id : trk_.VoterIds()) {
    if (id == id_) continue;
    raftpb::Message m;
    m.set_to(id);
    m.set_term(term);
    m.set_type(vote_type);
    m.set_index(log_.LastIndex());
    m.set_log_term(log_.LastTerm());
    if (t == CampaignType::kTransfer) m.set_context(kTransferContext);
    Send(std::move(m));
  }
}

VoteResult Raft::Poll(uint64_t id, bool granted) {
  trk_.RecordVote(id, granted);
  int yes = 0, no = 0;
  return trk_.TallyVotes(&yes, &no);
}

void Raft::HandleVoteRequest(const raftpb::Message& m) {
  // We may vote for m.from if we already did in this term, or have voted for nobody and know no
  // leader; a pre-vote for a future term is always allowed (it changes nothing).
  const bool can_vote = vote_ == m.from() || (vote_ == 0 && lead_ == 0) ||
                        (m.type() == raftpb::MSG_PRE_VOTE && m.term() > term_);
#ifdef KVD_RAFT_BUG_VOTE_IGNORES_LOG
  const bool up_to_date = true;  // planted bug: no §5.4.1 election restriction
#else
  const bool up_to_date = log_.IsUpToDate(m.index(), m.log_term());
#endif
  raftpb::Message resp;
  resp.set_to(m.from());
  resp.set_type(VoteResponseType(m.type()));
  if (can_vote && up_to_date) {
    // Respond in the candidate's term: for a pre-vote it is ahead of ours.
    resp.set_term(m.term());
    if (m.type() == raftpb::MSG_VOTE) {
      election_elapsed_ = 0;
#ifndef KVD_RAFT_BUG_FORGET_VOTE
      vote_ = m.from();  // persisted (HardState) before the response is sent
#endif
    }
  } else {
    resp.set_term(term_);
    resp.set_reject(true);
  }
  Send(std::move(resp));
}

// ---- Membership --------------------------------------------------------------------------------

raftpb::ConfState Raft::ApplyConfChange(const raftpb::ConfChange& cc) {
  Changer changer(trk_, log_.LastIndex());
  TrackerConfig cfg;
  ProgressMap prs;
  Status s;
  bool auto_leave = false;
  std::vector<raftpb::ConfChangeSingle> changes(cc.changes().begin(), cc.changes().end());
  if (ConfChangeLeavesJoint(cc)) {
    s = changer.LeaveJoint(&cfg, &prs);
  } else if (ConfChangeEntersJoint(cc, &auto_leave)) {
    s = changer.EnterJoint(auto_leave, changes, &cfg, &prs);
  } else {
    s = changer.Simple(changes, &cfg, &prs);
  }
  if (!s.ok()) {
    // Every replica sees the same committed change against the same configuration, so an
    // invalid change is a deterministic no-op everywhere.
    Log("ignoring invalid configuration change: " + s.ToString());
    return trk_.ToConfState();
  }
  SwitchToConfig(std::move(cfg), std::move(prs));
  return trk_.ToConfState();
}

void Raft::SwitchToConfig(TrackerConfig cfg, ProgressMap prs) {
  trk_.config = std::move(cfg);
  trk_.progress = std::move(prs);
  auto self = trk_.progress.find(id_);
  const bool present = self != trk_.progress.end();
  is_learner_ = present && self->second.is_learner;
  if ((!present || is_learner_) && state_ == StateType::kLeader) {
    // This leader was removed (or demoted): hand over by stepping down; the others elect a new
    // leader once they stop hearing from it.
    if (step_down_on_removal_) BecomeFollower(term_, 0);
    return;
  }
  if (state_ != StateType::kLeader || trk_.config.voters.incoming.ids.empty()) return;
  // The quorum changed: the commit index may move; new members need entries.
  if (MaybeCommit()) {
    ReleasePendingReadIndexMessages();
    BroadcastAppend();
  } else {
    for (const auto& [id, pr] : trk_.progress) {
      if (id != id_) MaybeSendAppend(id, false);
    }
  }
  if (lead_transferee_ != 0 && !trk_.config.voters.AllIds().count(lead_transferee_)) {
    AbortLeaderTransfer();
  }
}

// ---- Driver feedback ---------------------------------------------------------------------------

void Raft::OnPersisted(uint64_t index, uint64_t term, uint64_t snapshot_index) {
  if (snapshot_index != 0) log_.StableSnapTo(snapshot_index);
  if (index != 0) log_.StableTo(index, term);
  if (state_ != StateType::kLeader) return;
  // The leader counts its own log toward commit only once it is durable (thesis §10.2.1).
  auto self = trk_.progress.find(id_);
  if (self == trk_.progress.end()) return;
  if (self->second.MaybeUpdate(log_.StableLastIndex()) && MaybeCommit()) {
    ReleasePendingReadIndexMessages();
    BroadcastAppend();
  }
}

void Raft::OnApplied(uint64_t applied_index, uint64_t applied_bytes) {
  if (applied_index != 0) log_.AppliedTo(applied_index);
  uncommitted_size_ = applied_bytes >= uncommitted_size_ ? 0 : uncommitted_size_ - applied_bytes;
  MaybeAutoLeaveJoint();
}

bool IsLocalMsg(raftpb::MessageType t) {
  return t == raftpb::MSG_HUP || t == raftpb::MSG_BEAT || t == raftpb::MSG_UNREACHABLE ||
         t == raftpb::MSG_SNAP_STATUS || t == raftpb::MSG_CHECK_QUORUM;
}

bool IsResponseMsg(raftpb::MessageType t) {
  return t == raftpb::MSG_APP_RESP || t == raftpb::MSG_VOTE_RESP ||
         t == raftpb::MSG_HEARTBEAT_RESP || t == raftpb::MSG_UNREACHABLE ||
         t == raftpb::MSG_PRE_VOTE_RESP;
}

}  // namespace kvd::raft
