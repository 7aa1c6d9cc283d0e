// Copyright (c) kvd authors.
//
// The crash nemesis (--nemesis crash, --crash-at POINT, --crash-one-in N). Every node runs with
// KVD_CRASH_AT=POINT and KVD_CRASH_ONE_IN=N in its environment (LocalCluster::Config::env, kept
// on every restart), so a test build of kvd (kvd_crash_at, the transaction bug builds) exits at
// once with code 137, like kill -9, at one in N visits of that point; the production kvd never
// does. The CrashWatcher notices a node that exited on its own (LocalCluster::TakeExits, polled
// every 20 ms, and the exits the kill and pause nemeses met first) and starts it again on the
// same data directory after a seeded delay of 0.2-1 s. It runs from just after the nodes start
// (crashes can happen while the bank accounts are created and in the warmup) until after the
// final reads, beside the other nemeses: it never restarts a node that the kill nemesis holds
// down, since that one did not exit on its own.
//
// What the run must show with it (CrashResult::vacuity, exit 3 otherwise): some node crashed at
// the point; every exit was a crash at the point (anything else, e.g. a kvd that aborts while
// recovering, is reported); the cluster committed operations after the first crash (for
// transactions over several shards: a transaction spanning several shards); and, for the
// transaction workloads, no transaction stays in doubt after healing (GET /v1/txns empties on
// every node within the TTL, 3 s, plus elections: AwaitNoneInDoubt).
//
// Thread-safety: Start/SetLog/Stop/Result from one controlling thread; the watcher's own thread
// does the rest.

#ifndef KVD_JEPSEN_HARNESS_CRASH_WATCH_H_
#define KVD_JEPSEN_HARNESS_CRASH_WATCH_H_

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "jepsen/harness/history.h"
#include "jepsen/harness/local_cluster.h"
#include "jepsen/harness/options.h"
#include "jepsen/harness/workload.h"

namespace kvd::jepsen {

// The crash nemesis's environment for every node: {"KVD_CRASH_AT=...", "KVD_CRASH_ONE_IN=..."}
// with o.crash, else none.
std::vector<std::string> CrashEnvironment(const Options& o);

// One exit of a node on its own and its restart.
struct CrashRecord {
  ExitEvent exit;
  Clock::time_point restarted{};  // by the watcher; the epoch if the final healing did it
  bool restart_failed = false;
};

// Whether GET /v1/txns emptied on every node after healing.
struct InDoubt {
  bool checked = false;
  bool drained = false;
  double seconds = 0;  // until it drained, or the time waited
  std::string left;    // what was still listed, e.g. "n1: 2-17 committed (record shard 3)"
};

// Polls GET /v1/txns on every running node until none lists a transaction, up to `timeout`.
InDoubt AwaitNoneInDoubt(const LocalCluster& cluster, std::chrono::seconds timeout);

// The summary of the crash nemesis.
struct CrashResult {
  std::string point;
  int one_in = 0;
  int crashes = 0;  // exits with code 137
  std::map<int, int> crashes_by_node;
  int restarts = 0;                      // by the watcher
  std::vector<std::string> other_exits;  // "n2 exit 1 at 12.3 s"
  double first_crash_s = -1;             // on the history's clock; negative before the workload
  bool first_crash_known = false;
  size_t ok_after_first_crash = 0;  // ok operations invoked after it
  size_t ok_multi_shard_after_first_crash = 0;
  InDoubt in_doubt;
  std::vector<std::string> vacuity;  // see the file comment
};

std::string CrashSummaryLine(const CrashResult& r);

class CrashWatcher {
 public:
  CrashWatcher(const Options& options, LocalCluster& cluster);
  ~CrashWatcher();  // stops
  CrashWatcher(const CrashWatcher&) = delete;
  CrashWatcher& operator=(const CrashWatcher&) = delete;

  void Start();
  // Where the watcher logs (nemesis.log); lines logged before go there now, marked as such.
  void SetLog(std::function<void(const std::string&)> log);
  // Joins the thread and takes the exits not yet seen (without restarting them: the caller
  // stops the cluster next).
  void Stop();
  // After Stop. `start`: the history's clock; `multi_shard`: the keys span several shards.
  CrashResult Result(const std::vector<HistoryOp>& ops, Clock::time_point start, bool multi_shard,
                     InDoubt in_doubt) const;

 private:
  void Run();
  void Poll(bool restart);
  void Log(const std::string& line);

  const Options& options_;
  LocalCluster& cluster_;
  std::mt19937_64 rng_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                             // GUARDED_BY(mu_)
  std::function<void(const std::string&)> log_;   // GUARDED_BY(mu_)
  std::vector<std::string> early_lines_;          // GUARDED_BY(mu_); before SetLog
  std::vector<CrashRecord> records_;              // GUARDED_BY(mu_)
  std::map<int, Clock::time_point> restart_due_;  // GUARDED_BY(mu_); node -> when
  std::thread thread_;
};

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_CRASH_WATCH_H_
