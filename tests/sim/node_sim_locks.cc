// NodeSim: lock workers and the lock checks (docs/design.md, Locks and fencing).
//
// Workers contend for one lock, "{g}L", that guards one key, "{g}fk" (same tag: same shard).
// Each acquires (sometimes queueing), writes the key fenced by its token (sometimes only after
// stalling past its lease, like a paused process), sometimes keeps the lease alive, and
// releases. Checks:
//   - mutual exclusion as the workers see it: a worker believes it holds the lock from the
//     acknowledgement until its TTL (minus the drift margin) after it SENT the acquire or its
//     last acknowledged keepalive, or until it sent the release; no two tokens' beliefs overlap
//     (the lease is decided by the leader-stamped shard clock, which the nodes' drifting
//     monotonic clocks drive);
//   - fencing: the key's accepted writes, in log order, carry non-decreasing tokens, and none is
//     applied after its own token's release or after an acquire granted a larger token.
#include <algorithm>

#include "tests/sim/node_sim_impl.h"

namespace kvd::sim::node_sim {
namespace {

constexpr char kLock[] = "{g}L";
constexpr char kGuarded[] = "{g}fk";
// The nodes' monotonic clocks run up to 1% fast or slow (node_sim_nodes.cc): a lease measured by
// a fast leader ends up to 1% early in true time. Workers keep a 2% margin.
constexpr double kLeaseMargin = 0.98;

uint64_t TokenOfValue(const std::string& value) {  // "L<worker>:<token>:<n>"
  const size_t a = value.find(':');
  if (a == std::string::npos) return 0;
  return std::stoull(value.substr(a + 1));
}

}  // namespace

void NodeSim::LockIssue(uint64_t wid) {
  LockWorker& w = lock_workers_[wid - 1];
  if (clients_stop_ || failed() || w.busy) return;
  w.busy = true;
  w.seq++;
  w.ttl = rng_.Range(150, 400);
  kv::LockRequest req;
  req.op = kv::LockOp::kAcquire;
  req.name = kLock;
  req.owner = "L" + std::to_string(w.id);
  req.ttl_ms = w.ttl;
  req.wait_ms = rng_.Chance(0.5) ? rng_.Range(50, 600) : 0;
  req.client_id = "L" + std::to_string(w.id);
  req.seq = w.seq;
  w.sent = q_.now();
  const uint64_t attempt = ++w.attempt;
  LockCall(w, req, kClientTimeoutMs + req.wait_ms, [this, wid, attempt](kv::LockResponse r) {
    LockWorker& lw = lock_workers_[wid - 1];
    if (lw.attempt != attempt) return;
    if (r.code != kv::ErrorCode::kOk) return LockIdle(lw);
    result_.locks_granted++;
    lw.token = r.token;
    leases_.push_back(
        {r.token, lw.id, q_.now(), lw.sent + static_cast<int64_t>(lw.ttl * kLeaseMargin)});
    lw.lease = leases_.size() - 1;
    const bool stall = rng_.Chance(0.25);
    const int64_t delay = stall ? 2 * lw.ttl : rng_.Range(0, lw.ttl / 4);
    q_.After(delay, [this, wid, attempt, stall] {
      if (lock_workers_[wid - 1].attempt == attempt) LockWrite(wid, stall);
    });
  });
}

void NodeSim::LockWrite(uint64_t wid, bool stalled) {
  LockWorker& w = lock_workers_[wid - 1];
  kv::WriteRequest req;
  req.key = kGuarded;
  req.value =
      "L" + std::to_string(w.id) + ":" + std::to_string(w.token) + ":" + std::to_string(w.seq);
  req.fence = kv::Fence{kLock, w.token};
  req.client_id = "L" + std::to_string(w.id);
  req.seq = ++w.seq;
  const uint64_t attempt = ++w.attempt;
  SimNode* n = PickNode(w.hint);
  q_.After(kClientTimeoutMs, [this, wid, attempt] {
    LockWorker& lw = lock_workers_[wid - 1];
    if (lw.attempt == attempt) LockRelease(wid);
  });
  if (n == nullptr) return;
  w.hint = n->id;
  OnNode(*n, [&](kv::NodeCore& core) {
    core.Write(req, [this, wid, attempt, stalled](kv::WriteResponse answer) {
      q_.After(0, [this, wid, attempt, stalled, r = std::move(answer)] {
        LockWorker& lw = lock_workers_[wid - 1];
        if (lw.attempt != attempt) return;
        if (r.code == kv::ErrorCode::kOk) result_.fenced_writes_ok++;
        if (r.code == kv::ErrorCode::kFenced)
          (stalled ? result_.stale_writes_fenced : result_.fenced_refused)++;
        if (r.code == kv::ErrorCode::kOk && rng_.Chance(0.3)) return LockKeepalive(wid);
        LockRelease(wid);
      });
    });
  });
}

void NodeSim::LockKeepalive(uint64_t wid) {
  LockWorker& w = lock_workers_[wid - 1];
  kv::LockRequest req;
  req.op = kv::LockOp::kKeepalive;
  req.name = kLock;
  req.token = w.token;
  const int64_t sent = q_.now();
  const uint64_t attempt = ++w.attempt;
  LockCall(w, req, kClientTimeoutMs, [this, wid, attempt, sent](kv::LockResponse r) {
    LockWorker& lw = lock_workers_[wid - 1];
    if (lw.attempt != attempt) return;
    if (r.code == kv::ErrorCode::kOk) {
      Lease& l = leases_[lw.lease];
      l.end = std::max(l.end, sent + static_cast<int64_t>(lw.ttl * kLeaseMargin));
    }
    LockRelease(wid);
  });
}

void NodeSim::LockRelease(uint64_t wid) {
  LockWorker& w = lock_workers_[wid - 1];
  Lease& l = leases_[w.lease];
  l.end = std::min(l.end, q_.now());  // the worker stops relying on it as it sends the release
  kv::LockRequest req;
  req.op = kv::LockOp::kRelease;
  req.name = kLock;
  req.token = w.token;
  const uint64_t attempt = ++w.attempt;
  LockCall(w, req, kClientTimeoutMs, [this, wid, attempt](kv::LockResponse) {
    LockWorker& lw = lock_workers_[wid - 1];
    if (lw.attempt == attempt) LockIdle(lw);
  });
}

void NodeSim::LockIdle(LockWorker& w) {
  w.busy = false;
  w.attempt++;
  const uint64_t wid = w.id;
  q_.After(rng_.Range(5, 80), [this, wid] { LockIssue(wid); });
}

void NodeSim::LockCall(LockWorker& w, const kv::LockRequest& req, int64_t timeout,
                       std::function<void(kv::LockResponse)> done) {
  const uint64_t wid = w.id, attempt = w.attempt;
  auto shared = std::make_shared<std::function<void(kv::LockResponse)>>(std::move(done));
  q_.After(timeout, [this, wid, attempt, shared] {
    if (lock_workers_[wid - 1].attempt != attempt) return;
    kv::LockResponse r;
    r.code = kv::ErrorCode::kTimeout;
    (*shared)(r);
  });
  SimNode* n = PickNode(w.hint);
  if (n == nullptr) return;
  w.hint = n->id;
  // Answers are handled as events of their own: a worker's next step must not re-enter the
  // node from inside its round.
  OnNode(*n, [&](kv::NodeCore& core) {
    core.Lock(req, [this, shared](kv::LockResponse r) {
      q_.After(0, [shared, r = std::move(r)] { (*shared)(r); });
    });
  });
}

void NodeSim::OnLockApply(uint64_t shard, uint64_t index, const kvpb::Command& cmd,
                          const kvpb::Result& r) {
  if (r.code() != kvpb::RESULT_OK) return;
  if (cmd.has_put() && cmd.put().key() == kGuarded) {
    fenced_applied_[{shard, index}] = TokenOfValue(cmd.put().value());
  } else if (cmd.has_lock_release() && cmd.lock_release().name() == kLock) {
    lock_ends_[{shard, index}] = cmd.lock_release().token();
  } else if (cmd.has_lock_acquire() && cmd.lock_acquire().name() == kLock &&
             r.revision() == index) {
    lock_grants_[{shard, index}] = r.token();
  }
}

void NodeSim::CheckLocks() {
  // Mutual exclusion as the workers believed it.
  for (size_t i = 0; i < leases_.size(); ++i) {
    for (size_t j = i + 1; j < leases_.size(); ++j) {
      const Lease& a = leases_[i];
      const Lease& b = leases_[j];
      if (a.token == b.token || a.start >= a.end || b.start >= b.end) continue;
      if (a.start < b.end && b.start < a.end) {
        return Fail("two lock holders at once: token " + std::to_string(a.token) + " (worker L" +
                    std::to_string(a.worker) + ", " + std::to_string(a.start) + ".." +
                    std::to_string(a.end) + " ms) and token " + std::to_string(b.token) +
                    " (worker L" + std::to_string(b.worker) + ", " + std::to_string(b.start) +
                    ".." + std::to_string(b.end) + " ms)");
      }
    }
  }
  // Fencing, in log order.
  uint64_t highest = 0, highest_grant = 0;
  std::set<uint64_t> released;
  auto grant = lock_grants_.begin();
  auto end = lock_ends_.begin();
  for (const auto& [slot, token] : fenced_applied_) {
    for (; grant != lock_grants_.end() && grant->first < slot; ++grant) {
      highest_grant = std::max(highest_grant, grant->second);
    }
    for (; end != lock_ends_.end() && end->first < slot; ++end) released.insert(end->second);
    const std::string at = " at " + std::to_string(slot.first) + "/" + std::to_string(slot.second);
    if (token < highest) {
      return Fail("fenced write with token " + std::to_string(token) + " accepted" + at +
                  " after one with token " + std::to_string(highest));
    }
    if (token < highest_grant) {
      return Fail("fenced write with token " + std::to_string(token) + " accepted" + at +
                  " after the lock was granted with token " + std::to_string(highest_grant));
    }
    if (released.count(token)) {
      return Fail("fenced write with token " + std::to_string(token) + " accepted" + at +
                  " after that token's release");
    }
    highest = token;
  }
}

}  // namespace kvd::sim::node_sim
