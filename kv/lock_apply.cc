// Locks and fences in apply (lock_apply.h).
#include "kv/lock_apply.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "kv/apply_overlay.h"
#include "kv/keys.h"

namespace kvd::kv {
namespace {

kvpb::Result Outcome(kvpb::ResultCode code, uint64_t index) {
  kvpb::Result r;
  r.set_code(code);
  r.set_revision(index);
  return r;
}

kvpb::Result Invalid(uint64_t index, const std::string& why) {
  kvpb::Result r = Outcome(kvpb::RESULT_INVALID, index);
  r.set_message(why);
  return r;
}

// RESULT_LOCK_HELD naming the holder; its deadline_ms is the time it has left.
kvpb::Result Held(const kvpb::LockRecord& record, int64_t now, uint64_t index,
                  const std::string& why) {
  kvpb::Result r = Outcome(kvpb::RESULT_LOCK_HELD, index);
  r.set_message(why);
  if (record.has_holder()) {
    *r.mutable_holder() = record.holder();
    r.mutable_holder()->set_deadline_ms(std::max<int64_t>(0, record.holder().deadline_ms() - now));
  }
  return r;
}

// Makes 'owner' the holder with the next token.
kvpb::Result Grant(kvpb::LockRecord* record, const std::string& owner, int64_t ttl_ms, int64_t now,
                   uint64_t index) {
  const uint64_t token = std::max(index, record->last_token() + 1);
  kvpb::LockHolder* h = record->mutable_holder();
  h->set_owner(owner);
  h->set_token(token);
  h->set_ttl_ms(ttl_ms);
  h->set_deadline_ms(now + ttl_ms);
  record->set_last_token(token);
  kvpb::Result r = Outcome(kvpb::RESULT_OK, index);
  r.set_token(token);
  r.set_ttl_ms(ttl_ms);
  return r;
}

// A waiter's final outcome: to its node, and to its client's session (so that a retry with the
// same Idempotency-Key learns it).
raft::Status Wake(const kvpb::LockWaiter& w, const kvpb::Result& result, uint64_t shard,
                  Overlay* overlay, LockEffects* effects) {
  effects->wakeups.push_back({w.proposer_node(), w.request_id(), result});
  if (w.client_id().empty()) return raft::Status::Ok();
  const std::string session_key = keys::SessionKey(shard, w.client_id());
  std::optional<kvpb::ClientSession> session;
  raft::Status s = overlay->Read(session_key, &session);
  if (!s.ok() || !session || session->seq() != w.seq()) return s;
  *session->mutable_result() = result;
  overlay->Put(session_key, *session);
  return raft::Status::Ok();
}

// Brings the record to shard time 'now': the lease ends when the clock reaches its deadline,
// waiters whose wait ran out are refused, and a free lock goes to the first waiter.
raft::Status Settle(kvpb::LockRecord* record, int64_t now, uint64_t index, uint64_t shard,
                    Overlay* overlay, LockEffects* effects) {
  if (record->has_holder() && record->holder().deadline_ms() <= now) record->clear_holder();
  auto* waiters = record->mutable_waiters();
  for (int i = 0; i < waiters->size();) {
    const kvpb::LockWaiter& w = waiters->Get(i);
    if (w.wait_deadline_ms() > now) {
      ++i;
      continue;
    }
    raft::Status s =
        Wake(w, Held(*record, now, index, "not acquired within wait_ms"), shard, overlay, effects);
    if (!s.ok()) return s;
    waiters->DeleteSubrange(i, 1);
  }
  if (record->has_holder() || waiters->empty()) return raft::Status::Ok();
  const kvpb::LockWaiter first = waiters->Get(0);
  waiters->DeleteSubrange(0, 1);
  return Wake(first, Grant(record, first.owner(), first.ttl_ms(), now, index), shard, overlay,
              effects);
}

bool ValidName(const std::string& name) {
  return !name.empty() && name.size() <= kMaxLockNameBytes;
}

// Checks an acquire's arguments; empty if they are fine.
std::string AcquireProblem(const kvpb::LockAcquire& a) {
  if (!ValidName(a.name())) return "lock name must be 1 to 4096 bytes";
  if (a.owner().empty() || a.owner().size() > kMaxLockOwnerBytes) {
    return "owner must be 1 to 256 bytes";
  }
  if (a.ttl_ms() < kMinLockTtlMs || a.ttl_ms() > kMaxLockTtlMs) {
    return "ttl_ms must be 100 to 3600000";
  }
  if (a.wait_ms() < 0 || a.wait_ms() > kMaxLockWaitMs) return "wait_ms must be 0 to 300000";
  return "";
}

kvpb::Result Acquire(const kvpb::Command& c, kvpb::LockRecord* record, int64_t now,
                     uint64_t index) {
  const kvpb::LockAcquire& a = c.lock_acquire();
  if (!record->has_holder()) return Grant(record, a.owner(), a.ttl_ms(), now, index);
  if (a.wait_ms() == 0) return Held(*record, now, index, "the lock is held");
  if (static_cast<size_t>(record->waiters_size()) >= kMaxLockWaiters) {
    return Held(*record, now, index, "the lock is held and its wait queue is full");
  }
  kvpb::LockWaiter* w = record->add_waiters();
  w->set_owner(a.owner());
  w->set_ttl_ms(a.ttl_ms());
  w->set_wait_deadline_ms(now + a.wait_ms());
  w->set_proposer_node(c.proposer_node());
  w->set_request_id(c.request_id());
  w->set_client_id(c.client_id());
  w->set_seq(c.seq());
  return Outcome(kvpb::RESULT_QUEUED, index);
}

const std::string& LockName(const kvpb::Command& c) {
  switch (c.op_case()) {
    case kvpb::Command::kLockAcquire:
      return c.lock_acquire().name();
    case kvpb::Command::kLockKeepalive:
      return c.lock_keepalive().name();
    case kvpb::Command::kLockRelease:
      return c.lock_release().name();
    default:
      return c.lock_tick().name();
  }
}

}  // namespace

bool IsLockOp(const kvpb::Command& c) {
  switch (c.op_case()) {
    case kvpb::Command::kLockAcquire:
    case kvpb::Command::kLockKeepalive:
    case kvpb::Command::kLockRelease:
    case kvpb::Command::kLockTick:
      return true;
    default:
      return false;
  }
}

int64_t NextLockEvent(const kvpb::LockRecord& record) {
  if (record.waiters().empty()) return 0;  // an idle lease needs no event: the next look ends it
  int64_t next = record.has_holder() ? record.holder().deadline_ms() : 0;
  for (const kvpb::LockWaiter& w : record.waiters()) {
    if (next == 0 || w.wait_deadline_ms() < next) next = w.wait_deadline_ms();
  }
  return std::max<int64_t>(next, 1);
}

raft::Status ExecuteLockOp(const kvpb::Command& c, uint64_t index, uint64_t shard, int64_t now,
                           Overlay* overlay, kvpb::Result* r, LockEffects* effects) {
  const std::string& name = LockName(c);
  if (c.op_case() == kvpb::Command::kLockAcquire) {
    if (std::string why = AcquireProblem(c.lock_acquire()); !why.empty()) {
      *r = Invalid(index, why);
      return raft::Status::Ok();
    }
  } else if (!ValidName(name)) {
    *r = Invalid(index, "lock name must be 1 to 4096 bytes");
    return raft::Status::Ok();
  }
  const std::string lock_key = keys::LockKey(shard, name);
  std::optional<kvpb::LockRecord> current;
  raft::Status s = overlay->Read(lock_key, &current);
  if (!s.ok()) return s;
  const bool is_acquire = c.op_case() == kvpb::Command::kLockAcquire;
  if (!current && !is_acquire) {  // keepalive or release of a lock never acquired; a late tick
    *r = Outcome(c.op_case() == kvpb::Command::kLockTick ? kvpb::RESULT_OK : kvpb::RESULT_NOT_FOUND,
                 index);
    return raft::Status::Ok();
  }
  kvpb::LockRecord record = current.value_or(kvpb::LockRecord());
  s = Settle(&record, now, index, shard, overlay, effects);
  if (!s.ok()) return s;
  switch (c.op_case()) {
    case kvpb::Command::kLockAcquire:
      *r = Acquire(c, &record, now, index);
      break;
    case kvpb::Command::kLockKeepalive:
    case kvpb::Command::kLockRelease: {
      const bool keepalive = c.op_case() == kvpb::Command::kLockKeepalive;
      const uint64_t token = keepalive ? c.lock_keepalive().token() : c.lock_release().token();
      if (!record.has_holder() || record.holder().token() != token) {
        *r = Outcome(kvpb::RESULT_FENCED, index);
        r->set_message("the lock is not held with this token");
        break;
      }
      *r = Outcome(kvpb::RESULT_OK, index);
      r->set_token(token);
      r->set_ttl_ms(record.holder().ttl_ms());
      if (keepalive) {
        record.mutable_holder()->set_deadline_ms(now + record.holder().ttl_ms());
      } else {
        record.clear_holder();
        s = Settle(&record, now, index, shard, overlay, effects);  // the next waiter's turn
        if (!s.ok()) return s;
      }
      break;
    }
    default:  // a tick: Settle did the work
      *r = Outcome(kvpb::RESULT_OK, index);
      break;
  }
  overlay->Put(lock_key, record);  // kept when free: it holds the last token
  effects->name = name;
  effects->next_event_ms = NextLockEvent(record);
  return raft::Status::Ok();
}

raft::Status CheckFence(const kvpb::Fence& fence, const std::string& key, uint64_t shard,
                        int64_t now, uint64_t index, Overlay* overlay, kvpb::Result* r, bool* ok) {
  *ok = false;
  if (!ValidName(fence.lock()) || fence.token() == 0) {
    *r = Invalid(index, "a fence needs a lock name and a positive token");
    return raft::Status::Ok();
  }
  std::optional<kvpb::LockRecord> lock;
  raft::Status s = overlay->Read(keys::LockKey(shard, fence.lock()), &lock);
  if (!s.ok()) return s;
  if (fence.lock_in_shard() || lock) {  // the lock lives here: it must be held with the token
    const bool held = lock && lock->has_holder() && lock->holder().token() == fence.token() &&
                      lock->holder().deadline_ms() > now;
    if (!held) {
      *r = Outcome(kvpb::RESULT_FENCED, index);
      r->set_message("the lock is not held with this token");
      return raft::Status::Ok();
    }
  }
  std::optional<kvpb::FenceRecord> marks;
  s = overlay->Read(keys::FenceKey(shard, key), &marks);
  if (!s.ok()) return s;
  if (marks) {
    bool known = false;
    for (const kvpb::FenceMark& m : marks->marks()) {
      if (m.lock() != fence.lock()) continue;
      known = true;
      if (m.token() > fence.token()) {
        *r = Outcome(kvpb::RESULT_FENCED, index);
        r->set_message("the key accepted a write fenced by a larger token of this lock");
        return raft::Status::Ok();
      }
    }
    if (!known && static_cast<size_t>(marks->marks_size()) >= kMaxFencesPerKey) {
      *r = Invalid(index, "the key is fenced by 16 locks already");
      return raft::Status::Ok();
    }
  }
  *ok = true;
  return raft::Status::Ok();
}

raft::Status RecordFence(const kvpb::Fence& fence, const std::string& key, uint64_t shard,
                         Overlay* overlay) {
  const std::string fence_key = keys::FenceKey(shard, key);
  std::optional<kvpb::FenceRecord> marks;
  raft::Status s = overlay->Read(fence_key, &marks);
  if (!s.ok()) return s;
  kvpb::FenceRecord record = marks.value_or(kvpb::FenceRecord());
  for (kvpb::FenceMark& m : *record.mutable_marks()) {
    if (m.lock() != fence.lock()) continue;
    if (m.token() >= fence.token()) return raft::Status::Ok();
    m.set_token(fence.token());
    overlay->Put(fence_key, record);
    return raft::Status::Ok();
  }
  kvpb::FenceMark* m = record.add_marks();
  m->set_lock(fence.lock());
  m->set_token(fence.token());
  overlay->Put(fence_key, record);
  return raft::Status::Ok();
}

}  // namespace kvd::kv
