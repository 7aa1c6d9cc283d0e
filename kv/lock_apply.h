// Locks and fences as the state machine applies them (internal to kv/; docs/design.md, Locks and
// fencing). Deterministic: time is the shard clock of the entry being applied ('now').
//
// A lock's record (kvpb::LockRecord under keys::LockKey) holds its holder, its last token and its
// waiters in arrival order. Every lock command first brings the record up to 'now' (Settle): a
// holder whose deadline has come is dropped, waiters whose wait ran out are refused, and a free
// lock goes to the first waiter. So a lease ends exactly when the shard clock reaches its
// deadline, whichever command looks at it first; the leader proposes a LockTick when a lock with
// waiters is due, so that waiters do not depend on other traffic.
//
// Tokens: the Raft index of the granting entry, and never below last_token + 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/kv.pb.h"
#include "raft/status.h"

namespace kvd::kv {

class Overlay;  // kv/apply_overlay.h

// Bounds checked by apply (the HTTP layer checks them first, with clearer errors).
inline constexpr size_t kMaxLockNameBytes = 4096;
inline constexpr size_t kMaxLockOwnerBytes = 256;
inline constexpr int64_t kMinLockTtlMs = 100;
inline constexpr int64_t kMaxLockTtlMs = 3'600'000;
inline constexpr int64_t kMaxLockWaitMs = 300'000;
inline constexpr size_t kMaxLockWaiters = 1024;  // per lock; more: refused as held
inline constexpr size_t kMaxFencesPerKey = 16;   // distinct locks that fenced one key

// A queued acquire's final outcome (granted, or refused when its wait ran out), for the node
// whose client waits: proposer_node and request_id are those of the acquire's entry.
struct LockWakeup {
  uint64_t proposer_node = 0;
  uint64_t request_id = 0;
  kvpb::Result result;
};

// What a lock command did besides its own result.
struct LockEffects {
  std::vector<LockWakeup> wakeups;
  std::string name;           // the lock the command touched (empty: none)
  int64_t next_event_ms = 0;  // shard time its holder or a waiter is next due (0: nothing due)
};

bool IsLockOp(const kvpb::Command& c);

// Acquire, keepalive, release or tick at shard time 'now', in entry 'index'.
raft::Status ExecuteLockOp(const kvpb::Command& c, uint64_t index, uint64_t shard, int64_t now,
                           Overlay* overlay, kvpb::Result* r, LockEffects* effects);

// The fence rule for a write to 'key' (docs/api.md, X-Fence). *ok = false: *r is the refusal
// (RESULT_FENCED, or RESULT_INVALID for a malformed fence or one lock too many).
raft::Status CheckFence(const kvpb::Fence& fence, const std::string& key, uint64_t shard,
                        int64_t now, uint64_t index, Overlay* overlay, kvpb::Result* r, bool* ok);
// After the write applied: the key remembers the fence's token for its lock.
raft::Status RecordFence(const kvpb::Fence& fence, const std::string& key, uint64_t shard,
                         Overlay* overlay);

// The next time a lock record is due (0: nothing due), as in LockEffects.
int64_t NextLockEvent(const kvpb::LockRecord& record);

}  // namespace kvd::kv
