// The decisions that planted-bug test builds of kvd change (kv/node_impl.h), kept in this one
// file so that only it is compiled per variant (kv/node.cmake). The production library kvd_node
// defines none of the macros below; the Jepsen suite must report each bug (jepsen/CMakeLists.txt):
//   KVD_BUG_LOCAL_READS  every read is answered from the replica's applied state without
//                        confirming leadership: "linearizable" reads without ReadIndex
//                        (kvd_bug_local_reads);
//   KVD_BUG_EARLY_ACK    a write is acknowledged as soon as the leader proposed it, before it is
//                        committed (kvd_bug_early_ack).
// And the defects issue 8 traced in the node, which the node simulator must catch
// (tests/sim/CMakeLists.txt):
//   KVD_BUG_REUSE_REQUEST_IDS  request ids restart at 1 on every boot, so a late outcome of the
//                              previous incarnation's request answers a new one;
//   KVD_BUG_NO_RECONCILE       a kvdb left ahead of raftdb by a crash is not reconciled on open;
//   KVD_BUG_STAGED_INSTALL     a snapshot is installed from the staging area, which a resent
//                              stream may have restarted after Raft took the image.
// And issue 9's routing defect, which the node simulator must catch:
//   KVD_BUG_ROUTE_BY_OWN_FLAGS a node routes keys by the ring its own flags describe instead of
//                              the cluster's committed directory (a stale or misconfigured node
//                              serves keys its shard does not own).
// And issue 10's fencing defect, which the node simulator and the Jepsen lock workload must
// catch:
//   KVD_BUG_IGNORE_FENCE       the node drops a write's X-Fence when it proposes it, so a stale
//                              lock holder's writes are applied (kvd_bug_ignore_fence);
//   KVD_BUG_WALL_CLOCK_STAMPS  leaders stamp entries with the wall clock instead of the
//                              monotonic one, so a clock step moves the shard clock and ends
//                              lock leases early.
// And issue 11's transaction defects, which the node simulator and the Jepsen bank and append
// workloads must catch:
//   KVD_BUG_EARLY_TXN_ANSWER   the coordinator answers success once every participant voted
//                              yes, before the record reached its commit point
//                              (kvd_bug_early_txn_answer);
//   KVD_BUG_DROP_STALE_INTENTS a participant drops an intent that outlived the transaction's
//                              time-to-live without asking the record (kvd_bug_drop_stale_intents).
// And a test build that is not a bug: KVD_CRASH_AT_ENV makes the process exit at once at the
// crash point named by the environment variable KVD_CRASH_AT, at one in $KVD_CRASH_ONE_IN visits
// (kvd_crash_at, for the tests that kill -9 a transaction's coordinator at each step with real
// processes; the transaction bug builds have it too, so Jepsen can crash them there).
#include <cstdlib>
#include <cstring>
#include <random>

#include "kv/node_impl.h"

namespace kvd::kv {

bool ServeFromLocalState(bool stale_requested) {
#ifdef KVD_BUG_LOCAL_READS
  (void)stale_requested;
  return true;
#else
  return stale_requested;
#endif
}

bool AckOnPropose() {
#ifdef KVD_BUG_EARLY_ACK
  return true;
#else
  return false;
#endif
}

uint64_t RequestIdBoot(uint64_t boot) {
#ifdef KVD_BUG_REUSE_REQUEST_IDS
  (void)boot;
  return 0;
#else
  return boot;
#endif
}

bool ReconcileOnOpen() {
#ifdef KVD_BUG_NO_RECONCILE
  return false;
#else
  return true;
#endif
}

bool KeepAcceptedImageAside() {
#ifdef KVD_BUG_STAGED_INSTALL
  return false;
#else
  return true;
#endif
}

bool RouteByCommittedDirectory() {
#ifdef KVD_BUG_ROUTE_BY_OWN_FLAGS
  return false;
#else
  return true;
#endif
}

bool HonourFences() {
#ifdef KVD_BUG_IGNORE_FENCE
  return false;
#else
  return true;
#endif
}

bool StampWithMonotonicClock() {
#ifdef KVD_BUG_WALL_CLOCK_STAMPS
  return false;
#else
  return true;
#endif
}

void DieIfAsked(CrashPoint p) {
#ifdef KVD_CRASH_AT_ENV
  // $KVD_CRASH_ONE_IN (default 1): die only at one in that many visits of the point, at random.
  static const char* const at = std::getenv("KVD_CRASH_AT");
  static const int one_in = [] {
    const char* n = std::getenv("KVD_CRASH_ONE_IN");
    return n != nullptr && std::atoi(n) > 0 ? std::atoi(n) : 1;
  }();
  static std::mt19937_64 rng{std::random_device{}()};
  if (at != nullptr && std::strcmp(at, CrashPointName(p)) == 0 && rng() % one_in == 0) {
    std::_Exit(137);
  }
#else
  (void)p;
#endif
}

bool AnswerAtCommitPoint() {
#ifdef KVD_BUG_EARLY_TXN_ANSWER
  return false;
#else
  return true;
#endif
}

bool AskRecordForStaleIntents() {
#ifdef KVD_BUG_DROP_STALE_INTENTS
  return false;
#else
  return true;
#endif
}

}  // namespace kvd::kv
