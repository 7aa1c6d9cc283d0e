// Transaction commands as the state machine applies them (kv/txn_apply.h).
#include "kv/txn_apply.h"

#include <map>
#include <set>

#include "kv/apply_overlay.h"
#include "kv/keys.h"
#include "kv/lock_apply.h"

namespace kvd::kv {
namespace {

kvpb::Result Outcome(kvpb::ResultCode code, uint64_t index, std::string message = "") {
  kvpb::Result r;
  r.set_code(code);
  r.set_revision(index);
  r.set_message(std::move(message));
  return r;
}

// The shard's keys as one branch sees them: what is stored, then the branch's own writes.
class BranchView {
 public:
  BranchView(uint64_t shard, Overlay* overlay) : shard_(shard), overlay_(overlay) {}

  raft::Status Get(const std::string& key, const std::optional<kvpb::KeyRecord>** out) {
    auto it = current_.find(key);
    if (it == current_.end()) {
      std::optional<kvpb::KeyRecord> stored;
      raft::Status s = overlay_->Read(keys::DataKey(shard_, key), &stored);
      if (!s.ok()) return s;
      stored_[key] = stored.has_value();
      it = current_.emplace(key, std::move(stored)).first;
    }
    *out = &it->second;
    return raft::Status::Ok();
  }
  void Set(const std::string& key, std::optional<kvpb::KeyRecord> record) {
    current_[key] = std::move(record);
    written_.insert(key);
  }
  // Writes the branch's changes to the overlay; *key_delta counts keys created minus deleted.
  void Write(int64_t* key_delta) const {
    for (const std::string& key : written_) {
      const std::optional<kvpb::KeyRecord>& now = current_.at(key);
      const bool existed = stored_.at(key);
      if (now) {
        overlay_->Put(keys::DataKey(shard_, key), *now);
        if (!existed) ++*key_delta;
      } else if (existed) {
        overlay_->Delete(keys::DataKey(shard_, key));
        --*key_delta;
      }
    }
  }
  const std::set<std::string>& written() const { return written_; }

