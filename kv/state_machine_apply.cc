// ShardStateMachine::Apply: deterministic application of committed entries. All writes of one
// Apply call go to an overlay first (so later commands in the call see earlier ones) and then to
// disk in ONE WriteBatch together with the new AppliedState.
#include <leveldb/write_batch.h>

#include <algorithm>
#include <map>
#include <utility>

#include "kv/apply_overlay.h"
#include "kv/db_util.h"
#include "kv/keys.h"
#include "kv/lock_apply.h"
#include "kv/state_machine.h"
#include "kv/txn_apply.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

bool Expired(const kvpb::ClientSession& s, int64_t now_ms, int64_t ttl_ms) {
  // Seen before the shard's clock was ever stamped (a new shard's first writes, proposed through
  // followers before the first leader's clock entry): no idle time can be measured; kept.
  if (s.last_seen_ms() == 0) return false;
  if (now_ms <= s.last_seen_ms()) return false;  // leader clocks may disagree: never negative
  return static_cast<uint64_t>(now_ms) - static_cast<uint64_t>(s.last_seen_ms()) >
         static_cast<uint64_t>(ttl_ms);
}

kvpb::Result Invalid(uint64_t index) {
  kvpb::Result r;
  r.set_code(kvpb::RESULT_INVALID);
  r.set_revision(index);
  return r;
}

// The meta shard's directory operations (kv/directory.h): the record lives under the reserved
// user key kDirectoryKey of shard 0, so snapshots carry it like any key. Data shards refuse them.
raft::Status ExecuteDirectoryOp(const kvpb::Command& c, uint64_t index, uint64_t shard,
                                Overlay* overlay, kvpb::Result* r) {
  if (shard != kMetaShard || c.format() != kCommandFormat) {
    *r = Invalid(index);
    return raft::Status::Ok();
  }
  const std::string data_key = keys::DataKey(shard, kDirectoryKey);
  std::optional<kvpb::KeyRecord> current;
  raft::Status s = overlay->Read(data_key, &current);
  if (!s.ok()) return s;
  kvpb::DirectoryRecord dir;
  if (current) KVD_CHECK_MSG(dir.ParseFromString(current->value()), "bad directory record");
  r->Clear();
  r->set_revision(index);
  r->set_code(kvpb::RESULT_OK);
  bool changed = false, bump = false;
  if (c.op_case() == kvpb::Command::kDirectoryInit) {
    if (!current) {  // the first init committed wins; later ones are no-ops
      dir = c.directory_init().directory();
      dir.set_version(0);
      changed = bump = true;
    }
  } else if (current) {
    const kvpb::ShardReport& rep = c.shard_report();
    for (auto& sh : *dir.mutable_shards()) {
      if (sh.id() != rep.shard() || rep.term() < sh.leader_term()) continue;
      if (sh.leader() != rep.leader() || sh.leader_term() != rep.term()) {
        sh.set_leader(rep.leader());
        sh.set_leader_term(rep.term());
        bump = true;
      }
      changed = bump || sh.keys() != rep.keys();
      sh.set_keys(rep.keys());
    }
  }
  if (bump) dir.set_version(dir.version() + 1);
  if (changed) {
    kvpb::KeyRecord record;
    record.set_value(dir.SerializeAsString());
    record.set_version(dir.version());
    record.set_revision(index);
    overlay->Put(data_key, record);
  }
  r->set_version(dir.version());
  return raft::Status::Ok();
}

