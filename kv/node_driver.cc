// The driver loop of kv::Node: the only place where the node's threads, clock, disks and network
// meet Raft (STYLE.md 2). See node.h for the round structure and the outcome rules.
#include <chrono>
#include <ctime>

#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

using Clock = std::chrono::steady_clock;

WriteResponse ToWriteResponse(uint64_t shard, const kvpb::Result& r) {
  WriteResponse resp;
  resp.shard = shard;
  resp.version = r.version();
  resp.revision = r.revision();
  resp.deleted = r.deleted();
  resp.current_version = r.current_version();
  switch (r.code()) {
    case kvpb::RESULT_OK:
      resp.code = ErrorCode::kOk;
      break;
    case kvpb::RESULT_VERSION_MISMATCH:
      resp.code = ErrorCode::kVersionMismatch;
      resp.message = "version mismatch";
      break;
    default:
      resp.code = ErrorCode::kInvalidArgument;
      resp.message = "command rejected by the state machine";
  }
  return resp;
}

}  // namespace

int64_t Node::Impl::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

void Node::Impl::Run() {
  const auto tick = std::chrono::milliseconds(cfg.tick_ms);
  auto next_tick = Clock::now() + tick;
  bool more_ready = false;
  std::vector<Input> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu);
      if (!more_ready) {
        cv.wait_until(lock, next_tick, [&] { return stopping || !inbox.empty(); });
      }
      if (stopping) break;
      batch.swap(inbox);
    }
    for (auto& in : batch) HandleInput(in);
    batch.clear();
    if (Clock::now() >= next_tick) {
      Tick();
      next_tick += tick;
      if (next_tick < Clock::now()) next_tick = Clock::now() + tick;  // fell behind: no bursts
    }
    more_ready = ProcessReadies();
  }
  FailAll();
}

void Node::Impl::HandleInput(Input& in) {
  if (auto* b = std::get_if<kvpb::PeerBatch>(&in)) {
    HandleBatch(*b);
  } else if (auto* w = std::get_if<WriteInput>(&in)) {
    HandleWrite(*w);
  } else {
    HandleRead(std::get<ReadInput>(in));
  }
}

void Node::Impl::HandleBatch(kvpb::PeerBatch& batch) {
  if (batch.has_snapshot_chunk()) {
    auto it = replicas.find(batch.snapshot_chunk().shard());
    if (it != replicas.end()) StageChunk(*it->second, batch.snapshot_chunk());
  }
  for (auto& sm : *batch.mutable_messages()) {
    auto it = replicas.find(sm.shard());
    if (it == replicas.end()) continue;  // not a replica of this shard here
    Replica& r = *it->second;
    if (sm.message().type() == raftpb::MSG_SNAP && !SnapshotReady(r, sm.message())) continue;
    (void)r.raw->Step(std::move(*sm.mutable_message()));  // unknown peers are ignored
  }
}

bool Node::Impl::LeaderUnreachable(const Replica& r) const {
  // A follower would forward the request to a leader it cannot reach (say, one that just died);
  // the request would be lost and its outcome unknown. Refusing now applies nothing: the client
  // retries, by then against a new leader.
  Transport* t = transport.load();
  return r.soft.lead != 0 && r.soft.lead != cfg.node_id && t != nullptr &&
         !t->Reachable(r.soft.lead);
}

void Node::Impl::HandleWrite(WriteInput& in) {
  const uint64_t shard = ShardForKey(cfg.shards, in.req.key);
  Replica& r = *replicas.at(shard);
  if (writes.size() + reads.size() >= cfg.max_pending_requests) {
    counters.overloaded++;
    in.done(WriteError(ErrorCode::kOverloaded, "too many requests in flight", shard));
    return;
  }
  if (LeaderUnreachable(r)) {
    counters.writes_failed++;
    in.done(WriteError(ErrorCode::kUnavailable, "the leader is unreachable; retry", shard));
    return;
  }
  const uint64_t id = next_request_id++;
  kvpb::Command cmd;
  cmd.set_format(1);
  cmd.set_client_id(in.req.client_id);
  cmd.set_seq(in.req.seq);
  cmd.set_leader_time_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count());
  cmd.set_proposer_node(cfg.node_id);
  cmd.set_request_id(id);
  if (in.req.is_delete) {
    auto* d = cmd.mutable_delete_();
    d->set_key(in.req.key);
    d->set_has_if_version(in.req.if_version.has_value());
    d->set_if_version(in.req.if_version.value_or(0));
  } else {
    auto* p = cmd.mutable_put();
    p->set_key(in.req.key);
    p->set_value(std::move(in.req.value));
    p->set_has_if_version(in.req.if_version.has_value());
    p->set_if_version(in.req.if_version.value_or(0));
  }
  raft::Status s = r.raw->Propose(EncodeCommand(cmd));
  if (!s.ok()) {
    counters.writes_failed++;
    in.done(WriteError(ErrorCode::kUnavailable, "no leader: " + s.message(), shard));
    return;
  }
  counters.proposals++;
  if (AckOnPropose()) {
    in.done(WriteResponse{ErrorCode::kOk, "", shard});
    return;
  }
  writes[id] = PendingWrite{shard, std::move(in.done), NowMs() + cfg.request_timeout_ms, 0};
}

