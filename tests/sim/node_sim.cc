// NodeSim: setup, the run's parameters, the event loop and its trace (node_sim_impl.h).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "kv/node_impl.h"
#include "tests/sim/node_sim_impl.h"

namespace kvd::sim {
namespace node_sim {

bool SimTransport::Send(kvpb::PeerBatch batch) { return sim_.Send(self_, std::move(batch)); }
bool SimTransport::Reachable(uint64_t node) const { return sim_.Reachable(self_, node); }

NodeSim::~NodeSim() {
  for (auto& [id, n] : nodes_) {
    if (n->env) n->env->RunHeldWork();
    n->core.reset();
  }
  std::error_code ec;
  if (!root_.empty()) std::filesystem::remove_all(root_, ec);
}

void NodeSim::Trace(const std::string& what, uint64_t node, uint64_t a, uint64_t b) {
  uint64_t h = result_.trace_hash ^ static_cast<uint64_t>(q_.now());
  for (char ch : what) h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001b3ull;
  h = (h ^ node) * 0x100000001b3ull;
  h = (h ^ a) * 0x100000001b3ull;
  result_.trace_hash = (h ^ b) * 0x100000001b3ull;
  if (options_.trace) {
    std::fprintf(stderr, "%8lld %-22s n%llu %llu %llu\n", static_cast<long long>(q_.now()),
                 what.c_str(), static_cast<unsigned long long>(node),
                 static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
  }
}

void NodeSim::Fail(const std::string& why) {
  if (failed()) return;
  result_.ok = false;
  result_.failure = "t=" + std::to_string(q_.now()) + "ms: " + why;
  Trace("FAIL " + why);
}

void NodeSim::DrawParams() {
  const double drops[] = {0.0, 0.01, 0.05};
  const double dups[] = {0.0, 0.02, 0.05};
  const int64_t max_delays[] = {2, 5, 20};
  const double crash_chances[] = {0.0, 0.0005, 0.002, 0.01};
  const uint64_t compactions[] = {10, 50, 400};
  const size_t chunks[] = {64, 4096, 1 << 20};
  const uint64_t msg_sizes[] = {1, 200, 1 << 20};
  const int inflights[] = {1, 4, 256};
  const int64_t intervals[] = {200, 500, 1000};
  auto pick = [&](const auto& arr) { return arr[rng_.Below(std::size(arr))]; };
  p_.net.drop = pick(drops);
  p_.net.duplicate = pick(dups);
  p_.net.min_delay = 1;
  p_.net.max_delay = pick(max_delays);
  p_.net.slow = rng_.Chance(0.5) ? 0.0 : 0.02;
  p_.net.slow_delay = 150;
  p_.crash_point_chance = pick(crash_chances);
  p_.compact_every = pick(compactions);
  p_.chunk_bytes = pick(chunks);
  p_.max_size_per_msg = pick(msg_sizes);
  p_.max_inflight = pick(inflights);
  p_.fault_interval = pick(intervals);
  p_.restart_max = rng_.Chance(0.5) ? 100 : 800;
  p_.clients = static_cast<int>(rng_.Range(2, 5));
  p_.keys = static_cast<int>(rng_.Range(1, 3));
  const int64_t offsets[] = {0, 1000, 3600 * 1000, 86400 * 1000};
  p_.max_clock_offset_ms = pick(offsets);
  p_.session_ttl_ms = rng_.Chance(0.5) ? 8000 : 600000;
  p_.defer_rounds = rng_.Chance(0.5) ? 0.0 : 0.3;
  p_.storm = rng_.Chance(0.25);
  p_.pause_on_snapshot = rng_.Chance(0.5) ? 0.0 : 0.3;
  if (p_.storm && rng_.Chance(0.5)) p_.max_size_per_msg = 1;  // split replication finely
  p_.figure8 = options_.nodes == 5 && rng_.Chance(0.2);
  if (p_.figure8) {  // a clean schedule: no other faults, one entry per append
    p_.crash_point_chance = 0;
    p_.storm = false;
    p_.pause_on_snapshot = 0;
    p_.net.drop = 0;
    p_.net.duplicate = 0;
    p_.max_size_per_msg = 1;
    p_.max_inflight = 1;
  }
  // The shard layout comes from a generator of its own, so that the draws above (and the
  // schedules they give single-shard seeds) do not depend on it.
  Rng layout(options_.seed * 0x9E3779B97F4A7C15ull + 17);
  const int shard_counts[] = {1, 1, 2, 4, 8};
  p_.shards =
      options_.shards > 0 ? options_.shards : shard_counts[layout.Below(std::size(shard_counts))];
  if (p_.figure8) p_.shards = 1;
  if (options_.txn_workers > 0 && options_.shards == 0 && p_.shards == 1 && !p_.figure8) {
    p_.shards = 2;  // transactions that span shards
  }
  // Fewer replicas than nodes in most multi-shard runs: some nodes host no replica of a key's
  // shard and must forward.
  p_.replication = p_.shards > 1 && layout.Chance(0.75) ? options_.nodes - 2 : options_.nodes;
  p_.balance_leaders = !p_.figure8 && layout.Chance(0.5);
  p_.keys += p_.shards > 1 ? p_.shards : 0;
  if (layout.Chance(0.4)) {
    p_.idle_from_ms = layout.Range(500, 1500);
    p_.idle_ms = layout.Range(2500, 4000);
  }
  if (p_.shards > 1 && layout.Chance(0.3)) {
    p_.misconfigured_node = 1 + layout.Below(static_cast<uint64_t>(options_.nodes));
  }
  // Locks and clock drift come from their own generator too.
  Rng locks(options_.seed * 0xBF58476D1CE4E5B9ull + 29);
  p_.lock_workers = !p_.figure8 && locks.Chance(0.5) ? static_cast<int>(locks.Range(2, 3)) : 0;
  // Bank transactions from a generator of their own too, in half the multi-shard runs (or as
  // the options say); the TTL is short so that recovery acts within runs.
  Rng txn(options_.seed * 0x94D049BB133111EBull + 41);
  p_.txn_ttl_ms = txn.Range(300, 800);
  if (options_.txn_workers < 0) {
    const bool bank = p_.shards > 1 && !p_.figure8 && txn.Chance(0.5);
    p_.txn_workers = bank ? static_cast<int>(txn.Range(2, 3)) : 0;
  } else {
    p_.txn_workers = p_.figure8 ? 0 : options_.txn_workers;
  }
  for (int i = 1; i <= options_.nodes; ++i) {
    NodeClocks c;
    c.mono_base = locks.Range(0, 1'000'000);
    c.mono_rate = locks.Range(990, 1010);
    if (locks.Chance(0.5)) {  // an NTP step of the wall clock, forward or back
      c.wall_step_at = locks.Range(0, options_.fault_ms);
      c.wall_step_ms = locks.Chance(0.7) ? locks.Range(1000, 20'000) : -locks.Range(1000, 20'000);
    }
    clocks_.push_back(c);
  }
  net_.set_options(p_.net);
}

NodeSimResult NodeSim::Run() {
  DrawParams();
  std::string base = options_.dir;
  if (base.empty()) {
    base = std::filesystem::exists("/dev/shm") ? "/dev/shm"
                                               : std::filesystem::temp_directory_path().string();
  }
  root_ =
      base + "/kvd-node-sim-" + std::to_string(::getpid()) + "-" + std::to_string(options_.seed);
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
  for (int i = 1; i <= options_.nodes; ++i) {
    kv::NodeInfo info;
    info.id = static_cast<uint64_t>(i);
    members_.push_back(info);
  }
  for (const auto& m : members_) {
    auto n = std::make_unique<SimNode>();
    n->id = m.id;
    n->dir = root_ + "/n" + std::to_string(m.id);
    n->env = std::make_unique<kv::FaultEnv>();
    n->env->HoldBackgroundWork(true);
    n->transport = std::make_unique<SimTransport>(*this, m.id);
    if (p_.max_clock_offset_ms > 0) {
      n->clock_offset_ms = rng_.Range(-p_.max_clock_offset_ms, p_.max_clock_offset_ms);
    }
    const NodeClocks& clocks = clocks_[m.id - 1];
    n->mono_base_ms = clocks.mono_base;
    n->mono_rate = clocks.mono_rate;
    n->wall_step_at = clocks.wall_step_at;
    n->wall_step_ms = clocks.wall_step_ms;
    nodes_.emplace(m.id, std::move(n));
  }
  for (auto& [id, n] : nodes_) {
    Start(*n);
    const uint64_t node = id;
    q_.After(static_cast<int64_t>(id), [this, node] { TickLoop(node); });
  }
  for (int i = 1; i <= p_.clients; ++i) {
    Client c;
    c.id = static_cast<uint64_t>(i);
    clients_.push_back(c);
  }
  for (auto& c : clients_) {
    const uint64_t cid = c.id;
    q_.After(rng_.Range(200, 400), [this, cid] { Issue(clients_[cid - 1]); });
  }
  for (int i = 1; i <= p_.lock_workers; ++i) {
    LockWorker w;
    w.id = static_cast<uint64_t>(i);
    lock_workers_.push_back(w);
    q_.After(rng_.Range(200, 400), [this, i] { LockIssue(static_cast<uint64_t>(i)); });
  }
  TxnSetup();
  if (p_.figure8) {
    q_.After(300, [this] { Figure8Start(); });
  } else {
    FaultLoop();
    if (p_.storm) q_.After(300, [this] { StormLoop(); });
  }
  q_.After(options_.fault_ms + p_.idle_ms, [this] { Heal(); });

  std::string why = "not started";
  int64_t next_check = 0;
  while (!failed() && !q_.empty()) {
    q_.RunNext();
    if (faults_on_ || q_.now() < next_check) continue;
    next_check = q_.now() + 50;
    if (clients_stop_ && Converged(&why)) break;
    if (q_.now() - heal_time_ > options_.converge_ms) {
      Fail("no convergence " + std::to_string(options_.converge_ms) + " ms after healing: " +
           (clients_stop_ ? why : "no write acknowledged since") + "\n" + Describe());
    }
  }
  // Idle groups quiesce here (in the seeds with a pause): the final reads must wake them.
  const int64_t idle_until = q_.now() + p_.idle_ms;
  while (!failed() && !q_.empty() && q_.now() < idle_until) q_.RunNext();
  if (!failed()) FinalReads();
  if (!failed()) TxnFinal();
  if (!failed()) CheckReplicasEqual();
  if (!failed()) CheckHistory();
  if (!failed()) CheckLocks();
  for (const auto& [id, n] : nodes_) {
    if (n->up()) result_.quiesces += n->core->impl().counters.quiesces;
  }
  result_.summary =
      std::to_string(history_.size()) + " ops (" + std::to_string(result_.writes_acked) +
      " writes acked, " + std::to_string(result_.reads_ok) + " reads, " +
      std::to_string(result_.unknown) + " unknown), " + std::to_string(result_.crashes) +
      " crashes (" + std::to_string(result_.crash_points_hit) + " at crash points), " +
      std::to_string(result_.restarts) + " starts, " + std::to_string(applied_.size()) +
      " entries applied, " + std::to_string(p_.shards) + " shard(s) x " +
      std::to_string(p_.replication) + " replicas, " + std::to_string(result_.quiesces) +
      " quiesces";
  if (p_.lock_workers > 0) {
    result_.summary += ", locks: " + std::to_string(result_.locks_granted) + " granted, " +
                       std::to_string(result_.fenced_writes_ok) + " fenced writes, " +
                       std::to_string(result_.fenced_refused + result_.stale_writes_fenced) +
                       " fenced (" + std::to_string(result_.stale_writes_fenced) + " stale)";
  }
  if (p_.txn_workers > 0) result_.summary += TxnSummary();
  return result_;
}

}  // namespace node_sim

NodeSimResult RunNodeSimulation(const NodeSimOptions& options) {
  node_sim::NodeSim sim(options);
  return sim.Run();
}

std::string NodeSimReplayCommand(const NodeSimOptions& options) {
  return options.binary + " --seed " + std::to_string(options.seed) + " --nodes " +
         std::to_string(options.nodes) +
         (options.shards > 0 ? " --shards " + std::to_string(options.shards) : "") +
         (options.txn_workers >= 0 ? " --txn-workers " + std::to_string(options.txn_workers) : "") +
         " --trace";
}

}  // namespace kvd::sim
