// NodeCore's apply step: committed entries into the state machine, answers to the writes and
// reads waiting on them, and log compaction behind the applied state.
#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

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
    case kvpb::RESULT_FENCED:
      resp.code = ErrorCode::kFenced;
      resp.message = r.message();
      break;
    case kvpb::RESULT_CONFLICT:
      resp.code = ErrorCode::kConflict;
      resp.message = "the key is held by transaction " + r.intent_txn() + "; nothing applied";
      break;
    default:
      resp.code = ErrorCode::kInvalidArgument;
      resp.message = r.message().empty() ? "command rejected by the state machine" : r.message();
  }
  return resp;
}

}  // namespace

void PendingRead::Fail(ErrorCode code, const std::string& why) {
  if (is_scan) {
    scan_done(ScanError(code, why));
  } else {
    get_done(ReadError(code, why, shard));
  }
}

void PendingRead::Serve(const ShardStateMachine& sm) {
  if (is_locks) return locks_done(ReadLocks(sm, shard, locks, locks_now));
  if (is_scan) {
    ScanResponse resp;
    std::vector<ScanItem> items;
    raft::Status s = sm.Scan(scan.prefix, scan.after, scan.limit, &items, &resp.more,
                             scan.max_bytes ? scan.max_bytes : sm.kDefaultScanMaxBytes);
    if (!s.ok()) return scan_done(ScanError(ErrorCode::kUnavailable, s.ToString()));
    for (auto& item : items) resp.items.emplace_back(std::move(item.key), std::move(item.record));
    return scan_done(std::move(resp));
  }
  ReadResponse resp;
  resp.shard = shard;
  resp.applied_index = sm.applied().index();
  raft::Status s = sm.Get(get.key, &resp.record);
  if (!s.ok()) {
    resp.code = ErrorCode::kUnavailable;
    resp.message = s.ToString();
  } else if (!resp.record) {
    resp.code = ErrorCode::kNotFound;
  }
  get_done(std::move(resp));
}

void CoreImpl::StageCommitted(Replica& r, const std::vector<raftpb::Entry>& entries,
                              leveldb::WriteBatch* batch, std::vector<AppliedCommand>* applied) {
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
  raft::Status s = r.sm->Stage(
      to_apply, [&](const raftpb::ConfChange& cc) { return r.raw->ApplyConfChange(cc); }, applied,
      batch);
  KVD_CHECK_MSG(s.ok(), "apply failed: " << s.ToString());
  counters.applied_entries += to_apply.size();
}

void CoreImpl::AnswerCommitted(Replica& r, const std::vector<raftpb::Entry>& entries,
                               const std::vector<AppliedCommand>& applied) {
  if (r.shard == kMetaShard && !applied.empty()) LoadDirectory();
  if (r.sm->applied().last_stamp_ms() != r.last_stamp_seen) {  // for ShardClockEstimate
    r.last_stamp_seen = r.sm->applied().last_stamp_ms();
    r.stamp_seen_at = NowMs();
  }
  for (const auto& a : applied) {
    // A command counts as activity; a leader's clock entry does not (an idle group quiesces).
    if (a.command.op_case() != kvpb::Command::OP_NOT_SET) r.idle_ticks = 0;
    if (cfg.on_apply) cfg.on_apply(r.shard, a.index, a.command, a.result);
    NoteLockEffects(r, a);
    NoteTxnEffects(r, a);
    // A request of this node met a transaction's intent: help that transaction finish.
    if (a.result.code() == kvpb::RESULT_CONFLICT && a.command.proposer_node() == cfg.node_id &&
        !a.result.intent_txn().empty() && !stopping) {
      HelpResolve(r.shard, a.result.intent_txn(), a.result.intent_record_shard());
    }
    if (a.command.proposer_node() != cfg.node_id) continue;
    auto it = writes.find(a.command.request_id());
    if (it == writes.end()) continue;  // timed out already, or not a client's write
    PendingWrite& w = it->second;
    if (a.result.code() == kvpb::RESULT_QUEUED && a.result.message() != kDuplicateWaiter) {
      w.queued = true;  // the outcome comes as a LockWakeup, within the wait
      w.deadline_ms = NowMs() + w.wait_ms + cfg.request_timeout_ms;
      continue;
    }
    PendingWrite answered = std::move(w);
    writes.erase(it);  // before the callback, which may submit new requests
    if (answered.on_result) {
      answered.on_result(a.result);
    } else {
      WriteResponse resp = ToWriteResponse(r.shard, a.result);
      (resp.code == ErrorCode::kOk ? counters.writes_ok : counters.writes_failed)++;
      if (resp.code == ErrorCode::kFenced) counters.fenced++;
      answered.done(std::move(resp));
    }
  }
  // A pending write whose log slot was committed with another entry was certainly not applied.
  for (const auto& e : entries) {
    auto slot = r.slot_to_request.find(e.index());
    if (slot == r.slot_to_request.end()) continue;
    auto it = writes.find(slot->second);
    if (it != writes.end() && !it->second.queued) {
      counters.writes_failed++;
      it->second.done(
          {ErrorCode::kUnavailable, "leader changed before the write committed; retry", r.shard});
      writes.erase(it);
    }
    r.slot_to_request.erase(slot);
  }
}

void CoreImpl::ServeReads(Replica& r) {
  const uint64_t applied = r.sm->applied().index();
  for (auto it = reads.begin(); it != reads.end();) {
    PendingRead& read = it->second;
    if (read.shard == r.shard && read.has_index && read.read_index <= applied) {
      if (read.is_locks) read.locks_now = ShardClockEstimate(r);
      PendingRead ready = std::move(read);
      it = reads.erase(it);  // before serving, which may submit new requests
      ServeCheckingIntents(r, ready);
    } else {
      ++it;
    }
  }
}

void CoreImpl::MaybeCompact(Replica& r) {
  const kvpb::AppliedState& applied = r.sm->applied();
  if (applied.index() < r.last_compacted + cfg.compact_every) return;
  // The state machine must be durable at the compaction point before the log behind it goes.
  raft::Status s = kvdb->Sync();
  KVD_CHECK_MSG(s.ok(), "state machine sync failed: " << s.ToString());
  Crash(CrashPoint::kAfterCompactionSync);
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
  Crash(CrashPoint::kAfterCompaction);
}

}  // namespace kvd::kv
