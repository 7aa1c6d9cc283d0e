// Copyright (c) kvd authors.
//
// The lock workload's own checks (lock_workload.h; docs/api.md "Locks"), over the history's
// acquire, release, read, write and cas operations. The guarded keys' linearizability is checked
// apart, by the register checker (ToCheckerOps).
//
// Fences. Every accepted (200) fenced write carries the revision the key's shard gave it, so the
// accepted writes of a key are totally ordered by revision. Along that order:
//   (b) tokens never decrease: a write accepted after one fenced by a larger token of the same
//       lock is exactly what X-Fence exists to refuse;
//   (c) one token's writes come from one worker, the one the token was granted to (writes of
//       two holders do not interleave: with (b), once a larger token wrote, a smaller one never
//       writes again);
//   and revisions are unique and key versions grow with them.
// Tokens. A token is granted once (two ok acquires never get the same one) and tokens grow in
// real time: an acquire that returned before another was invoked got the smaller token.
// Leases, by Raft index in the lock's shard (a token is the index of the entry that granted it):
// a keepalive or release of token T must not be accepted at a revision after a larger token T'
// was granted (at index T'), nor after the release of T was applied. The same holds for a write
// fenced by T when the lock lives in the key's shard (one Raft log, so a write's revision is
// comparable): rule 2 of X-Fence refuses it.
//
// Pure functions; thread-safe.

#ifndef KVD_JEPSEN_HARNESS_LOCK_CHECK_H_
#define KVD_JEPSEN_HARNESS_LOCK_CHECK_H_

#include <cstddef>
#include <string>
#include <vector>

#include "jepsen/harness/history.h"

namespace kvd::jepsen {

struct LockCheckOptions {
  // Each lock lives in the shard of the key it guards (the lease checks apply).
  bool lock_with_key = true;
  // Non-vacuity: stalls past the lease were requested, so a stale write must have been refused.
  bool stalls_requested = false;
};

struct LockCheckResult {
  // Counts over the workers' operations.
  size_t acquires = 0, acquires_ok = 0, acquires_held = 0, acquires_failed = 0,
         acquires_unknown = 0;  // held: 409 lock_held; failed: any other refusal
  size_t fenced_writes = 0, fenced_ok = 0, fenced_refused = 0, fenced_mismatch = 0,
         fenced_failed = 0, fenced_unknown = 0;  // refused: 409 fenced; mismatch: 412
  size_t stale_writes = 0, stale_refused = 0, stale_accepted = 0, stale_other = 0;
  size_t releases = 0, releases_ok = 0, releases_fenced = 0, releases_other = 0;
  size_t keepalives = 0, keepalives_ok = 0, keepalives_fenced = 0, keepalives_other = 0;
  size_t reads = 0, reads_ok = 0;
  size_t keys_checked = 0;  // keys with accepted fenced writes

  std::vector<std::string> anomalies;  // one line per kind, with a count and the first example
  std::vector<std::string> vacuity;    // what the run failed to show

  bool valid() const { return anomalies.empty(); }
};

LockCheckResult CheckLocks(const std::vector<HistoryOp>& ops, const LockCheckOptions& options);

// One line for the summary: the counts above.
std::string LockSummaryLine(const LockCheckResult& r);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_LOCK_CHECK_H_
