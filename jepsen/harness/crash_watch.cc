// Copyright (c) kvd authors.

#include "jepsen/harness/crash_watch.h"

#include <algorithm>
#include <cstdio>

#include "jepsen/harness/run.h"
#include "rpc/http_client.h"

namespace kvd::jepsen {
namespace {

constexpr auto kPollEvery = std::chrono::milliseconds(20);
constexpr double kRestartMinS = 0.2, kRestartMaxS = 1.0;

std::string Seconds(double s) {
  char out[32];
  std::snprintf(out, sizeof(out), "%.1f s", s);
  return out;
}

double SecondsSince(Clock::time_point start, Clock::time_point t) {
  return std::chrono::duration<double>(t - start).count();
}

}  // namespace

std::vector<std::string> CrashEnvironment(const Options& o) {
  if (!o.crash) return {};
  return {"KVD_CRASH_AT=" + o.crash_at, "KVD_CRASH_ONE_IN=" + std::to_string(o.crash_one_in)};
}

InDoubt AwaitNoneInDoubt(const LocalCluster& cluster, std::chrono::seconds timeout) {
  InDoubt r;
  r.checked = true;
  const auto begin = Clock::now();
  for (;;) {
    r.left.clear();
    bool empty = true;
    for (int n = 1; n <= cluster.size(); ++n) {
      if (!cluster.Running(n) || cluster.Paused(n)) continue;
      rpc::ClientOptions o;
      o.endpoints = {cluster.HttpAddress(n)};
      o.connect_timeout = o.request_timeout = std::chrono::milliseconds(2000);
      o.max_attempts = 1;
      o.retry_unavailable = false;
      const rpc::TxnListResult l = rpc::HttpClient(o).TxnList();
      if (!l.ok()) {
        empty = false;
        r.left += (r.left.empty() ? "" : "; ") + ("n" + std::to_string(n) + " did not answer");
        continue;
      }
      for (size_t i = 0; i < l.txns.size() && i < 3; ++i) {
        const rpc::TxnInfo& t = l.txns[i];
        r.left += (r.left.empty() ? "" : "; ") +
                  ("n" + std::to_string(n) + ": " + t.id + " " + t.state + " (record shard " +
                   std::to_string(t.record_shard) + ", age " + std::to_string(t.age_ms) + " ms)");
      }
      empty = empty && l.txns.empty();
    }
    r.seconds = SecondsSince(begin, Clock::now());
    if (empty) {
      r.drained = true;
      return r;
    }
    if (Clock::now() - begin >= timeout || g_interrupted) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::string CrashSummaryLine(const CrashResult& r) {
  std::string by_node;
  for (const auto& [node, count] : r.crashes_by_node) {
    by_node +=
        (by_node.empty() ? "" : ", ") + ("n" + std::to_string(node) + " " + std::to_string(count));
  }
  std::string line = "crash: at " + r.point + ", one in " + std::to_string(r.one_in) + ": " +
                     std::to_string(r.crashes) + " crashes" +
                     (by_node.empty() ? "" : " (" + by_node + ")") + ", " +
                     std::to_string(r.restarts) + " restarts by the watcher, " +
                     std::to_string(r.other_exits.size()) + " other exits";
  if (r.first_crash_known) {
    line += "; after the first crash (" + Seconds(r.first_crash_s) + ") " +
            std::to_string(r.ok_after_first_crash) + " ok ops, " +
            std::to_string(r.ok_multi_shard_after_first_crash) + " ok writes across shards";
  }
  if (r.in_doubt.checked) {
    line += r.in_doubt.drained
                ? "; no transaction in doubt after healing (" + Seconds(r.in_doubt.seconds) + ")"
                : "; STILL IN DOUBT after " + Seconds(r.in_doubt.seconds) + ": " + r.in_doubt.left;
  }
  return line;
}

CrashWatcher::CrashWatcher(const Options& options, LocalCluster& cluster)
    : options_(options), cluster_(cluster), rng_(options.seed ^ 0xc2b2ae3d27d4eb4fULL) {}

CrashWatcher::~CrashWatcher() { Stop(); }

void CrashWatcher::Start() {
  thread_ = std::thread([this] { Run(); });
}

void CrashWatcher::SetLog(std::function<void(const std::string&)> log) {
  std::vector<std::string> early;
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_ = std::move(log);
    early.swap(early_lines_);
  }
  for (const std::string& line : early) Log("(before the workload) " + line);
}

void CrashWatcher::Log(const std::string& line) {
  std::function<void(const std::string&)> log;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!log_) {
      early_lines_.push_back(line);
      return;
    }
    log = log_;
  }
  log(line);
}

void CrashWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  Poll(/*restart=*/false);
}

void CrashWatcher::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, kPollEvery, [this] { return stop_; })) {
    lock.unlock();
    Poll(/*restart=*/true);
    lock.lock();
  }
}

void CrashWatcher::Poll(bool restart) {
  std::uniform_real_distribution<double> delay(kRestartMinS, kRestartMaxS);
  for (const ExitEvent& e : cluster_.TakeExits()) {
    const double after = delay(rng_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      records_.push_back({e});
      if (restart) {
        restart_due_[e.node] = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(after));
      }
    }
    Log("crash: n" + std::to_string(e.node) + " exited on its own (" + e.Describe() +
        (e.AtCrashPoint() ? ": at " + options_.crash_at : ": NOT the crash point") + ")" +
        (restart ? ", restart in " + std::to_string(static_cast<int>(after * 1000)) + " ms" : ""));
  }
  if (!restart) return;
  std::vector<int> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = restart_due_.begin(); it != restart_due_.end();) {
      if (it->second > Clock::now()) {
        ++it;
        continue;
      }
      due.push_back(it->first);
      it = restart_due_.erase(it);
    }
  }
  for (int node : due) {
    if (cluster_.Running(node)) continue;  // the healing at the end of the run was first
    const bool started = cluster_.Start(node);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = records_.rbegin(); it != records_.rend(); ++it) {
        if (it->exit.node != node) continue;
        it->restarted = Clock::now();
        it->restart_failed = !started;
        break;
      }
    }
    Log("crash: restart n" + std::to_string(node) + (started ? "" : " FAILED"));
  }
}

CrashResult CrashWatcher::Result(const std::vector<HistoryOp>& ops, Clock::time_point start,
                                 bool multi_shard, InDoubt in_doubt) const {
  CrashResult r;
  r.point = options_.crash_at;
  r.one_in = options_.crash_one_in;
  r.in_doubt = std::move(in_doubt);
  Clock::time_point first{};
  for (const CrashRecord& c : records_) {  // Stop() joined the thread: no lock needed
    const std::string at = Seconds(SecondsSince(start, c.exit.at));
    if (c.restarted != Clock::time_point{}) r.restarts++;
    if (c.restart_failed) {
      r.vacuity.push_back("n" + std::to_string(c.exit.node) +
                          " could not be restarted after it "
                          "exited at " +
                          at);
    }
    if (!c.exit.AtCrashPoint()) {
      r.other_exits.push_back("n" + std::to_string(c.exit.node) + " " + c.exit.Describe() + " at " +
                              at);
      continue;
    }
    r.crashes++;
    r.crashes_by_node[c.exit.node]++;
    if (!r.first_crash_known || c.exit.at < first) first = c.exit.at;
    r.first_crash_known = true;
  }
  if (r.first_crash_known) {
    r.first_crash_s = SecondsSince(start, first);
    const int64_t first_ns = static_cast<int64_t>(r.first_crash_s * 1e9);
    for (const HistoryOp& op : ops) {
      if (op.worker < 0 || op.outcome != lincheck::Outcome::kOk || op.call_ns <= first_ns) continue;
      r.ok_after_first_crash++;
      const bool writes =
          std::any_of(op.mops.begin(), op.mops.end(), [](const Mop& m) { return m.f != "r"; });
      r.ok_multi_shard_after_first_crash += writes && op.txn_shards.size() > 1;
    }
  }
  if (r.crashes == 0) {
    r.vacuity.push_back("no node crashed at " + r.point + " (one in " + std::to_string(r.one_in) +
                        "): the kvd binary must honour KVD_CRASH_AT (kvd_crash_at or a "
                        "transaction bug build) and the workload must reach the point");
  }
  for (const std::string& e : r.other_exits) {
    r.vacuity.push_back(e + ": a node exited on its own, not at the crash point");
  }
  if (r.crashes > 0 && r.ok_after_first_crash == 0) {
    r.vacuity.push_back("nothing committed after the first crash");
  } else if (r.crashes > 0 && multi_shard && r.ok_multi_shard_after_first_crash == 0) {
    r.vacuity.push_back("no write across shards committed after the first crash");
  }
  if (r.in_doubt.checked && !r.in_doubt.drained) {
    r.vacuity.push_back("transactions still in doubt " + Seconds(r.in_doubt.seconds) +
                        " after healing: " + r.in_doubt.left);
  }
  return r;
}

}  // namespace kvd::jepsen