void Node::Impl::HandleRead(ReadInput& in) {
  PendingRead& read = in.read;
  Replica& r = *replicas.at(read.shard);
  auto fail = [&](ErrorCode code, const std::string& why) {
    counters.reads_failed++;
    if (read.is_scan) {
      read.scan_done(ScanError(code, why));
    } else {
      read.get_done(ReadError(code, why, read.shard));
    }
  };
  if (writes.size() + reads.size() >= cfg.max_pending_requests) {
    counters.overloaded++;
    return fail(ErrorCode::kOverloaded, "too many requests in flight");
  }
  if (LeaderUnreachable(r))
    return fail(ErrorCode::kUnavailable, "the leader is unreachable; retry");
  const uint64_t id = next_request_id++;
  raft::Status s = r.raw->ReadIndex(RequestContext(id));
  if (!s.ok()) return fail(ErrorCode::kUnavailable, "no leader: " + s.message());
  counters.reads_linearizable++;
  read.deadline_ms = NowMs() + cfg.request_timeout_ms;
  reads.emplace(id, std::move(read));
}

void Node::Impl::Tick() {
  ++ticks;
  for (auto& [shard, r] : replicas) {
    r->raw->Tick();
    RetryStuckSnapshots(*r);
  }
  ExpireRequests();
  RefreshStatus();
}

