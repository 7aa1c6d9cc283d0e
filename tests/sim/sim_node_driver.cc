// The driver half of SimNode: Ready handling, persistence, apply, snapshots (see sim_node.h).
#include "raft/check.h"
#include "tests/sim/sim_node.h"

namespace kvd::sim {

namespace {

bool LeaderMaySendEarly(raftpb::MessageType t) {
  return t == raftpb::MSG_APP || t == raftpb::MSG_SNAP || t == raftpb::MSG_HEARTBEAT;
}

std::string NodeName(uint64_t id) { return "n" + std::to_string(id); }

}  // namespace

void SimNode::HandleReady() {
  pending_ready_ = raw_->GetReady();
  const raft::Ready& rd = *pending_ready_;
  const bool was_leader = soft_.state == raft::StateType::kLeader;
  if (rd.soft_state) soft_ = *rd.soft_state;
  if (rd.hard_state) term_ = rd.hard_state->term();
  host_.trace().Record("ready", id_, term_, rd.hard_state ? rd.hard_state->commit() : 0,
                       rd.entries.size(), rd.committed_entries.size(),
                       raft::StateName(soft_.state));
  Invariants& inv = host_.invariants();
  CheckReadyContract(rd);
  if (soft_.state == raft::StateType::kLeader) {
    inv.ObserveLeader(id_, term_, *this);
    if (!was_leader) host_.OnLeaderElected(id_, term_);
  }
  if (rd.hard_state) {
    const uint64_t commit = rd.hard_state->commit();
    if (was_leader && soft_.state == raft::StateType::kLeader && term_ == last_term_ &&
        commit > last_commit_) {
      inv.ObserveLeaderCommitAdvance(term_, commit, *this);
    }
    inv.ObserveCommit(term_, commit, *this, &commit_checked_);
    last_commit_ = commit;
  }
  last_term_ = term_;

  deferred_.clear();
  bool leader = soft_.state == raft::StateType::kLeader;
  for (const raftpb::Message& m : rd.messages) {
    if (leader && LeaderMaySendEarly(m.type())) {
      SendNow(m);
    } else {
      deferred_.push_back(m);
    }
  }
  if (!rd.must_sync) {
    FinishReady();
    return;
  }
  busy_ = true;
  uint64_t incarnation = incarnation_;
  host_.After(host_.DrawFsyncDelay(), [this, incarnation] {
    if (incarnation != incarnation_ || !up_) return;  // crashed meanwhile: the write is lost
    host_.trace().Record("fsync", id_, pending_ready_->entries.size());
    FinishReady();
    Pump();
  });
}

// What the driver relies on: Ready.entries are contiguous and extend the log without a gap.
void SimNode::CheckReadyContract(const raft::Ready& rd) {
  if (rd.entries.empty()) return;
  const uint64_t base = rd.snapshot ? rd.snapshot->metadata().index() : storage_.LastIndex();
  bool ok = rd.entries.front().index() <= base + 1;
  for (size_t i = 1; i < rd.entries.size(); ++i) {
    ok = ok && rd.entries[i].index() == rd.entries[i - 1].index() + 1;
  }
  if (!ok) {
    host_.invariants().Fail(
        NodeName(id_) + ": Ready entries [" + std::to_string(rd.entries.front().index()) + ".." +
        std::to_string(rd.entries.back().index()) + "] (" + std::to_string(rd.entries.size()) +
        " entries) are not contiguous after the durable log ending at " + std::to_string(base));
  }
}

void SimNode::FinishReady() {
  const raft::Ready& rd = *pending_ready_;
  Persist(rd);
  for (raftpb::Message& m : deferred_) SendNow(std::move(m));
  deferred_.clear();
  if (rd.snapshot) RestoreSnapshot(*rd.snapshot);
  for (const raftpb::Entry& e : rd.committed_entries) ApplyEntry(e);
  for (const raft::ReadState& rs : rd.read_states) {
    auto it = pending_reads_.find(rs.request_ctx);
    host_.trace().Record("read-state", id_, rs.index, it != pending_reads_.end(), 0, 0,
                         rs.request_ctx);
    if (it == pending_reads_.end() || it->second.has_index) continue;
    it->second.has_index = true;
    it->second.index = rs.index;
  }
  raw_->Advance(rd);
  pending_ready_.reset();
  busy_ = false;
  ServeReads();
  MaybeSnapshot();
}

void SimNode::Persist(const raft::Ready& rd) {
  Invariants& inv = host_.invariants();
  if (rd.snapshot) {
    raft::Status s = storage_.ApplySnapshot(*rd.snapshot);
    if (!s.ok() && s.code() != raft::Code::kSnapOutOfDate) {
      inv.Fail(NodeName(id_) + ": ApplySnapshot: " + s.ToString());
    }
    inv.ObserveSnapshot(id_, rd.snapshot->metadata().index(), rd.snapshot->metadata().term(),
                        rd.snapshot->data());
  }
  if (!rd.entries.empty()) {
    uint64_t prev_term = 0;
    bool prev_known = storage_.Term(rd.entries.front().index() - 1, &prev_term).ok();
    raft::Status s = storage_.Append(rd.entries);
    if (!s.ok()) {
      inv.Fail(NodeName(id_) + ": Append at " + std::to_string(rd.entries.front().index()) +
               " (storage last " + std::to_string(storage_.LastIndex()) + "): " + s.ToString());
    }
    inv.ObservePersisted(*this, rd.entries, prev_known, prev_term);
  }
  if (rd.hard_state) storage_.SetHardState(*rd.hard_state);
}

void SimNode::SendNow(raftpb::Message m) {
  const raftpb::HardState& hs = storage_.hard_state();
  host_.invariants().ObserveSend(m, hs.term(), hs.vote(), storage_.LastIndex());
  host_.Send(std::move(m));
}

void SimNode::ApplyEntry(const raftpb::Entry& e) {
  if (e.index() != applied_ + 1) {
    host_.invariants().Fail(NodeName(id_) + ": applying entry " + std::to_string(e.index()) +
                            " after " + std::to_string(applied_));
    return;
  }
  host_.invariants().ObserveApplied(id_, e);
  applied_ = e.index();
  if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
    raftpb::ConfChange cc;
    if (!cc.ParseFromString(e.data())) {
      host_.invariants().Fail(NodeName(id_) + ": undecodable ConfChange at " +
                              std::to_string(e.index()));
      return;
    }
    conf_state_ = raw_->ApplyConfChange(cc);
    // Snapshot soon: a node added by this change can only install a snapshot that includes it
    // (the core ignores older ones), and the leader always sends the latest one.
    snapshot_due_ = true;
    host_.trace().Record("apply-conf", id_, e.index(), 0, 0, 0, conf_state_.ShortDebugString());
    host_.OnConfChangeApplied(id_, e.index(), conf_state_);
    return;
  }
  Command cmd;
  if (!DecodeCommand(e.data(), &cmd)) return;  // leader no-op or a refused ConfChange
  ApplyResult r = sm_.Apply(cmd);
  auto it = pending_writes_.find({cmd.client, cmd.op});
  if (it == pending_writes_.end()) return;
  OpDone done = std::move(it->second);
  pending_writes_.erase(it);
  OpResult result;
  result.status = r.duplicate ? OpResult::Status::kLost : OpResult::Status::kOk;
  result.cas_ok = r.cas_ok;
  result.index = e.index();
  done(result);
}

