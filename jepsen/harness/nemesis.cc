// Copyright (c) kvd authors.

#include "jepsen/harness/nemesis.h"

#include <algorithm>
#include <cstdio>

#include "jepsen/harness/topology.h"

namespace kvd::jepsen {
namespace {

bool Contains(const std::vector<int>& nodes, uint64_t node) {
  return std::find(nodes.begin(), nodes.end(), static_cast<int>(node)) != nodes.end();
}

std::string Percent(double p) {
  char out[16];
  std::snprintf(out, sizeof(out), "%.0f%%", p * 100);
  return out;
}

}  // namespace

Nemesis::Nemesis(const Options& options, std::vector<FaultKind> kinds, LocalCluster& cluster,
                 Partitioner* partitioner, Netem* netem, Clock::time_point start,
                 const std::string& log_path)
    : options_(options),
      kinds_(std::move(kinds)),
      cluster_(cluster),
      partitioner_(partitioner),
      netem_(netem),
      start_(start),
      log_(log_path),
      rng_(options.seed ^ 0x9e3779b97f4a7c15ULL) {}

Nemesis::~Nemesis() { Stop(); }

void Nemesis::Log(const std::string& line) {
  char stamp[32];
  std::snprintf(stamp, sizeof(stamp), "t=%.3fs ", SinceNs(start_) / 1e9);
  std::lock_guard<std::mutex> lock(log_mu_);
  log_ << stamp << line << "\n";
  log_.flush();
}

void Nemesis::Start() {
  if (kinds_.empty()) return;
  thread_ = std::thread([this] { Run(); });
}

void Nemesis::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Nemesis::Sleep(double seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return stop_; });
}

bool Nemesis::Stopping() {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void Nemesis::HealAll() {
  if (partitioner_ != nullptr && partitioner_->active()) partitioner_->Heal();
  if (netem_ != nullptr) netem_->Heal();
  for (int n = 1; n <= cluster_.size(); ++n) {
    if (cluster_.Paused(n)) cluster_.Resume(n);
    if (!cluster_.Running(n)) cluster_.Start(n);
  }
  Log("heal all: network faults removed, every node running and resumed");
}

void Nemesis::Run() {
  if (!Sleep(options_.warmup_s)) return;
  // No fault starts in the last stretch of the run: it could not show that it acted.
  const double last_start_s = options_.warmup_s + options_.time_s - options_.fault_min_s / 2;
  for (size_t i = 0; SinceNs(start_) / 1e9 < last_start_s || i == 0; ++i) {
    Inject(kinds_[i % kinds_.size()]);
    std::uniform_real_distribution<double> quiet(options_.fault_min_s / 2,
                                                 options_.fault_max_s / 2);
    if (!Sleep(quiet(rng_))) return;
  }
}

bool Nemesis::AwaitNewLeader(const std::vector<int>& faulty, const Leadership& before,
                             double seconds, FaultRecord& record) {
  std::vector<int> others;
  for (int n = 1; n <= cluster_.size(); ++n) {
    if (!Contains(faulty, n)) others.push_back(n);
  }
  // Shards that can elect without the faulty nodes: a majority of their replicas is elsewhere.
  std::map<uint64_t, uint64_t> electable;  // shard -> its leader's term before the fault
  for (const auto& [shard, term] : record.shards_led) {
    auto it = before.shards.find(shard);
    if (it == before.shards.end()) continue;
    const auto& replicas = it->second.replicas;
    const auto outside = std::count_if(replicas.begin(), replicas.end(),
                                       [&](uint64_t r) { return !Contains(faulty, r); });
    if (replicas.empty() || outside * 2 > static_cast<long>(replicas.size())) {
      electable[shard] = term;
    }
  }
  record.shards_electable = static_cast<int>(electable.size());
  if (electable.empty()) return false;
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    const Leadership now = cluster_.Leaders(others);
    int moved = 0;
    for (const auto& [shard, term] : electable) {
      auto it = now.shards.find(shard);
      moved += it != now.shards.end() && it->second.leader != 0 &&
               !Contains(faulty, it->second.leader) && it->second.term > term;
    }
    record.shards_moved = moved;
    if (moved == static_cast<int>(electable.size())) {
      record.leader_after = now.Busiest();
      record.term_after = now.TermSum();
      return true;
    }
    if (!Sleep(0.1)) return false;
  }
  return false;
}