// Put or Delete, with the if_version precondition and the fence. Nothing is written unless they
// hold. *key_delta: +1 when a key was created, -1 when one was deleted. Lock commands go to
// lock_apply.h.
raft::Status ExecuteOp(const kvpb::Command& c, uint64_t index, uint64_t shard, int64_t now,
                       Overlay* overlay, kvpb::Result* r, int64_t* key_delta, LockEffects* effects,
                       TxnEffects* txn_effects) {
  if (c.op_case() == kvpb::Command::kDirectoryInit || c.op_case() == kvpb::Command::kShardReport) {
    return ExecuteDirectoryOp(c, index, shard, overlay, r);
  }
  if (IsLockOp(c)) {
    if (shard == kMetaShard || c.format() != kCommandFormat) {
      *r = Invalid(index);
      return raft::Status::Ok();
    }
    return ExecuteLockOp(c, index, shard, now, overlay, r, effects);
  }
  if (IsTxnOp(c)) {
    if (shard == kMetaShard || c.format() != kCommandFormat) {
      *r = Invalid(index);
      return raft::Status::Ok();
    }
    return ExecuteTxnOp(c, index, shard, now, overlay, r, key_delta, txn_effects);
  }
  const bool is_put = c.op_case() == kvpb::Command::kPut;
  if (c.format() != kCommandFormat || (!is_put && c.op_case() != kvpb::Command::kDelete)) {
    *r = Invalid(index);
    return raft::Status::Ok();
  }
  const std::string& key = is_put ? c.put().key() : c.delete_().key();
  const bool has_if_version = is_put ? c.put().has_if_version() : c.delete_().has_if_version();
  const uint64_t if_version = is_put ? c.put().if_version() : c.delete_().if_version();
  if (key.empty()) {
    *r = Invalid(index);
    return raft::Status::Ok();
  }
  bool held = false;  // a prepared transaction holds the key: refused, nothing applied
  raft::Status held_status = CheckIntent(key, shard, index, overlay, r, &held);
  if (!held_status.ok() || held) return held_status;
  const kvpb::Fence* fence = nullptr;
  if (is_put ? c.put().has_fence() : c.delete_().has_fence()) {
    fence = is_put ? &c.put().fence() : &c.delete_().fence();
    bool ok = false;
    raft::Status s = CheckFence(*fence, key, shard, now, index, overlay, r, &ok);
    if (!s.ok() || !ok) return s;
  }
  const std::string data_key = keys::DataKey(shard, key);
  std::optional<kvpb::KeyRecord> current;
  raft::Status s = overlay->Read(data_key, &current);
  if (!s.ok()) return s;
  const uint64_t current_version = current ? current->version() : 0;
  r->Clear();
  r->set_revision(index);
  if (has_if_version && if_version != current_version) {
    r->set_code(kvpb::RESULT_VERSION_MISMATCH);
    r->set_version(current_version);
    r->set_current_version(current_version);
    return raft::Status::Ok();
  }
  r->set_code(kvpb::RESULT_OK);
  if (fence != nullptr) {
    s = RecordFence(*fence, key, shard, overlay);
    if (!s.ok()) return s;
  }
  if (is_put) {
    kvpb::KeyRecord record;
    record.set_value(c.put().value());
    record.set_version(current_version + 1);
    record.set_revision(index);
    overlay->Put(data_key, record);
    r->set_version(record.version());
    if (!current) ++*key_delta;
  } else {
    r->set_deleted(current.has_value());
    if (current) {
      overlay->Delete(data_key);
      --*key_delta;
    }
  }
  return raft::Status::Ok();
}

raft::Status SweepSessions(int64_t now_ms, int64_t ttl_ms, uint64_t shard, Overlay* overlay) {
  std::map<std::string, kvpb::ClientSession> sessions;
  raft::Status s = overlay->Sessions(&sessions);
  if (!s.ok()) return s;
  for (const auto& [client, session] : sessions) {
    if (Expired(session, now_ms, ttl_ms)) overlay->Delete(keys::SessionKey(shard, client));
  }
  return raft::Status::Ok();
}

// The shard clock (kvpb::AppliedState.clock_ms) after a command of an entry of 'term': only a
// leader's stamps move it, by the time its own clock says passed since its previous stamp.
void AdvanceClock(const kvpb::Command& c, uint64_t term, kvpb::AppliedState* applied) {
  const int64_t stamp = c.leader_time_ms();
  if (stamp <= 0) return;  // proposed by a follower and not stamped by a leader: no time
  const uint64_t stamp_node = c.stamp_node() != 0 ? c.stamp_node() : c.proposer_node();
  if (stamp_node == applied->stamp_node() && term == applied->stamp_term()) {
    if (stamp > applied->last_stamp_ms()) {
      applied->set_clock_ms(applied->clock_ms() + (stamp - applied->last_stamp_ms()));
      applied->set_last_stamp_ms(stamp);
    }
    return;
  }
  // A new leader (or a deposed one's late proposal): its clock becomes the reference, and
  // nothing is counted until its next stamp. The first stamp a shard sees starts its clock.
  if (applied->stamp_term() == 0) applied->set_clock_ms(stamp);
  applied->set_stamp_node(stamp_node);
  applied->set_stamp_term(term);
  applied->set_last_stamp_ms(stamp);
}

