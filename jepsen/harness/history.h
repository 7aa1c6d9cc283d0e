// Copyright (c) kvd authors.
//
// History: every client operation of a run, as recorded by the workers (workload.h). Times are
// nanoseconds since the run's start on the steady clock. Append() is thread-safe; the other
// methods are for after the workers stopped.

#ifndef KVD_JEPSEN_HARNESS_HISTORY_H_
#define KVD_JEPSEN_HARNESS_HISTORY_H_

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "jepsen/checker/operation.h"

namespace kvd::jepsen {

// One micro-operation of a transaction (the bank and append workloads, txn_client.h):
//   "r": a read of `key`; `value` is what it saw (append: the list, "" when empty or absent;
//        bank: the balance, nullopt when absent). Only meaningful in an ok operation.
//   "append": appends the element `value` to the list at `key`.
//   "w": writes `value` to `key` (a bank balance).
struct Mop {
  std::string f;
  std::string key;
  std::optional<std::string> value;
};

struct HistoryOp {
  int worker = 0;       // -1 for the final reads after healing
  int64_t process = 0;  // a worker takes a new process id after an unknown outcome
  // "read" | "write" | "cas" | "add" | "scan" | "acquire" | "release" | "keepalive"; the
  // transactions: "txn" (append), "setup", "read_pair", "transfer", "read_all" (bank)
  std::string f;
  std::string key;
  std::optional<std::string> value;     // write/cas/add: the value written
  std::optional<std::string> expected;  // cas: the value compared against (nullopt = absent)
  std::optional<uint64_t> if_version;   // cas: the version precondition that implements it
  lincheck::Outcome outcome = lincheck::Outcome::kOk;
  std::optional<std::string> result;  // read: the value read (nullopt = absent)
  bool cas_mismatch = false;          // cas fail: 412, the comparison failed
  std::string error;                  // fail/unknown: why (status, API code, transport error)
  std::string endpoint;
  uint64_t shard = 0;  // X-Kv-Shard of the answer: the shard that served it (0: none given)
  // The lock workload (lock_workload.h): the lock acquired or released, or a write's X-Fence
  // lock; its token (acquire: the one granted); the revision and key version of an ok answer;
  // `stale`: a write sent after the worker slept past its lease on purpose.
  std::string lock;
  uint64_t token = 0;
  uint64_t revision = 0;
  uint64_t version = 0;
  bool stale = false;
  // Transactions (bank, append): the micro-operations, and the participant shards the answer
  // listed (its "shards"; empty unless ok).
  std::vector<Mop> mops;
  std::vector<uint64_t> txn_shards;
  int64_t call_ns = 0;
  int64_t ret_ns = 0;
};

class History {
 public:
  void Append(HistoryOp op);
  std::vector<HistoryOp> Snapshot() const;  // in completion order
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<HistoryOp> ops_;  // GUARDED_BY(mu_)
};

// One JSON object per line.
bool WriteJsonl(const std::vector<HistoryOp>& ops, const std::string& path);

// The register operations as the checker takes them. Failed cas ops that were not a comparison
// failure (503, 4xx other than 412) are left out: they applied nothing and asserted nothing.
std::vector<lincheck::Operation> ToCheckerOps(const std::vector<HistoryOp>& ops);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_HISTORY_H_