void Node::Impl::SendMessages(std::vector<Work>& work, const MessageFilter& pick) {
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
  Transport* t = transport.load();
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

bool Node::Impl::ProcessReadies() {
  std::vector<Work> work;
  for (auto& [shard, r] : replicas) {
    if (r->raw->HasReady()) work.push_back({r.get(), r->raw->GetReady()});
  }
  if (work.empty()) return false;
  counters.rounds++;
  RoundPhases phases(Clock::now());

  // 1. An incoming snapshot replaces the state machine first (kvdb, synced), so that a crash can
  //    never leave raftdb claiming a snapshot whose data kvdb lacks.
  for (auto& w : work) {
    if (w.rd.snapshot) InstallStagedSnapshot(*w.r, *w.rd.snapshot);
  }
  phases.Mark("installing a snapshot");
  // 2. A leader's appends and heartbeats do not depend on its own log being durable (the leader
  //    counts itself toward commit only after Advance): send them now, so followers persist in
  //    parallel with our fsync (Raft thesis §10.2.1).
  SendMessages(work, [](const Replica& r, const raft::Ready& rd, const raftpb::Message& m) {
    const auto state = rd.soft_state ? rd.soft_state->state : r.soft.state;
    return state == raft::StateType::kLeader &&
           (m.type() == raftpb::MSG_APP || m.type() == raftpb::MSG_HEARTBEAT);
  });
  phases.Mark("sending appends");
  // 3. Group commit: every shard's snapshot point, entries and hard state in one synced batch.
  leveldb::WriteBatch batch;
  bool sync = false;
  uint64_t entries = 0;
  for (auto& w : work) {
    if (w.rd.snapshot) w.r->log->StageSnapshot(w.rd.snapshot->metadata(), &batch);
    if (!w.rd.entries.empty()) {
      w.r->log->StageEntries(w.rd.entries, &batch);
      entries += w.rd.entries.size();
      // Learn the log slot of our own pending writes, to fail them cleanly if it is overwritten.
      kvpb::Command cmd;
      for (const auto& e : w.rd.entries) {
        if (e.type() != raftpb::ENTRY_NORMAL || e.data().empty()) continue;
        if (!DecodeCommand(e.data(), &cmd) || cmd.proposer_node() != cfg.node_id) continue;
        auto it = writes.find(cmd.request_id());
        if (it == writes.end()) continue;
        it->second.index = e.index();
        w.r->slot_to_request[e.index()] = cmd.request_id();
      }
    }
    if (w.rd.hard_state) w.r->log->StageHardState(*w.rd.hard_state, &batch);
    sync = sync || w.rd.must_sync;
  }
  if (batch.ApproximateSize() > 12) {  // 12 bytes: an empty batch's header
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
  }
  phases.entries_written = entries;
  phases.Mark("writing the log");
  // 4. Everything else goes out once what it depends on is durable.
  SendMessages(work,
               [](const Replica&, const raft::Ready&, const raftpb::Message&) { return true; });
  phases.Mark("sending");
  // 5. Apply, answer, advance.
  for (auto& w : work) {
    Replica& r = *w.r;
    if (w.rd.soft_state) {
      if (w.rd.soft_state->lead != r.soft.lead) {
        counters.leader_changes++;
        // Reads waiting for a leadership confirmation from the old leader never get one.
        for (auto it = reads.begin(); it != reads.end();) {
          if (it->second.shard == r.shard && !it->second.has_index) {
            PendingRead& read = it->second;
            counters.reads_failed++;
            if (read.is_scan) {
              read.scan_done(ScanError(ErrorCode::kUnavailable, "leader changed; retry"));
            } else {
              read.get_done(ReadError(ErrorCode::kUnavailable, "leader changed; retry", r.shard));
            }
            it = reads.erase(it);
          } else {
            ++it;
          }
        }
      }
      r.soft = *w.rd.soft_state;
      if (cfg.log) {
        cfg.log("shard " + std::to_string(r.shard) + ": " + raft::StateName(r.soft.state) +
                ", term " + std::to_string(r.raw->GetStatus().hard_state.term()) + ", leader " +
                (r.soft.lead != 0 ? "n" + std::to_string(r.soft.lead) : "unknown"));
      }
    }
    if (!w.rd.committed_entries.empty()) ApplyCommitted(r, w.rd.committed_entries);
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
  for (const auto& d : deferred) {
    Replica& r = *replicas.at(d.shard);
    if (d.snapshot) {
      r.raw->ReportSnapshot(d.node, d.failed);
    } else {
      r.raw->ReportUnreachable(d.node);
    }
  }
  deferred.clear();
  size_t committed = 0;
  for (const auto& w : work) committed += w.rd.committed_entries.size();
  phases.entries_applied = committed;
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

void Node::Impl::LogIfSlow(const RoundPhases& phases) {
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

void Node::Impl::ApplyCommitted(Replica& r, const std::vector<raftpb::Entry>& entries) {
  // After a restart, entries the state machine already holds come again: their data is skipped,
  // but membership changes must reach the Raft core again.
  const uint64_t held = r.sm->applied().index();
  // Usually nothing is held already: apply the batch as it is, without copying it.
  std::vector<raftpb::Entry> fresh;
  const bool replay = !entries.empty() && entries.front().index() <= held;
  if (replay) {
    for (const auto& e : entries) {
      if (e.index() > held) {
        fresh.push_back(e);
      } else if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
        raftpb::ConfChange cc;
        if (cc.ParseFromString(e.data())) r.raw->ApplyConfChange(cc);
      }
    }
  }
  const std::vector<raftpb::Entry>& to_apply = replay ? fresh : entries;
  std::vector<AppliedCommand> applied;
  raft::Status s = r.sm->Apply(
      to_apply, [&](const raftpb::ConfChange& cc) { return r.raw->ApplyConfChange(cc); }, &applied);
  KVD_CHECK_MSG(s.ok(), "apply failed: " << s.ToString());
  counters.applied_entries += to_apply.size();
  for (const auto& a : applied) {
    if (a.command.proposer_node() != cfg.node_id) continue;
    auto it = writes.find(a.command.request_id());
    if (it == writes.end()) continue;  // timed out already
    WriteResponse resp = ToWriteResponse(r.shard, a.result);
    (resp.code == ErrorCode::kOk ? counters.writes_ok : counters.writes_failed)++;
    it->second.done(std::move(resp));
    writes.erase(it);
  }
  // A pending write whose log slot was committed with another entry was certainly not applied.
  for (const auto& e : entries) {
    auto slot = r.slot_to_request.find(e.index());
    if (slot == r.slot_to_request.end()) continue;
    auto it = writes.find(slot->second);
    if (it != writes.end()) {
      counters.writes_failed++;
      it->second.done(
          {ErrorCode::kUnavailable, "leader changed before the write committed; retry", r.shard});
      writes.erase(it);
    }
    r.slot_to_request.erase(slot);
  }
}

void Node::Impl::ServeReads(Replica& r) {
  const uint64_t applied = r.sm->applied().index();
  for (auto it = reads.begin(); it != reads.end();) {
    PendingRead& read = it->second;
    if (read.shard == r.shard && read.has_index && read.read_index <= applied) {
      ServeRead(r, read);
      it = reads.erase(it);
    } else {
      ++it;
    }
  }
}

void Node::Impl::ServeRead(Replica& r, PendingRead& read) {
  if (read.is_scan) {
    ScanResponse resp;
    std::vector<ScanItem> items;
    raft::Status s =
        r.sm->Scan(read.scan.prefix, read.scan.after, read.scan.limit, &items, &resp.more);
    if (!s.ok()) resp = ScanError(ErrorCode::kUnavailable, s.ToString());
    for (auto& item : items) resp.items.emplace_back(std::move(item.key), std::move(item.record));
    read.scan_done(std::move(resp));
    return;
  }
  ReadResponse resp;
  resp.shard = r.shard;
  resp.applied_index = r.sm->applied().index();
  raft::Status s = r.sm->Get(read.get.key, &resp.record);
  if (!s.ok()) {
    resp.code = ErrorCode::kUnavailable;
    resp.message = s.ToString();
  } else if (!resp.record) {
    resp.code = ErrorCode::kNotFound;
  }
  read.get_done(std::move(resp));
}

void Node::Impl::ExpireRequests() {
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
    PendingRead& read = it->second;
    counters.reads_failed++;
    // A read has no effect, so a late one is simply unavailable.
    if (read.is_scan) {
      read.scan_done(ScanError(ErrorCode::kUnavailable, "read timed out; retry"));
    } else {
      read.get_done(ReadError(ErrorCode::kUnavailable, "read timed out; retry", read.shard));
    }
    it = reads.erase(it);
  }
}

void Node::Impl::MaybeCompact(Replica& r) {
  const kvpb::AppliedState& applied = r.sm->applied();
  if (applied.index() < r.last_compacted + cfg.compact_every) return;
  // The state machine must be durable at the compaction point before the log behind it goes.
  raft::Status s = kvdb->Sync();
  KVD_CHECK_MSG(s.ok(), "state machine sync failed: " << s.ToString());
  raftpb::SnapshotMetadata meta;
  meta.set_index(applied.index());
  meta.set_term(applied.term());
  *meta.mutable_conf_state() = r.raw->GetStatus().config;  // membership is static for now
  leveldb::WriteBatch batch;
  r.log->StageCompact(meta, &batch);
  s = raftdb->Write(&batch, /*sync=*/true);
  KVD_CHECK_MSG(s.ok(), "raft log compaction failed: " << s.ToString());
  r.log->Committed();
  r.last_compacted = applied.index();
  counters.compactions++;
}

void Node::Impl::FailAll() {
  for (auto& [id, w] : writes) {
    counters.writes_unknown++;
    w.done(WriteError(ErrorCode::kTimeout, "node stopping; write outcome unknown", w.shard));
  }
  writes.clear();
  for (auto& [id, read] : reads) {
    if (read.is_scan) {
      read.scan_done(ScanError(ErrorCode::kUnavailable, "node stopping"));
    } else {
      read.get_done(ReadError(ErrorCode::kUnavailable, "node stopping", read.shard));
    }
  }
  reads.clear();
  std::vector<Input> left;
  {
    std::lock_guard<std::mutex> lock(mu);
    left.swap(inbox);
  }
  for (auto& in : left) {
    if (auto* w = std::get_if<WriteInput>(&in)) {
      w->done(WriteError(ErrorCode::kUnavailable, "node stopping"));
    } else if (auto* rd = std::get_if<ReadInput>(&in)) {
      if (rd->read.is_scan) {
        rd->read.scan_done(ScanError(ErrorCode::kUnavailable, "node stopping"));
      } else {
        rd->read.get_done(ReadError(ErrorCode::kUnavailable, "node stopping"));
      }
    }
  }
}

void Node::Impl::RefreshStatus() {
  ClusterStatus st;
  st.node_id = cfg.node_id;
  st.nodes = cfg.members;
  bool ready = true;
  for (auto& [shard, r] : replicas) {
    raft::NodeStatus ns = r->raw->GetStatus();
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
  std::lock_guard<std::mutex> lock(status_mu);
  status_cache = std::move(st);
  ready_cache = ready;
}

}  // namespace kvd::kv
