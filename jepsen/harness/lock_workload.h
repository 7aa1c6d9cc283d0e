// Copyright (c) kvd authors.
//
// The lock workload (docs/api.md "Locks"; checks in lock_check.h): `concurrency` workers contend
// for a few locks, each guarding one key. A worker loops over critical sections:
//
//   1. acquire: POST /v1/locks/{lock} {"owner": "w<i>", "ttl_ms", "wait_ms"} with an
//      Idempotency-Key (the client retries an unknown outcome with the same key to learn it);
//   2. read the guarded key linearizably;
//   3. with probability --lock-stall-probability, sleep twice the TTL: the holder that overslept
//      its lease, whose write fencing must refuse;
//   3b. sometimes (a fifth of the sections, half of those that stalled) a keepalive of the lease;
//   4. PUT a value unique to the run ("w<i>:<token>:<n>") with X-Fence: {lock}:{token}, as a
//      compare-and-set on the version it read half of the time (never after a stall: a stale
//      holder's write is then fenced or nothing is), and half of the time once more as a cas on
//      the version the first write returned;
//   5. release: DELETE /v1/locks/{lock}?token=T.
//
// Lock i is "{g<i>}lock" and guards "{g<i>}data": one tag, so one shard, where X-Fence also
// checks that the lock is held. With other_shard, the lock's tag is chosen to land in another
// shard than the key (fences then only keep a key's tokens from going backwards).
//
// Every operation is recorded in the History: acquire, keepalive and release with the lock and
// token, the key's reads and fenced writes with the token, revision and version of ok answers
// (the writes' and reads' outcomes feed the register checker; a 409 fenced or a refused cas
// applied nothing, a 412 is a failed comparison). A worker whose operation had an unknown
// outcome continues as a new process id.
//
// Thread-safety: Start/Stop from one controlling thread.

#ifndef KVD_JEPSEN_HARNESS_LOCK_WORKLOAD_H_
#define KVD_JEPSEN_HARNESS_LOCK_WORKLOAD_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "jepsen/harness/history.h"
#include "jepsen/harness/options.h"
#include "jepsen/harness/workload.h"

namespace kvd::jepsen {

struct LockTarget {
  std::string lock;
  std::string key;  // the key the lock guards
};

// The locks and their keys (see above): "{g0}.." to "{g<count-1>}..", and with shard_of (a ring
// of `shards` shards) more, the next tags whose keys land in shards not covered yet, until the
// keys cover every shard (so that every shard has traffic: idle shards quiesce, and a paused
// leader's idle shards would not elect). other_shard needs shard_of and several shards; returns
// an empty list if no tag lands elsewhere.
std::vector<LockTarget> LockTargets(int count, bool other_shard, const ShardOf& shard_of,
                                    int shards = 1);

// The value of X-Fence: the lock's name, raw, then ':' and the token.
std::string FenceValue(const std::string& lock, uint64_t token);

// "/v1/locks/" + the percent-encoded name.
std::string LockPath(const std::string& lock);

// A top-level unsigned integer field of a JSON object, e.g. "token" of {"token": 12, ...}
// (fields of nested objects, such as a 409's holder, are skipped). nullopt if absent or not one.
std::optional<uint64_t> JsonTopLevelUint(std::string_view body, std::string_view field);

class LockWorkers {
 public:
  LockWorkers(const Options& options, std::vector<std::string> endpoints, History& history,
              Clock::time_point start, std::vector<LockTarget> targets);
  ~LockWorkers();  // stops and joins
  void Start();
  void Stop();
  std::vector<std::string> Keys() const;  // the guarded keys

 private:
  void Run(int worker);
  bool Stall(std::chrono::milliseconds d) const;  // false if stopped meanwhile

  const Options& options_;
  const std::vector<std::string> endpoints_;
  History& history_;
  const Clock::time_point start_;
  const std::vector<LockTarget> targets_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> next_process_;
  std::vector<std::thread> threads_;
};

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_LOCK_WORKLOAD_H_
