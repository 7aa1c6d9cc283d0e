// One driver round of NodeCore (node_core.h): where the node's disks and network meet Raft.
// Each step is a function of its own; ProcessReadies() runs them in order.
#include <chrono>
#include <ctime>

#include "kv/db_util.h"
#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

void CoreImpl::SendMessages(std::vector<Work>& work, const MessageFilter& pick) {
  std::map<uint64_t, kvpb::PeerBatch> frames;  // one frame per destination node, all shards
  for (auto& w : work) {
    auto& msgs = w.rd.messages;
    auto keep = msgs.begin();
    for (auto it = msgs.begin(); it != msgs.end(); ++it) {
      if (!pick(*w.r, w.rd, *it)) {
        if (keep != it) *keep = std::move(*it);
        ++keep;
      } else if (it->type() == raftpb::MSG_SNAP) {
        SendSnapshot(*w.r, std::move(*it));  // streamed in chunks of its own
      } else {
        auto* sm = frames[it->to()].add_messages();
        sm->set_shard(w.r->shard);
        *sm->mutable_message() = std::move(*it);
      }
    }
    msgs.erase(keep, msgs.end());
  }
  Transport* t = transport;
  for (auto& [to, f] : frames) {
    f.set_from_node(cfg.node_id);
    f.set_to_node(to);
    counters.messages_sent += f.messages_size();
    std::set<uint64_t> shards;
    for (const auto& sm : f.messages()) shards.insert(sm.shard());
    if (t == nullptr || !t->Send(std::move(f))) {
      counters.frames_dropped++;
      for (uint64_t shard : shards) deferred.push_back({shard, to, false, true});
    }
  }
}

bool CoreImpl::ProcessReadies() {
  std::vector<Work> work;
  for (auto& [shard, r] : replicas) {
    if (r->raw->HasReady()) work.push_back({r.get(), r->raw->GetReady()});
  }
  if (work.empty()) return false;
  counters.rounds++;
  for (const auto& w : work) {
    // Busy: not a candidate for quiescence (node_quiesce.cc; applied commands count in apply).
    if (!w.rd.read_states.empty() || w.rd.snapshot) w.r->idle_ticks = 0;
  }
  RoundPhases phases(Clock::now());
  InstallSnapshots(work);
  phases.Mark("installing a snapshot");
  SendEarly(work);
  phases.Mark("sending appends");
  phases.entries_written = PersistReadies(work);
  phases.Mark("writing the log");
  // Everything else goes out once what it depends on is durable.
  SendMessages(work,
               [](const Replica&, const raft::Ready&, const raftpb::Message&) { return true; });
  phases.Mark("sending");
  ApplyAndAnswer(work);
  ReportDeferred();
  for (const auto& w : work) phases.entries_applied += w.rd.committed_entries.size();
  phases.Mark("applying and answering");
  for (auto& w : work) MaybeCompact(*w.r);
  phases.Mark("compacting");
  LogIfSlow(phases);
  if (std::any_of(work.begin(), work.end(), [](const Work& w) { return w.rd.soft_state; })) {
    RefreshStatus();
  }
  for (auto& [shard, r] : replicas) {
    if (r->raw->HasReady()) return true;
  }
  return false;
}

void CoreImpl::InstallSnapshots(std::vector<Work>& work) {
  // An incoming snapshot replaces the state machine first (kvdb, synced), so that a crash can
  // never leave raftdb claiming a snapshot whose data kvdb lacks. (A crash right after leaves
  // kvdb ahead of raftdb; NodeCore::Open reconciles that.)
  bool installed = false;
  for (auto& w : work) {
    if (!w.rd.snapshot) {
      w.r->accepted.clear();  // Raft did not take the image moved aside for it, nor ever will
      continue;
    }
    InstallAcceptedSnapshot(*w.r, *w.rd.snapshot);
    installed = true;
  }
  if (installed) Crash(CrashPoint::kAfterSnapshotInstall);
}