// A command with its exactly-once bookkeeping, at shard time 'now' (AppliedState.clock_ms).
raft::Status ApplyCommand(const kvpb::Command& c, uint64_t index, uint64_t shard, int64_t now,
                          int64_t ttl_ms, Overlay* overlay, kvpb::Result* r, int64_t* key_delta,
                          LockEffects* effects, TxnEffects* txn_effects) {
  if (index % kSessionSweepInterval == 0) {
    raft::Status s = SweepSessions(now, ttl_ms, shard, overlay);
    if (!s.ok()) return s;
  }
  if (c.op_case() == kvpb::Command::OP_NOT_SET && c.client_id().empty() &&
      c.format() == kCommandFormat && c.leader_time_ms() > 0) {
    r->Clear();  // a clock entry: it only advanced the shard's clock
    r->set_revision(index);
    return raft::Status::Ok();
  }
  if (c.client_id().empty()) {
    return ExecuteOp(c, index, shard, now, overlay, r, key_delta, effects, txn_effects);
  }
  if (c.seq() == 0) {
    *r = Invalid(index);
    return raft::Status::Ok();
  }
  const std::string session_key = keys::SessionKey(shard, c.client_id());
  std::optional<kvpb::ClientSession> session;
  raft::Status s = overlay->Read(session_key, &session);
  if (!s.ok()) return s;
  if (session && Expired(*session, now, ttl_ms)) session.reset();
  if (session && c.seq() < session->seq()) {  // the client has moved on; not ours to answer
    *r = Invalid(index);
    return raft::Status::Ok();
  }
  const int64_t last_seen = session ? std::max(session->last_seen_ms(), now) : now;
  if (session && c.seq() == session->seq()) {  // a retry: the first outcome, not applied again
    *r = session->result();
    // A queued acquire's retry: still waiting, and this entry is not the waiter.
    if (r->code() == kvpb::RESULT_QUEUED) r->set_message(kDuplicateWaiter);
  } else {
    s = ExecuteOp(c, index, shard, now, overlay, r, key_delta, effects, txn_effects);
    if (!s.ok()) return s;
    // A key held by a transaction: nothing applied, and the same seq may be retried.
    if (r->code() == kvpb::RESULT_CONFLICT) return raft::Status::Ok();
    session.emplace();
    session->set_seq(c.seq());
    *session->mutable_result() = *r;
  }
  session->set_last_seen_ms(last_seen);
  overlay->Put(session_key, *session);
  return raft::Status::Ok();
}

}  // namespace

raft::Status ShardStateMachine::Apply(const std::vector<raftpb::Entry>& entries,
                                      const ConfChangeFn& apply_conf_change,
                                      std::vector<AppliedCommand>* out) {
  leveldb::WriteBatch batch;
  std::vector<AppliedCommand> results;
  raft::Status s = Stage(entries, apply_conf_change, &results, &batch);
  if (!s.ok() || !has_staged_) return s;
  s = FromLevelDb(db_->Write(leveldb::WriteOptions(), &batch), "kvdb apply");
  if (!s.ok()) {
    has_staged_ = false;
    return s;
  }
  CommitStaged();
  for (AppliedCommand& ac : results) out->push_back(std::move(ac));
  return raft::Status::Ok();
}

void ShardStateMachine::CommitStaged() {
  if (!has_staged_) return;
  applied_ = std::move(staged_);
  has_staged_ = false;
}

raft::Status ShardStateMachine::Stage(const std::vector<raftpb::Entry>& entries,
                                      const ConfChangeFn& apply_conf_change,
                                      std::vector<AppliedCommand>* out,
                                      leveldb::WriteBatch* batch) {
  KVD_CHECK_MSG(!has_staged_, "shard " << shard_ << ": staged twice without a commit");
  Overlay overlay(db_, shard_);
  kvpb::AppliedState applied = applied_;
  std::vector<AppliedCommand> results;
  for (const raftpb::Entry& e : entries) {
    if (e.index() <= applied.index()) continue;  // already applied (and durable with its data)
    KVD_CHECK_MSG(e.index() == applied.index() + 1, "shard " << shard_ << ": applying entry "
                                                             << e.index() << " after "
                                                             << applied.index());
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
      raftpb::ConfChange cc;
      KVD_CHECK_MSG(cc.ParseFromString(e.data()), "bad conf change at " << e.index());
      KVD_CHECK_MSG(apply_conf_change, "conf change at " << e.index() << " without a handler");
      *applied.mutable_conf_state() = apply_conf_change(cc);
    } else if (!e.data().empty()) {
      AppliedCommand ac;
      ac.index = e.index();
      if (!DecodeCommand(e.data(), &ac.command)) {
        ac.result = Invalid(e.index());
      } else {
        AdvanceClock(ac.command, e.term(), &applied);
        int64_t key_delta = 0;
        raft::Status s =
            ApplyCommand(ac.command, e.index(), shard_, applied.clock_ms(), session_ttl_ms_,
                         &overlay, &ac.result, &key_delta, &ac.locks, &ac.txn);
        if (!s.ok()) return s;
        applied.set_key_count(
            static_cast<uint64_t>(static_cast<int64_t>(applied.key_count()) + key_delta));
      }
      results.push_back(std::move(ac));
    }
    applied.set_index(e.index());
    applied.set_term(e.term());
  }
  if (applied.index() == applied_.index()) return raft::Status::Ok();
  overlay.Flush(batch);
  batch->Put(keys::AppliedKey(shard_), applied.SerializeAsString());
  staged_ = std::move(applied);
  has_staged_ = true;
  for (AppliedCommand& ac : results) out->push_back(std::move(ac));
  return raft::Status::Ok();
}

}  // namespace kvd::kv