void Nemesis::InjectNetwork(FaultKind kind, int node, const Leadership& before, FaultRecord& rec,
                            Topology& topology) {
  const int n = cluster_.size();
  const int leader = static_cast<int>(rec.leader_before);
  std::vector<int> watch;  // for ring and bridge: the nodes cut off from the leader
  auto random_node = [&] { return static_cast<int>(rng_() % n) + 1; };
  if (kind == FaultKind::kLoss || kind == FaultKind::kDelay) {
    rec.on_leader = false;
    for (int i = 1; i <= n; ++i) rec.targets.push_back(i);
    if (kind == FaultKind::kLoss) {
      rec.description = "loss: drop " + Percent(options_.loss_probability) + " of peer packets";
      rec.injected = partitioner_ != nullptr && partitioner_->Lossy(options_.loss_probability);
    } else {
      rec.description = "delay: peer packets +" + std::to_string(options_.delay_ms) + " ms ± " +
                        std::to_string(options_.delay_ms / 2) + " ms";
      rec.injected = netem_ != nullptr && netem_->Delay(options_.delay_ms, options_.delay_ms / 2);
    }
    return;
  }
  if (kind == FaultKind::kPartition) {
    std::string mode = rec.on_leader ? "isolate the leader" : "isolate a node";
    rec.targets = {node};
    const int minority = (n - 1) / 2;
    if (minority > 1 && leader != 0 && rng_() % 2 == 0) {
      rec.targets = {leader};  // the leader plus others, short of a majority
      // With several shards, prefer companions that leave some shard the leader leads a
      // majority of its replicas outside, so that the cut can show a new leader there.
      for (int tries = 0; static_cast<int>(rec.targets.size()) < minority; ++tries) {
        const int extra = random_node();
        if (Contains(rec.targets, extra)) continue;
        std::vector<int> side = rec.targets;
        side.push_back(extra);
        bool electable = false;
        for (const auto& [shard, lead] : before.shards) {
          if (lead.leader != static_cast<uint64_t>(leader)) continue;
          const auto inside = std::count_if(lead.replicas.begin(), lead.replicas.end(),
                                            [&](uint64_t r) { return Contains(side, r); });
          electable = electable || (lead.replicas.size() - inside) * 2 > lead.replicas.size();
        }
        if (electable || tries >= 4 * n) rec.targets.push_back(extra);
      }
      std::sort(rec.targets.begin(), rec.targets.end());
      rec.on_leader = true;
      mode = "minority with the leader";
    }
    topology = Isolate(rec.targets, n);
    topology.description = "partition (" + mode + ") " + topology.description;
  } else if (kind == FaultKind::kRing) {
    std::vector<int> order;
    for (int i = 1; i <= n; ++i) order.push_back(i);
    std::shuffle(order.begin(), order.end(), rng_);
    // Rotating a ring changes nothing for 5 nodes; on 3 (a bridge) it keeps the leader at an end.
    if (leader != 0)
      std::rotate(order.begin(), std::find(order.begin(), order.end(), leader), order.end());
    topology = Ring(order);
    rec.on_leader = false;  // the leader keeps a majority
    if (leader != 0) watch = CutOffFrom(topology, leader, n);
  } else {  // bridge: the leader at one end, a random follower in the middle
    std::vector<int> others;
    for (int i = 1; i <= n; ++i) {
      if (i != leader) others.push_back(i);
    }
    std::shuffle(others.begin(), others.end(), rng_);
    const int bridge = others.back();
    others.pop_back();
    std::vector<int> left = {leader != 0 ? leader : others.back()};
    if (leader == 0) others.pop_back();
    while (static_cast<int>(left.size()) < (n - 1) / 2) {
      left.push_back(others.back());
      others.pop_back();
    }
    std::sort(left.begin(), left.end());
    std::sort(others.begin(), others.end());
    topology = Bridge(left, bridge, others);
    rec.on_leader = false;  // the leader keeps a majority through the bridge
    if (leader != 0) watch = others;
  }
  if (kind != FaultKind::kPartition) rec.targets = watch;
  rec.description = topology.description;
  rec.injected = partitioner_ != nullptr && partitioner_->Cut(topology);
}

