// NodeSim: the nodes (start, crash, restart, ticks), the simulated transport and the faults.
#include <algorithm>
#include <cstdio>
#include <string_view>

#include "tests/sim/node_sim_impl.h"

namespace kvd::sim::node_sim {

kv::NodeConfig NodeSim::ConfigFor(SimNode& n) {
  kv::NodeConfig cfg;
  cfg.node_id = n.id;
  cfg.members = members_;
  cfg.shards.clear();
  for (int i = 1; i <= p_.shards; ++i) cfg.shards.push_back(static_cast<uint64_t>(i));
  cfg.replication = p_.replication;
  cfg.vnodes_per_shard = n.id == p_.misconfigured_node ? 17 : 16;
  cfg.balance_leaders = p_.balance_leaders;
  cfg.data_dir = n.dir;
  cfg.env = n.env.get();
  cfg.tick_ms = static_cast<int>(kTickMs);
  cfg.election_ticks = 10;
  cfg.heartbeat_ticks = 1;
  cfg.request_timeout_ms = kRequestTimeoutMs;
  cfg.txn_ttl_ms = p_.txn_ttl_ms;
  cfg.compact_every = p_.compact_every;
  cfg.snapshot_chunk_bytes = p_.chunk_bytes;
  cfg.max_size_per_msg = p_.max_size_per_msg;
  cfg.max_inflight_msgs = p_.max_inflight;
  cfg.random_seed = options_.seed * 1000003 + n.id * 7919 + n.incarnation;
  const int64_t base = n.mono_base_ms, rate = n.mono_rate;
  cfg.monotonic_ms = [this, base, rate] { return base + q_.now() * rate / 1000; };
  cfg.session_ttl_ms = p_.session_ttl_ms;
  const int64_t offset = n.clock_offset_ms, step_at = n.wall_step_at, step = n.wall_step_ms;
  cfg.wall_ms = [this, offset, step_at, step] {
    return 1'000'000'000'000 + offset + q_.now() + (step != 0 && q_.now() >= step_at ? step : 0);
  };
  const uint64_t id = n.id;
  cfg.crash_point = [this, id](kv::CrashPoint point) {
    if (point == kv::CrashPoint::kOpenFailed) {
      // Not a crash: Open is about to close its stores and report why. LevelDB's close waits
      // for held background work, so it is released (the run fails on the error anyway).
      nodes_.at(id)->env->HoldBackgroundWork(false);
      return;
    }
    // Rare points (a snapshot install, a compaction, a restart, a transaction coordinator's
    // steps) are where crashes matter most.
    const double weight =
        point == kv::CrashPoint::kAfterLogWrite || point == kv::CrashPoint::kAfterApply ? 1.0
                                                                                        : 30.0;
    if (!faults_on_ || !rng_.Chance(std::min(0.5, p_.crash_point_chance * weight))) return;
    result_.crash_points_hit++;
    if (std::string_view(kv::CrashPointName(point)).starts_with("txn-")) {
      result_.txn_crashes[kv::CrashPointName(point)]++;
    }
    Trace(std::string("crash-point ") + kv::CrashPointName(point), id);
    // From here nothing reaches the disk, and no held compaction may keep the databases from
    // closing while the core unwinds (a crash in Open destroys them on the way out).
    kv::FaultEnv& env = *nodes_.at(id)->env;
    env.SetCrashed(true);
    env.RunHeldWork();
    throw SimCrash{point};
  };
  if (options_.trace) {
    cfg.log = [this, id](std::string_view line) {
      std::fprintf(stderr, "%8lld n%llu log: %.*s\n", static_cast<long long>(q_.now()),
                   static_cast<unsigned long long>(id), static_cast<int>(line.size()), line.data());
    };
  }
  cfg.on_apply = [this, id](uint64_t shard, uint64_t index, const kvpb::Command& cmd,
                            const kvpb::Result& r) {
    if (shard != kv::kMetaShard) {
      OnLockApply(shard, index, cmd, r);
      OnTxnApply(shard, index, cmd, r);
      return OnApply(id, shard, index, cmd, r);
    }
    if (cmd.has_directory_init() && owner_ == nullptr) {
      std::vector<uint64_t> ids;
      for (const auto& s : cmd.directory_init().directory().shards()) ids.push_back(s.id());
      std::string error;
      auto ring = kv::Ring::Build(
          ids, static_cast<int>(cmd.directory_init().directory().vnodes_per_shard()), &error);
      if (!ring) return Fail("the committed directory makes no ring: " + error);
      owner_ = std::make_unique<kv::Ring>(std::move(*ring));
    }
  };
  return cfg;
}

void NodeSim::Start(SimNode& n) {
  n.restart_scheduled = false;
  std::unique_ptr<kv::NodeCore> core;
  n.env->HoldBackgroundWork(true);
  try {
    raft::Status s = kv::NodeCore::Open(ConfigFor(n), n.transport.get(), &core);
    if (!s.ok()) {
      Fail("n" + std::to_string(n.id) + " cannot restart: " + s.ToString());
      return;
    }
  } catch (const SimCrash&) {
    Crash(n, "while starting");
    ScheduleRestart(n, rng_.Range(1, 50));
    return;
  } catch (const CheckFailure& e) {
    Fail("n" + std::to_string(n.id) + " failed a check while starting: " + e.what());
    return;
  }
  n.core = std::move(core);
  n.env->RunHeldWork();
  result_.restarts++;
  Trace("start", n.id, n.incarnation);
}

void NodeSim::DeferredRound(uint64_t id, uint64_t incarnation) {
  SimNode& n = *nodes_.at(id);
  if (n.incarnation != incarnation) return;
  n.round_scheduled = false;
  OnNode(n, NoInput);
}

void NodeSim::Pump(SimNode& n) {
  for (int i = 0; i < 64 && n.core->Round(); ++i) {
  }
  n.env->RunHeldWork();
}

void NodeSim::Crash(SimNode& n, const std::string& why) {
  Trace("crash " + why, n.id);
  result_.crashes++;
  NoteTxnCounters(n);
  n.env->SetCrashed(true);
  n.env->RunHeldWork();
  n.core.reset();  // pending callbacks are dropped uncalled: clients time out
  n.round_scheduled = false;
  n.paused_until = 0;
  n.paused_inbox.clear();
  leveldb::Status s = n.env->DropUnsyncedData();
  if (!s.ok()) Fail("dropping unsynced data: " + s.ToString());
  n.env->SetCrashed(false);
  n.incarnation++;
}

void NodeSim::ScheduleRestart(SimNode& n, int64_t delay) {
  if (n.restart_scheduled) return;
  n.restart_scheduled = true;
  const uint64_t id = n.id;
  q_.After(delay, [this, id] {
    SimNode& node = *nodes_.at(id);
    if (!node.up() && !failed()) Start(node);
  });
}

void NodeSim::TickLoop(uint64_t id) {
  q_.After(kTickMs, [this, id] {
    if (failed()) return;
    SimNode& n = *nodes_.at(id);
    OnNode(n, [](kv::NodeCore& core) { core.Tick(); });
    TickLoop(id);
  });
}

uint64_t NodeSim::Leader() const {
  uint64_t leader = 0, term = 0;
  for (const auto& [id, n] : nodes_) {
    if (!n->up()) continue;
    const kv::ShardStatus* s = FindShard(n->core->Status(), kFirstShard);
    if (s == nullptr || s->role != "leader") continue;
    if (s->term >= term) {
      term = s->term;
      leader = id;
    }
  }
  return leader;
}

std::vector<uint64_t> NodeSim::UpNodes() const {
  std::vector<uint64_t> up;
  for (const auto& [id, n] : nodes_) {
    if (n->up()) up.push_back(id);
  }
  return up;
}

bool NodeSim::Send(uint64_t from, kvpb::PeerBatch batch) {
  const uint64_t to = batch.to_node();
  if (!Reachable(from, to)) return false;
  // The transport's contract (kv/transport.h): frames to one peer arrive in order while a
  // connection lasts. A link is FIFO, with random delays; a lost frame is a broken connection
  // (the stream has a gap). TCP never duplicates a frame, but a duplicate Raft message is what
  // a resend looks like, so frames without snapshot data may arrive twice.
  int64_t delays[2];
  int copies = net_.Route(from, to, delays);
  if (batch.has_snapshot_chunk()) {
    copies = std::min(copies, 1);
    // Stop the recipient as a snapshot streams in, for longer than the leader waits for its
    // acknowledgement: the leader resends, and both streams queue up for one batch.
    SimNode& n = *nodes_.at(to);
    if (faults_on_ && batch.snapshot_chunk().seq() == 0 && n.paused_until <= q_.now() &&
        rng_.Chance(p_.pause_on_snapshot)) {
      Pause(n, rng_.Range(1100, 2500));
    }
  }
  int64_t& tail = link_tail_[{from, to}];
  for (int i = 0; i < copies; ++i) {
    auto frame = std::make_shared<kvpb::PeerBatch>(i + 1 < copies ? batch : std::move(batch));
    tail = std::max(tail, q_.now() + delays[i]);
    q_.After(tail - q_.now(), [this, from, to, frame] {
      if (net_.Blocked(from, to)) return;  // a partition that began in flight
      SimNode& n = *nodes_.at(to);
      if (n.up() && n.paused_until > q_.now()) {
        n.paused_inbox.push_back(frame);  // read by the kernel, handled after the pause
        return;
      }
      const bool round_now = !rng_.Chance(p_.defer_rounds);
      OnNode(
          n, [&](kv::NodeCore& core) { core.Deliver(std::move(*frame)); }, round_now);
    });
  }
  return true;
}

void NodeSim::FaultLoop() {
  q_.After(p_.fault_interval, [this] {
    if (failed() || !faults_on_) return;
    const uint64_t roll = rng_.Below(10);
    std::vector<uint64_t> up = UpNodes();
    const uint64_t leader = Leader();
    if (roll == 5 && !up.empty()) {
      // SIGSTOP long enough for the leader to give up on a snapshot stream and resend it.
      Pause(*nodes_.at(up[rng_.Below(up.size())]), rng_.Range(100, 2500));
    } else if (roll < 3 && !up.empty()) {
      const uint64_t victim = (roll == 0 && leader != 0) ? leader : up[rng_.Below(up.size())];
      SimNode& n = *nodes_.at(victim);
      Crash(n, victim == leader ? "leader killed" : "killed");
      ScheduleRestart(n, rng_.Range(1, p_.restart_max));
    } else if (roll < 5) {
      std::vector<uint64_t> all, a, b;
      for (const auto& [id, n] : nodes_) all.push_back(id);
      if (roll == 3 && leader != 0) {
        net_.Isolate(leader, all);
        Trace("isolate leader", leader);
      } else {
        for (uint64_t id : all) (rng_.Chance(0.5) ? a : b).push_back(id);
        net_.Split(a, b);
        Trace("split", 0, a.size(), b.size());
      }
      q_.After(rng_.Range(50, 800), [this] {
        if (!faults_on_) return;
        net_.HealAll();
        Trace("heal links");
      });
    }
    FaultLoop();
  });
}

void NodeSim::Pause(SimNode& n, int64_t ms) {
  n.paused_until = q_.now() + ms;
  Trace("pause", n.id, static_cast<uint64_t>(ms));
  const uint64_t id = n.id, incarnation = n.incarnation;
  q_.After(ms, [this, id, incarnation] { Resume(id, incarnation); });
}

void NodeSim::Resume(uint64_t id, uint64_t incarnation) {
  SimNode& n = *nodes_.at(id);
  if (n.incarnation != incarnation || !n.up()) return;
  n.paused_until = 0;
  Trace("resume", id, n.paused_inbox.size());
  std::vector<std::shared_ptr<kvpb::PeerBatch>> inbox;
  inbox.swap(n.paused_inbox);
  // Everything that queued up is handled before the next round, as kv::Node's inbox does.
  OnNode(n, [&](kv::NodeCore& core) {
    for (auto& frame : inbox) core.Deliver(std::move(*frame));
  });
}

void NodeSim::StormLoop() {
  q_.After(rng_.Range(30, 150), [this] {
    if (failed() || !faults_on_) return;
    const uint64_t leader = Leader();
    if (leader != 0) {
      SimNode& n = *nodes_.at(leader);
      Crash(n, "storm: leader killed");
      ScheduleRestart(n, rng_.Range(5, 100));
    }
    StormLoop();
  });
}

void NodeSim::Heal() {
  faults_on_ = false;
  heal_time_ = q_.now();
  net_.HealAll();
  NetworkOptions calm = p_.net;
  calm.drop = 0;
  calm.duplicate = 0;
  calm.slow = 0;
  net_.set_options(calm);
  Trace("heal");
  for (auto& [id, n] : nodes_) {
    if (!n->up()) ScheduleRestart(*n, 1);
  }
  // Paused nodes resume at their own time (at most 2.5 s from now).
}

}  // namespace kvd::sim::node_sim