void CoreImpl::SendEarly(std::vector<Work>& work) {
  // A leader's appends and heartbeats do not depend on its own log being durable (the leader
  // counts itself toward commit only after Advance): send them now, so followers persist in
  // parallel with our fsync (Raft thesis 10.2.1). Not when this Ready changes the term or the
  // vote (raw_node.h): those messages carry a term that must be durable first.
  SendMessages(work, [](const Replica& r, const raft::Ready& rd, const raftpb::Message& m) {
    const auto state = rd.soft_state ? rd.soft_state->state : r.soft.state;
    if (state != raft::StateType::kLeader) return false;
    if (m.type() != raftpb::MSG_APP && m.type() != raftpb::MSG_HEARTBEAT) return false;
    const raftpb::HardState& durable = r.log->hard_state();
    return !rd.hard_state ||
           (rd.hard_state->term() == durable.term() && rd.hard_state->vote() == durable.vote());
  });
}

uint64_t CoreImpl::PersistReadies(std::vector<Work>& work) {
  // Group commit: every shard's snapshot point, entries and hard state in one synced batch.
  leveldb::WriteBatch batch;
  bool sync = false;
  uint64_t entries = 0;
  for (auto& w : work) {
    if (w.rd.snapshot) w.r->log->StageSnapshot(w.rd.snapshot->metadata(), &batch);
    if (!w.rd.entries.empty()) {
      w.r->log->StageEntries(w.rd.entries, &batch);
      entries += w.rd.entries.size();
      NoteOwnSlots(*w.r, w.rd.entries);
    }
    if (w.rd.hard_state) w.r->log->StageHardState(*w.rd.hard_state, &batch);
    sync = sync || w.rd.must_sync;
  }
  if (batch.ApproximateSize() <= 12) return entries;  // 12 bytes: an empty batch's header
  const auto start = Clock::now();
  raft::Status s = raftdb->Write(&batch, sync);
  // Acknowledging anything after a failed log write could lose acknowledged data: stop.
  KVD_CHECK_MSG(s.ok(), "raft log write failed: " << s.ToString());
  if (sync) {
    counters.fsyncs++;
    counters.fsync_micros +=
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
  }
  counters.persisted_entries += entries;
  for (auto& w : work) w.r->log->Committed();
  Crash(CrashPoint::kAfterLogWrite);
  return entries;
}

void CoreImpl::NoteOwnSlots(Replica& r, const std::vector<raftpb::Entry>& entries) {
  // Learn the log slot of our own pending writes, to fail them cleanly if it is overwritten.
  kvpb::Command cmd;
  for (const auto& e : entries) {
    if (e.type() != raftpb::ENTRY_NORMAL || e.data().empty()) continue;
    if (!DecodeCommand(e.data(), &cmd) || cmd.proposer_node() != cfg.node_id) continue;
    auto it = writes.find(cmd.request_id());
    if (it == writes.end()) continue;
    it->second.index = e.index();
    r.slot_to_request[e.index()] = cmd.request_id();
  }
}

void CoreImpl::ApplyAndAnswer(std::vector<Work>& work) {
  // Every shard's committed entries go into ONE kvdb batch (one LevelDB write, not one per
  // shard); nothing is answered or served until it is written.
  leveldb::WriteBatch batch;
  std::vector<std::vector<AppliedCommand>> results(work.size());
  bool applied = false;
  for (size_t i = 0; i < work.size(); ++i) {
    Work& w = work[i];
    if (w.rd.soft_state) ObserveSoftState(*w.r, *w.rd.soft_state);
    if (w.rd.committed_entries.empty()) continue;
    StageCommitted(*w.r, w.rd.committed_entries, &batch, &results[i]);
    applied = true;
  }
  if (applied) {
    raft::Status s = FromLevelDb(kvdb->db()->Write(leveldb::WriteOptions(), &batch), "kvdb apply");
    KVD_CHECK_MSG(s.ok(), "apply failed: " << s.ToString());
    for (auto& w : work) w.r->sm->CommitStaged();
  }
  for (size_t i = 0; i < work.size(); ++i) {
    Work& w = work[i];
    Replica& r = *w.r;
    if (!w.rd.committed_entries.empty()) AnswerCommitted(r, w.rd.committed_entries, results[i]);
    for (const auto& rs : w.rd.read_states) {
      auto it = reads.find(RequestIdFromContext(rs.request_ctx));
      if (it == reads.end()) continue;
      it->second.has_index = true;
      it->second.read_index = rs.index;
    }
    r.applied_index = r.sm->applied().index();
    ServeReads(r);
    r.raw->Advance(w.rd);
  }
  if (applied) Crash(CrashPoint::kAfterApply);
}