void Nemesis::NetworkEvidence(FaultKind kind, const Topology& topology, FaultRecord& rec) {
  std::vector<int> all;
  for (int n = 1; n <= cluster_.size(); ++n) all.push_back(n);
  if (kind == FaultKind::kDelay) {
    const int64_t delayed = netem_->DelayedPackets();
    rec.acted = delayed > 0;
    rec.evidence = std::to_string(delayed) + " peer packets went through netem";
    return;
  }
  const int64_t dropped = partitioner_->DroppedPackets();
  if (kind == FaultKind::kLoss) {
    rec.acted = dropped > 0;
    rec.evidence = std::to_string(dropped) + " peer packets dropped";
    return;
  }
  std::string silent;  // nodes that did not answer the status request
  // A status request can time out on a busy machine: look up to three times.
  for (int attempt = 0; attempt < 3 && !rec.acted; ++attempt) {
    if (attempt > 0 && !Sleep(0.2)) break;
    silent.clear();
    const Leadership now = cluster_.Leaders(all);
    for (int node : all) {
      if (!now.views.count(node)) silent += " n" + std::to_string(node);
    }
    if (now.TermSum() > rec.term_before && now.Busiest() != rec.leader_before) {
      rec.acted = true;
      rec.evidence = "leadership moved to n" + std::to_string(now.Busiest()) +
                     (cluster_.shards() > 1 ? ", leader terms summed " : " term ") +
                     std::to_string(now.TermSum());
      break;
    }
    // A replica cut off from its shard's leader falls behind that leader.
    for (const auto& [node, view] : now.views) {
      for (const auto& [shard, replica] : view.shards) {
        const uint64_t leader = now.shards.at(shard).leader;
        if (rec.acted || leader == 0 || leader == node ||
            Connected(topology, static_cast<int>(node), static_cast<int>(leader))) {
          continue;
        }
        auto lead_view = now.views.find(leader);
        const ShardView* lead =
            lead_view == now.views.end() ? nullptr : lead_view->second.Find(shard);
        if (lead != nullptr && replica.applied_index < lead->applied_index) {
          rec.acted = true;
          rec.evidence =
              "n" + std::to_string(node) + ", cut off from the leader n" + std::to_string(leader) +
              (cluster_.shards() > 1 ? " of shard " + std::to_string(shard) : "") + ", applied " +
              std::to_string(replica.applied_index) + " vs " + std::to_string(lead->applied_index);
        }
      }
    }
  }
  if (!rec.acted && rec.leader_before == 0 && dropped > 0) {
    rec.acted = true;  // nothing to compare with, but the cut visibly dropped traffic
    rec.evidence = "no leader was known when the cut started";
  }
  if (!rec.acted) {
    rec.evidence = "no node cut off from a leader fell behind, leader unchanged" +
                   (silent.empty() ? "" : " (no answer from" + silent + ")");
  }
  rec.evidence += "; " + std::to_string(dropped) + " packets dropped";
}

