#include "raft/raw_node.h"

#include "raft/raft.h"

namespace kvd::raft {
namespace {

bool SameHardState(const raftpb::HardState& a, const raftpb::HardState& b) {
  return a.term() == b.term() && a.vote() == b.vote() && a.commit() == b.commit();
}

raftpb::Message LocalMessage(raftpb::MessageType type, uint64_t from = 0) {
  raftpb::Message m;
  m.set_type(type);
  m.set_from(from);
  return m;
}

}  // namespace

RawNode::RawNode(std::unique_ptr<Raft> raft) : raft_(std::move(raft)) {
  prev_soft_ = raft_->soft_state();
  prev_hard_ = raft_->hard_state();
}

RawNode::~RawNode() = default;

Status RawNode::Create(const Config& config, std::unique_ptr<RawNode>* out) {
  std::unique_ptr<Raft> raft;
  Status s = Raft::Create(config, &raft);
  if (!s.ok()) return s;
  out->reset(new RawNode(std::move(raft)));
  return Status::Ok();
}

uint64_t RawNode::id() const { return raft_->id(); }

void RawNode::Tick() { raft_->Tick(); }

Status RawNode::Campaign() { return raft_->Step(LocalMessage(raftpb::MSG_HUP)); }

Status RawNode::Propose(std::string data) {
  raftpb::Message m = LocalMessage(raftpb::MSG_PROP, raft_->id());
  m.add_entries()->set_data(std::move(data));
  return raft_->Step(std::move(m));
}

Status RawNode::ProposeConfChange(const raftpb::ConfChange& cc) {
  raftpb::Message m = LocalMessage(raftpb::MSG_PROP, raft_->id());
  raftpb::Entry* e = m.add_entries();
  e->set_type(raftpb::ENTRY_CONF_CHANGE);
  e->set_data(cc.SerializeAsString());
  return raft_->Step(std::move(m));
}

raftpb::ConfState RawNode::ApplyConfChange(const raftpb::ConfChange& cc) {
  return raft_->ApplyConfChange(cc);
}

Status RawNode::Step(raftpb::Message m) {
  if (IsLocalMsg(m.type())) {
    return Status::Error(Code::kStepLocalMsg, "local message type from the network");
  }
  if (IsResponseMsg(m.type()) && !raft_->tracker().progress.count(m.from())) {
    return Status::Error(Code::kStepPeerNotFound, "response from a node not in the config");
  }
  return raft_->Step(std::move(m));
}

Status RawNode::ReadIndex(std::string request_ctx) {
  raftpb::Message m = LocalMessage(raftpb::MSG_READ_INDEX);
  m.set_context(std::move(request_ctx));
  return raft_->Step(std::move(m));
}

Status RawNode::TransferLeader(uint64_t transferee) {
  return raft_->Step(LocalMessage(raftpb::MSG_TRANSFER_LEADER, transferee));
}

void RawNode::ReportUnreachable(uint64_t id) {
  (void)raft_->Step(LocalMessage(raftpb::MSG_UNREACHABLE, id));
}

void RawNode::ReportSnapshot(uint64_t id, bool failed) {
  raftpb::Message m = LocalMessage(raftpb::MSG_SNAP_STATUS, id);
  m.set_reject(failed);
  (void)raft_->Step(std::move(m));
}

bool RawNode::HasReady() const {
  const RaftLog& log = raft_->log();
  return raft_->soft_state() != prev_soft_ || !SameHardState(raft_->hard_state(), prev_hard_) ||
         log.UnstableSnapshot() || !log.UnstableEntries().empty() ||
         log.HasNextCommittedEntries() || raft_->HasMessagesOrReads() ||
         raft_->HasUnsentReadRound();
}

Ready RawNode::GetReady() {
  raft_->FlushReadIndex();
  Ready rd;
  const SoftState soft = raft_->soft_state();
  if (soft != prev_soft_) {
    rd.soft_state = soft;
    prev_soft_ = soft;
  }
  const raftpb::HardState hard = raft_->hard_state();
  if (!SameHardState(hard, prev_hard_)) {
    rd.must_sync = hard.term() != prev_hard_.term() || hard.vote() != prev_hard_.vote();
    rd.hard_state = hard;
    prev_hard_ = hard;
  }
  const RaftLog& log = raft_->log();
  if (log.UnstableSnapshot()) {
    rd.snapshot = *log.UnstableSnapshot();
    rd.must_sync = true;
  }
  rd.entries = log.UnstableEntries();
  if (!rd.entries.empty()) rd.must_sync = true;
  rd.committed_entries = log.NextCommittedEntries();
  rd.messages = raft_->TakeMessages();
  rd.read_states = raft_->TakeReadStates();
  return rd;
}

void RawNode::Advance(const Ready& rd) {
  uint64_t last_index = 0, last_term = 0;
  if (!rd.entries.empty()) {
    last_index = rd.entries.back().index();
    last_term = rd.entries.back().term();
  }
  const uint64_t snapshot_index = rd.snapshot ? rd.snapshot->metadata().index() : 0;
  raft_->OnPersisted(last_index, last_term, snapshot_index);
  uint64_t applied = snapshot_index, applied_bytes = 0;
  if (!rd.committed_entries.empty()) {
    applied = rd.committed_entries.back().index();
    for (const auto& e : rd.committed_entries) applied_bytes += e.data().size();
  }
  raft_->OnApplied(applied, applied_bytes);
}

NodeStatus RawNode::GetStatus() const {
  NodeStatus st = GetBasicStatus();
  if (raft_->state() == StateType::kLeader) {
    for (const auto& [id, pr] : raft_->tracker().progress) {
      st.progress[id] = ProgressStatus{pr.match,         pr.next,       ProgressStateName(pr.state),
                                       pr.recent_active, pr.is_learner, pr.inflights.Count()};
    }
  }
  return st;
}

NodeStatus RawNode::GetBasicStatus() const {
  NodeStatus st;
  st.id = raft_->id();
  st.hard_state = raft_->hard_state();
  st.soft_state = raft_->soft_state();
  st.applied = raft_->log().applied();
  st.last_index = raft_->log().LastIndex();
  st.first_index = raft_->log().FirstIndex();
  st.lead_transferee = raft_->lead_transferee();
  st.config = raft_->tracker().ToConfState();
  return st;
}

}  // namespace kvd::raft