void CoreImpl::ObserveSoftState(Replica& r, const raft::SoftState& soft) {
  if (soft.lead != r.soft.lead) {
    counters.leader_changes++;
    // Reads waiting for a leadership confirmation from the old leader never get one.
    for (auto it = reads.begin(); it != reads.end();) {
      if (it->second.shard == r.shard && !it->second.has_index) {
        counters.reads_failed++;
        it->second.Fail(ErrorCode::kUnavailable, "leader changed; retry");
        it = reads.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (soft.state == raft::StateType::kLeader && r.soft.state != raft::StateType::kLeader) {
    r.last_clock_proposal_ms = 0;  // a new leader stamps its clock at its first tick
    r.last_report_tick = 0;        // and reports itself to the meta shard
    r.leader_since_tick = ticks;
  }
  r.soft = soft;
  if (cfg.log) {
    cfg.log("shard " + std::to_string(r.shard) + ": " + raft::StateName(r.soft.state) + ", term " +
            std::to_string(r.raw->GetStatus().hard_state.term()) + ", leader " +
            (r.soft.lead != 0 ? "n" + std::to_string(r.soft.lead) : "unknown"));
  }
}

void CoreImpl::ReportDeferred() {
  for (const auto& d : deferred) {
    Replica& r = *replicas.at(d.shard);
    if (d.snapshot) {
      r.raw->ReportSnapshot(d.node, d.failed);
    } else {
      r.raw->ReportUnreachable(d.node);
    }
  }
  deferred.clear();
}

namespace {

int64_t ThreadCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
}

}  // namespace

RoundPhases::RoundPhases(std::chrono::steady_clock::time_point now)
    : start(now), last(now), cpu_start_micros(ThreadCpuMicros()) {}

int64_t RoundPhases::CpuMicros() const { return ThreadCpuMicros() - cpu_start_micros; }

void RoundPhases::Mark(const char* phase) {
  const auto now = std::chrono::steady_clock::now();
  if (marks < micros.size()) {
    micros[marks++] = {phase,
                       std::chrono::duration_cast<std::chrono::microseconds>(now - last).count()};
  }
  last = now;
}

void CoreImpl::LogIfSlow(const RoundPhases& phases) {
  // Half an election timeout without ticking or answering peers risks needless elections.
  const int64_t micros =
      std::chrono::duration_cast<std::chrono::microseconds>(phases.last - phases.start).count();
  if (!cfg.log || micros < int64_t{500} * cfg.tick_ms * cfg.election_ticks) return;
  std::string line = "slow round: " + std::to_string(micros / 1000) + " ms (";
  for (size_t i = 0; i < phases.marks; ++i) {
    line += std::string(i ? ", " : "") + phases.micros[i].first + " " +
            std::to_string(phases.micros[i].second / 1000) + " ms";
  }
  cfg.log(line + "; " + std::to_string(phases.entries_written) + " entries written, " +
          std::to_string(phases.entries_applied) + " applied; on CPU " +
          std::to_string(phases.CpuMicros() / 1000) + " ms)");
}

}  // namespace kvd::kv
