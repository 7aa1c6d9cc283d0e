// LockSession: the lock workloads of kvd_loadgen, one per connection (bench/README.md,
// "Locks: locks_bench.sh"). The connection asks it for each request and hands it each
// response; an operation may take several requests (etcd), and setup requests (taking the lock a
// connection holds, granting a session lease) are not counted unless they fail.
//
//   acquire      each connection cycles acquire (wait 0) + release over --lock-names distinct
//                names of its own ("lock-<nonce>-<conn>-<epoch>-<i>", nonce per process; a new
//                epoch after a failure), so nothing is ever contended. Counted as two operations:
//                acquire and release (cycles/s = the release rate).
//     kvd:  acquire  POST /v1/locks/{name} {"owner","ttl_ms","wait_ms":0} -> token
//           release  DELETE /v1/locks/{name}?token=T
//     etcd (per-lock lease, the default): acquire = POST /v3/lease/grant {"TTL"} then
//           POST /v3/lock/lock {"name","lease"} -> key; release = POST /v3/lock/unlock {"key"}
//           then POST /v3/lease/revoke {"ID"}. Each is one operation of two requests, timed from
//           the first request's start to the second's response.
//     etcd --etcd-lease session: one lease per connection, granted once (setup); acquire = lock,
//           release = unlock (etcd's concurrency.Session pattern).
//   fenced-put   each connection takes one lock "{f<nonce>-<conn>}lock" once (setup, --hold-ttl-ms)
//                and writes keys "{f<nonce>-<conn>}k-<j>" (j < --lock-keys, random) that share its
//                tag, so kvd checks the holder in the same shard and the key's fence. Mixed with
//                put, plain puts go to the same keys.
//     kvd:  PUT /v1/kv/{key} with X-Fence: {name}:{token}
//     etcd: no server-side fencing; the closest equivalent is a transaction that compares the
//           lock key's create_revision (the etcd lock's "token") and puts:
//           POST /v3/kv/txn {"compare":[{"target":"CREATE","key":lock key,"create_revision":R}],
//           "success":[{"request_put":{...}}]}; "succeeded" missing counts as error "fenced".
//           Setup: lease grant, lock, range of the lock key for R.
//
// Threading: one per connection, used on its event-loop thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "bench/loadgen_dialect.h"
#include "bench/loadgen_options.h"

namespace kvd::bench {

class LockSession {
 public:
  LockSession(const Options& options, const Dialect& dialect, int connection, uint64_t seed);

  struct Request {
    Op op;           // the operation this request belongs to
    bool begins_op;  // the first request of an operation (its latency starts here)
  };
  // Fills *req (method, target, body, content headers, X-Fence) with the connection's next request.
  Request Next(HttpRequest* req);

  // The response to the last request from Next. nullopt: nothing to count (the operation goes on
  // with another request, or a setup step succeeded); otherwise the operation is over with this
  // error kind ("" for success).
  std::optional<std::string> OnResponse(const HttpResponse& res);

  // The last request failed without a response (timeout, I/O): the operation is over, its outcome
  // unknown; forget what it may have taken.
  void OnTransportError();

 private:
  enum class Step {
    kKvdAcquire,
    kKvdRelease,
    kKvdHold,
    kKvdPut,
    kEtcdGrant,
    kEtcdLock,
    kEtcdUnlock,
    kEtcdRevoke,
    kEtcdRange,
    kEtcdPut,
    kEtcdTxn,
  };
  enum class Stage { kIdle, kAcquiring, kHolding, kReleasing };

  void NextAcquire(HttpRequest* req);
  void NextFenced(HttpRequest* req);
  void Json(HttpRequest* req, const std::string& target, std::string body) const;
  std::string AcquireName() const;
  std::string EtcdPutBody(const std::string& key_b64) const;
  std::optional<std::string> Fail(const HttpResponse& res);

  const Options& options_;
  const Dialect& dialect_;
  const bool kvd_;
  const bool acquire_;  // the acquire workload; otherwise fenced-put (+ put)
  std::string prefix_;  // "lock-<nonce>-<conn>-" or "{f<nonce>-<conn>}"
  std::string owner_;
  std::mt19937_64 rng_;

  Step step_ = Step::kKvdAcquire;
  Op op_ = Op::kAcquire;
  bool setup_ = false;  // the current request is a setup step

  // acquire: the name index, where the cycle is, and what the last acquire got. A failed acquire
  // may have taken its lock all the same (a timeout, a 503 or 504 just after the cluster started),
  // which would then be held for its TTL and refuse the name's next turn with lock_held: after any
  // failed acquire or release, the connection moves on to a fresh set of names (a new epoch).
  uint64_t name_index_ = 0;
  uint64_t epoch_ = 0;
  Stage stage_ = Stage::kIdle;
  uint64_t token_ = 0;    // kvd
  std::string lease_;     // etcd: this lock's lease ID, or the session's
  std::string lock_key_;  // etcd: the lock's key (base64)

  // fenced-put: the held lock, and the key of the current request.
  bool held_ = false;
  uint64_t hold_token_ = 0;    // kvd
  std::string hold_lease_;     // etcd
  std::string hold_key_;       // etcd, base64
  std::string hold_revision_;  // etcd: the lock key's create_revision
  std::string key_;            // kvd: URL path; etcd: base64
};

}  // namespace kvd::bench