void Nemesis::Inject(FaultKind kind) {
  FaultRecord rec;
  rec.kind = kind;
  std::vector<int> all;
  for (int n = 1; n <= cluster_.size(); ++n) all.push_back(n);
  const Leadership before = cluster_.Leaders(all);
  rec.leader_before = before.Busiest();
  rec.term_before = before.TermSum();
  const int leader = static_cast<int>(rec.leader_before);
  // Every other fault (the first included) hits the leader, so each run shows leader changes.
  const bool pick_leader = leader != 0 && (records_.size() % 2 == 0 || rng_() % 2 == 0);
  std::vector<int> running;  // a crashed node waits for the crash watcher to restart it
  for (int n : all) {
    if (cluster_.Running(n)) running.push_back(n);
  }
  if (running.empty()) running = all;
  const int node = pick_leader ? leader : running[rng_() % running.size()];
  rec.on_leader = node == leader;
  std::uniform_real_distribution<double> hold_dist(options_.fault_min_s / 2,
                                                   options_.fault_max_s / 2);
  const double hold = hold_dist(rng_);
  std::string who = (rec.on_leader ? "leader n" : "node n") + std::to_string(node);
  if (cluster_.shards() > 1) {
    who += " (leading " + std::to_string(before.Led(node)) + "/" +
           std::to_string(cluster_.shards()) + " shards)";
  }
  const bool network = kind != FaultKind::kKill && kind != FaultKind::kPause;

  rec.start_ns = SinceNs(start_);
  Topology topology;  // the links a network fault cuts
  bool exited_first = false;
  if (network) {
    InjectNetwork(kind, node, before, rec, topology);
  } else if (kind == FaultKind::kKill) {
    rec.targets = {node};
    rec.description = "kill -9 " + who;
    rec.injected = cluster_.Kill(node, &exited_first);
  } else {
    rec.targets = {node};
    rec.description = "SIGSTOP " + who;
    rec.injected = cluster_.Pause(node, &exited_first);
  }
  // Not running although chosen among the running nodes: it exited on its own meanwhile.
  rec.target_crashed = !network && !rec.injected && (exited_first || !cluster_.Running(node));
  Log("start " + rec.description + " (leader before: n" + std::to_string(rec.leader_before) +
      (cluster_.shards() > 1 ? ", leader terms summed " : " term ") +
      std::to_string(rec.term_before) + ")" + (rec.injected ? "" : " INJECTION FAILED"));

  for (const auto& [shard, lead] : before.shards) {
    if (TargetsLeader(kind) && Contains(rec.targets, lead.leader)) {
      rec.shards_led[shard] = lead.term;
    }
  }
  const auto hold_until = Clock::now() + std::chrono::duration<double>(hold);
  if (rec.injected && rec.on_leader) {
    // Hold at least `hold`, longer (up to 15 s) until the rest elected new leaders.
    rec.acted = AwaitNewLeader(rec.targets, before, 15, rec);
    const std::string moved =
        std::to_string(rec.shards_moved) + " of the " + std::to_string(rec.shards_electable) +
        " shards that kept a majority elsewhere (of " + std::to_string(rec.shards_led.size()) +
        " led by " + NodeList(rec.targets) + ")";
    if (cluster_.shards() == 1) {
      rec.evidence = rec.acted ? "new leader n" + std::to_string(rec.leader_after) + " term " +
                                     std::to_string(rec.term_after)
                               : "no new leader observed";
    } else {
      rec.evidence = rec.acted ? "new leaders in " + moved + " (busiest leader now n" +
                                     std::to_string(rec.leader_after) + ")"
                               : "new leaders observed in only " + moved;
    }
  } else if (rec.injected && kind == FaultKind::kKill) {
    rec.acted = true;
    rec.evidence = "process died of SIGKILL";
  } else if (rec.injected && kind == FaultKind::kPause) {
    rec.acted = true;
    rec.evidence = "kernel reported the process stopped";
  } else if (rec.target_crashed) {
    rec.evidence = "the target exited on its own first (left to the crash watcher)";
  }
  const double left = std::chrono::duration<double>(hold_until - Clock::now()).count();
  if (left > 0) Sleep(left);
  if (rec.injected && network && !rec.on_leader) NetworkEvidence(kind, topology, rec);
  if (rec.leader_after == 0) {
    std::tie(rec.leader_after, rec.term_after) = cluster_.LeaderAndTerm(all);
  }
  rec.cut_short = !rec.acted && Stopping();
  Log("evidence: " + rec.evidence +
      (rec.acted || rec.target_crashed ? ""
       : rec.cut_short                 ? " (cut short by the end of the run)"
                                       : " (FAULT DID NOT VISIBLY ACT)"));

  // Heal.
  if (kind == FaultKind::kDelay) {
    if (netem_ != nullptr) netem_->Heal();
  } else if (network) {
    if (partitioner_ != nullptr) partitioner_->Heal();
  } else {
    for (int n : rec.targets) {
      if (kind == FaultKind::kKill && !rec.target_crashed) cluster_.Start(n);
      if (kind == FaultKind::kPause) cluster_.Resume(n);
    }
  }
  rec.end_ns = SinceNs(start_);
  Log("end " + rec.description + ": healed");
  records_.push_back(std::move(rec));
}

}  // namespace kvd::jepsen