void SimNode::RestoreSnapshot(const raftpb::Snapshot& snap) {
  if (snap.metadata().index() <= applied_) return;
  if (!sm_.Restore(snap.data())) {
    host_.invariants().Fail(NodeName(id_) + ": received snapshot does not decode");
    return;
  }
  applied_ = snap.metadata().index();
  last_snapshot_index_ = applied_;
  conf_state_ = snap.metadata().conf_state();
  host_.trace().Record("install-snapshot", id_, applied_, snap.metadata().term());
}

void SimNode::ServeReads() {
  for (auto it = pending_reads_.begin(); it != pending_reads_.end();) {
    if (!it->second.has_index || it->second.index > applied_) {
      ++it;
      continue;
    }
    OpResult result;
    result.status = OpResult::Status::kOk;
    result.value = sm_.Get(it->second.key);
    result.index = it->second.index;
    OpDone done = std::move(it->second.done);
    it = pending_reads_.erase(it);
    done(result);
  }
}

void SimNode::MaybeSnapshot() {
  const bool interval_reached = options_.snapshot_interval > 0 &&
                                applied_ >= last_snapshot_index_ + options_.snapshot_interval;
  if (!interval_reached && !snapshot_due_) return;
  snapshot_due_ = false;
  std::string data = sm_.Serialize();
  uint64_t term = 0;
  raft::Status s = storage_.Term(applied_, &term);
  if (s.ok()) s = storage_.CreateSnapshot(applied_, conf_state_, data);
  if (!s.ok()) {
    if (s.code() != raft::Code::kSnapOutOfDate) {
      host_.invariants().Fail(NodeName(id_) + ": CreateSnapshot: " + s.ToString());
    }
    return;
  }
  host_.invariants().ObserveSnapshot(id_, applied_, term, data);
  last_snapshot_index_ = applied_;
  if (applied_ > options_.keep_entries + 1) {
    uint64_t compact = applied_ - options_.keep_entries;
    if (compact > storage_.FirstIndex()) {
      s = storage_.Compact(compact);
      if (!s.ok() && s.code() != raft::Code::kCompacted) {
        host_.invariants().Fail(NodeName(id_) + ": Compact: " + s.ToString());
      }
    }
  }
  host_.trace().Record("snapshot", id_, applied_, storage_.FirstIndex());
}

LogLookup SimNode::TermAt(uint64_t index, uint64_t* term) const {
  if (pending_ready_) {
    const raft::Ready& rd = *pending_ready_;
    if (!rd.entries.empty() && index >= rd.entries.front().index()) {
      for (const raftpb::Entry& e : rd.entries) {  // no contiguity assumed: see CheckReadyContract
        if (e.index() != index) continue;
        *term = e.term();
        return LogLookup::kFound;
      }
      return LogLookup::kMissing;
    }
    if (rd.snapshot) {
      const raftpb::SnapshotMetadata& meta = rd.snapshot->metadata();
      if (index > meta.index()) return LogLookup::kMissing;
      if (index < meta.index()) return LogLookup::kCompacted;
      *term = meta.term();
      return LogLookup::kFound;
    }
  }
  if (index + 1 < storage_.FirstIndex()) return LogLookup::kCompacted;
  if (index > storage_.LastIndex()) return LogLookup::kMissing;
  return storage_.Term(index, term).ok() ? LogLookup::kFound : LogLookup::kMissing;
}

}  // namespace kvd::sim