 private:
  uint64_t shard_;
  Overlay* overlay_;
  std::map<std::string, std::optional<kvpb::KeyRecord>> current_;
  std::map<std::string, bool> stored_;  // whether the key existed before the branch
  std::set<std::string> written_;
};

bool ValidKey(const std::string& key) { return !key.empty() && key.size() <= kMaxTxnKeyBytes; }

template <typename Ops>
bool ValidOps(const Ops& ops) {
  if (static_cast<size_t>(ops.size()) > kMaxTxnApplyOps) return false;
  for (const kvpb::TxnOp& op : ops) {
    if (!ValidKey(op.key()) || op.type() > kTxnDelete) return false;
  }
  return true;
}

template <typename Txn>
bool ValidTxn(const Txn& t) {
  if (static_cast<size_t>(t.compare_size()) > kMaxTxnApplyOps) return false;
  for (const kvpb::TxnCompare& c : t.compare()) {
    if (!ValidKey(c.key()) || c.target() > kTxnExists) return false;
  }
  return ValidOps(t.success()) && ValidOps(t.failure());
}

template <typename Txn>
std::set<std::string> KeysOf(const Txn& t) {
  std::set<std::string> keys;
  for (const auto& c : t.compare()) keys.insert(c.key());
  for (const auto& op : t.success()) keys.insert(op.key());
  for (const auto& op : t.failure()) keys.insert(op.key());
  return keys;
}

template <typename Txn>
std::set<std::string> WrittenKeysOf(const Txn& t) {
  std::set<std::string> keys;
  for (const auto& op : t.success()) {
    if (op.type() != kTxnGet) keys.insert(op.key());
  }
  for (const auto& op : t.failure()) {
    if (op.type() != kTxnGet) keys.insert(op.key());
  }
  return keys;
}

raft::Status Compare(const kvpb::TxnCompare& c, BranchView* view, bool* ok) {
  const std::optional<kvpb::KeyRecord>* cur = nullptr;
  raft::Status s = view->Get(c.key(), &cur);
  if (!s.ok()) return s;
  switch (c.target()) {
    case kTxnVersion:
      *ok = (*cur ? (*cur)->version() : 0) == c.version();
      break;
    case kTxnValue:
      *ok = cur->has_value() && (*cur)->value() == c.value();
      break;
    default:
      *ok = cur->has_value() == c.exists();
  }
  return raft::Status::Ok();
}

template <typename Txn>
raft::Status ComparesHold(const Txn& t, BranchView* view, bool* all) {
  *all = true;
  for (const kvpb::TxnCompare& c : t.compare()) {
    bool ok = false;
    raft::Status s = Compare(c, view, &ok);
    if (!s.ok()) return s;
    *all = *all && ok;
  }
  return raft::Status::Ok();
}

// Runs a branch's ops in order on 'view' (writes stay in the view) and appends their results.
template <typename Ops>
raft::Status RunBranch(const Ops& ops, uint64_t index, BranchView* view,
                       google::protobuf::RepeatedPtrField<kvpb::TxnOpResult>* results) {
  for (const kvpb::TxnOp& op : ops) {
    const std::optional<kvpb::KeyRecord>* cur = nullptr;
    raft::Status s = view->Get(op.key(), &cur);
    if (!s.ok()) return s;
    kvpb::TxnOpResult* res = results->Add();
    res->set_type(op.type());
    res->set_key(op.key());
    res->set_index(op.index());
    if (op.type() == kTxnGet) {
      res->set_found(cur->has_value());
      if (*cur) {
        res->set_value((*cur)->value());
        res->set_version((*cur)->version());
      }
    } else if (op.type() == kTxnPut) {
      kvpb::KeyRecord record;
      record.set_value(op.value());
      record.set_version((*cur ? (*cur)->version() : 0) + 1);
      record.set_revision(index);
      res->set_version(record.version());
      view->Set(op.key(), std::move(record));
    } else {
      res->set_deleted(cur->has_value());
      view->Set(op.key(), std::nullopt);
    }
  }
  return raft::Status::Ok();
}

// The fence against every key a transaction may write (either branch); *ok false: *r says why.
raft::Status CheckFences(const kvpb::Fence& fence, const std::set<std::string>& written,
                         uint64_t shard, int64_t now, uint64_t index, Overlay* overlay,
                         kvpb::Result* r, bool* ok) {
  *ok = true;
  for (const std::string& key : written) {
    raft::Status s = CheckFence(fence, key, shard, now, index, overlay, r, ok);
    if (!s.ok() || !*ok) return s;
  }
  return raft::Status::Ok();
}

// *held: some key holds an intent of a transaction other than 'own'.
raft::Status CheckIntents(const std::set<std::string>& keys, const std::string& own, uint64_t shard,
                          uint64_t index, Overlay* overlay, kvpb::Result* r, bool* held) {
  *held = false;
  for (const std::string& key : keys) {
    std::optional<kvpb::TxnIntent> intent;
    raft::Status s = overlay->Read(keys::TxnStateKey(keys::kTxnIntentTag, shard, key), &intent);
    if (!s.ok()) return s;
    if (intent && intent->txn() != own) {
      *r = Outcome(kvpb::RESULT_CONFLICT, index, "a transaction holds the key");
      r->set_intent_txn(intent->txn());
      r->set_intent_record_shard(intent->record_shard());
      *held = true;
      return raft::Status::Ok();
    }
  }
  return raft::Status::Ok();
}

raft::Status Execute(const kvpb::TxnExecute& t, uint64_t index, uint64_t shard, int64_t now,
                     Overlay* overlay, kvpb::Result* r, int64_t* key_delta) {
  if (!ValidTxn(t)) {
    *r = Outcome(kvpb::RESULT_INVALID, index, "malformed transaction");
    return raft::Status::Ok();
  }
  bool held = false;
  raft::Status s = CheckIntents(KeysOf(t), "", shard, index, overlay, r, &held);
  if (!s.ok() || held) return s;
  bool ok = true;
  if (t.has_fence()) {
    s = CheckFences(t.fence(), WrittenKeysOf(t), shard, now, index, overlay, r, &ok);
    if (!s.ok() || !ok) return s;
  }
  BranchView view(shard, overlay);
  bool compares_ok = false;
  s = ComparesHold(t, &view, &compares_ok);
  if (!s.ok()) return s;
  *r = Outcome(kvpb::RESULT_OK, index);
  kvpb::TxnVote* vote = r->mutable_txn();
  vote->set_compares_ok(compares_ok);
  s = compares_ok ? RunBranch(t.success(), index, &view, vote->mutable_success())
                  : RunBranch(t.failure(), index, &view, vote->mutable_failure());
  if (!s.ok()) return s;
  view.Write(key_delta);
  if (t.has_fence()) {
    for (const std::string& key : view.written()) {
      s = RecordFence(t.fence(), key, shard, overlay);
      if (!s.ok()) return s;
    }
  }
  return raft::Status::Ok();
}

raft::Status Prepare(const kvpb::TxnPrepare& t, uint64_t index, uint64_t shard, int64_t now,
                     Overlay* overlay, kvpb::Result* r, TxnEffects* effects) {
  if (t.id().empty() || t.id().size() > kMaxTxnIdBytes || !ValidTxn(t)) {
    *r = Outcome(kvpb::RESULT_INVALID, index, "malformed prepare");
    return raft::Status::Ok();
  }
  std::optional<kvpb::TxnResolved> resolved;
  raft::Status s =
      overlay->Read(keys::TxnStateKey(keys::kTxnResolvedTag, shard, t.id()), &resolved);
  if (!s.ok()) return s;
  if (resolved) {  // a late or repeated prepare: the transaction is over here
    *r = Outcome(kvpb::RESULT_CONFLICT, index, "the transaction was already resolved");
    r->set_intent_txn(t.id());
    r->set_intent_record_shard(t.record_shard());
    return raft::Status::Ok();
  }
  const std::string prepared_key = keys::TxnStateKey(keys::kTxnPreparedTag, shard, t.id());
  std::optional<kvpb::TxnPrepared> prepared;
  s = overlay->Read(prepared_key, &prepared);
  if (!s.ok()) return s;
  if (prepared) {  // prepared already: the same vote
    *r = Outcome(kvpb::RESULT_OK, index);
    *r->mutable_txn() = prepared->vote();
    return raft::Status::Ok();
  }
  const std::set<std::string> keys = KeysOf(t);
  bool held = false;
  s = CheckIntents(keys, t.id(), shard, index, overlay, r, &held);
  if (!s.ok() || held) return s;
  bool ok = true;
  if (t.has_fence()) {
    s = CheckFences(t.fence(), WrittenKeysOf(t), shard, now, index, overlay, r, &ok);
    if (!s.ok() || !ok) return s;
  }
  kvpb::TxnPrepared p;
  kvpb::TxnVote* vote = p.mutable_vote();
  bool compares_ok = false;
  BranchView success(shard, overlay), failure(shard, overlay);
  s = ComparesHold(t, &success, &compares_ok);
  if (!s.ok()) return s;
  vote->set_compares_ok(compares_ok);
  s = RunBranch(t.success(), index, &success, vote->mutable_success());
  if (!s.ok()) return s;
  s = RunBranch(t.failure(), index, &failure, vote->mutable_failure());
  if (!s.ok()) return s;
  kvpb::TxnIntent intent;
  intent.set_txn(t.id());
  intent.set_record_shard(t.record_shard());
  for (const std::string& key : keys) {
    overlay->Put(keys::TxnStateKey(keys::kTxnIntentTag, shard, key), intent);
    p.add_keys(key);
  }
  p.set_record_shard(t.record_shard());
  *p.mutable_success() = t.success();
  *p.mutable_failure() = t.failure();
  if (t.has_fence()) *p.mutable_fence() = t.fence();
  p.set_prepared_ms(now);
  overlay->Put(prepared_key, p);
  effects->prepared.emplace_back(t.id(), TxnEffects::Prepared{t.record_shard(), now});
  *r = Outcome(kvpb::RESULT_OK, index);
  *r->mutable_txn() = p.vote();
  return raft::Status::Ok();
}

raft::Status Resolve(const kvpb::TxnResolve& t, uint64_t index, uint64_t shard, int64_t now,
                     Overlay* overlay, kvpb::Result* r, int64_t* key_delta, TxnEffects* effects) {
  *r = Outcome(kvpb::RESULT_OK, index);
  const std::string resolved_key = keys::TxnStateKey(keys::kTxnResolvedTag, shard, t.id());
  std::optional<kvpb::TxnResolved> resolved;
  raft::Status s = overlay->Read(resolved_key, &resolved);
  if (!s.ok() || resolved) return s;  // resolved before: nothing to do
  const std::string prepared_key = keys::TxnStateKey(keys::kTxnPreparedTag, shard, t.id());
  std::optional<kvpb::TxnPrepared> p;
  s = overlay->Read(prepared_key, &p);
  if (!s.ok()) return s;
  if (p) {
    if (t.commit()) {  // the data changes now; the keys cannot have changed since the prepare
      BranchView view(shard, overlay);
      google::protobuf::RepeatedPtrField<kvpb::TxnOpResult> results;
      s = RunBranch(t.succeeded() ? p->success() : p->failure(), index, &view, &results);
      if (!s.ok()) return s;
      view.Write(key_delta);
      for (const std::string& key : view.written()) {
        if (!p->has_fence()) break;
        s = RecordFence(p->fence(), key, shard, overlay);
        if (!s.ok()) return s;
      }
    }
    for (const std::string& key : p->keys()) {
      const std::string intent_key = keys::TxnStateKey(keys::kTxnIntentTag, shard, key);
      std::optional<kvpb::TxnIntent> intent;
      s = overlay->Read(intent_key, &intent);
      if (!s.ok()) return s;
      if (intent && intent->txn() == t.id()) overlay->Delete(intent_key);
    }
    overlay->Delete(prepared_key);
    effects->prepared.emplace_back(t.id(), std::nullopt);
  }
  kvpb::TxnResolved marker;
  marker.set_outcome(t.commit() ? kvpb::TXN_COMMITTED : kvpb::TXN_ABORTED);
  marker.set_resolved_ms(now);
  overlay->Put(resolved_key, marker);
  return raft::Status::Ok();
}

void DescribeRecord(const kvpb::TxnRecord& rec, int64_t now, kvpb::Result* r) {
  r->set_txn_state(rec.state());
  r->set_commit_revision(rec.commit_revision());
  r->set_txn_succeeded(rec.succeeded());
  r->set_txn_left_ms(rec.deadline_ms() > now ? rec.deadline_ms() - now : 0);
}

// Begin, Decide and Forget: the record in its shard.
raft::Status RecordOp(const kvpb::Command& c, uint64_t index, uint64_t shard, int64_t now,
                      Overlay* overlay, kvpb::Result* r, TxnEffects* effects) {
  const std::string& id = c.has_txn_begin()    ? c.txn_begin().id()
                          : c.has_txn_decide() ? c.txn_decide().id()
                                               : c.txn_forget().id();
  if (id.empty() || id.size() > kMaxTxnIdBytes) {
    *r = Outcome(kvpb::RESULT_INVALID, index, "bad transaction id");
    return raft::Status::Ok();
  }
  const std::string key = keys::TxnStateKey(keys::kTxnRecordTag, shard, id);
  std::optional<kvpb::TxnRecord> rec;
  raft::Status s = overlay->Read(key, &rec);
  if (!s.ok()) return s;
  *r = Outcome(kvpb::RESULT_OK, index);
  if (c.has_txn_begin()) {
    const kvpb::TxnBegin& b = c.txn_begin();
    if (!rec) {
      if (b.ttl_ms() <= 0 || b.ttl_ms() > kMaxTxnTtlMs || b.participants_size() == 0 ||
          static_cast<size_t>(b.participants_size()) > kMaxTxnParticipants) {
        *r = Outcome(kvpb::RESULT_INVALID, index, "bad transaction record");
        return raft::Status::Ok();
      }
      rec.emplace();
      rec->set_state(kvpb::TXN_PENDING);
      *rec->mutable_participants() = b.participants();
      rec->set_created_ms(now);
      rec->set_deadline_ms(now + b.ttl_ms());
      overlay->Put(key, *rec);
      effects->records.emplace_back(id, *rec);
    }
    DescribeRecord(*rec, now, r);
    return raft::Status::Ok();
  }
  if (c.has_txn_forget()) {
    if (rec && rec->state() == kvpb::TXN_PENDING) {
      *r = Outcome(kvpb::RESULT_INVALID, index, "the transaction is still pending");
    } else if (rec) {
      overlay->Delete(key);
      effects->records.emplace_back(id, std::nullopt);
    }
    return raft::Status::Ok();
  }
  if (!rec) {
    *r = Outcome(kvpb::RESULT_NOT_FOUND, index, "no such transaction record");
    return raft::Status::Ok();
  }
  const kvpb::TxnDecide& d = c.txn_decide();
  if (rec->state() == kvpb::TXN_PENDING) {
    kvpb::TxnState next = d.decision();
    if (next == kvpb::TXN_PENDING && now >= rec->deadline_ms()) next = kvpb::TXN_ABORTED;
    if (next != kvpb::TXN_PENDING) {
      rec->set_state(next);
      if (next == kvpb::TXN_COMMITTED) {
        rec->set_succeeded(d.succeeded());
        rec->set_commit_revision(index);
      }
      overlay->Put(key, *rec);
      effects->records.emplace_back(id, *rec);
    }
  }
  DescribeRecord(*rec, now, r);
  return raft::Status::Ok();
}

}  // namespace

bool IsTxnOp(const kvpb::Command& c) {
  switch (c.op_case()) {
    case kvpb::Command::kTxnExecute:
    case kvpb::Command::kTxnBegin:
    case kvpb::Command::kTxnPrepare:
    case kvpb::Command::kTxnDecide:
    case kvpb::Command::kTxnResolve:
    case kvpb::Command::kTxnForget:
      return true;
    default:
      return false;
  }
}

raft::Status ExecuteTxnOp(const kvpb::Command& c, uint64_t index, uint64_t shard, int64_t now,
                          Overlay* overlay, kvpb::Result* r, int64_t* key_delta,
                          TxnEffects* effects) {
  switch (c.op_case()) {
    case kvpb::Command::kTxnExecute:
      return Execute(c.txn_execute(), index, shard, now, overlay, r, key_delta);
    case kvpb::Command::kTxnPrepare:
      return Prepare(c.txn_prepare(), index, shard, now, overlay, r, effects);
    case kvpb::Command::kTxnResolve:
      if (c.txn_resolve().id().empty() || c.txn_resolve().id().size() > kMaxTxnIdBytes) {
        *r = Outcome(kvpb::RESULT_INVALID, index, "bad transaction id");
        return raft::Status::Ok();
      }
      return Resolve(c.txn_resolve(), index, shard, now, overlay, r, key_delta, effects);
    default:
      return RecordOp(c, index, shard, now, overlay, r, effects);
  }
}

raft::Status CheckIntent(const std::string& key, uint64_t shard, uint64_t index, Overlay* overlay,
                         kvpb::Result* r, bool* held) {
  return CheckIntents({key}, "", shard, index, overlay, r, held);
}

}  // namespace kvd::kv
