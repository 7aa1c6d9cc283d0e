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

bool Nemesis::AwaitNewLeader(const std::vector<int>& faulty, double seconds, FaultRecord& record) {
  std::vector<int> others;
  for (int n = 1; n <= cluster_.size(); ++n) {
    if (!Contains(faulty, n)) others.push_back(n);
  }
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    auto [leader, term] = cluster_.LeaderAndTerm(others);
    if (leader != 0 && !Contains(faulty, leader) && term > record.term_before) {
      record.leader_after = leader;
      record.term_after = term;
      return true;
    }
    if (!Sleep(0.1)) return false;
  }
  return false;
}

void Nemesis::InjectNetwork(FaultKind kind, int node, FaultRecord& rec, std::vector<int>& watch) {
  const int n = cluster_.size();
  const int leader = static_cast<int>(rec.leader_before);
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
  Topology topology;
  if (kind == FaultKind::kPartition) {
    std::string mode = rec.on_leader ? "isolate the leader" : "isolate a node";
    rec.targets = {node};
    const int minority = (n - 1) / 2;
    if (minority > 1 && leader != 0 && rng_() % 2 == 0) {
      rec.targets = {leader};  // the leader plus others, short of a majority
      while (static_cast<int>(rec.targets.size()) < minority) {
        const int extra = random_node();
        if (!Contains(rec.targets, extra)) rec.targets.push_back(extra);
      }
      std::sort(rec.targets.begin(), rec.targets.end());
      rec.on_leader = true;
      mode = "minority with the leader";
    }
    topology = Isolate(rec.targets, n);
    topology.description = "partition (" + mode + ") " + topology.description;
    if (!rec.on_leader) watch = rec.targets;
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

void Nemesis::NetworkEvidence(FaultKind kind, const std::vector<int>& watch, FaultRecord& rec) {
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
    auto [now_leader, term] = cluster_.LeaderAndTerm(all);
    if (term > rec.term_before && now_leader != rec.leader_before) {
      rec.acted = true;
      rec.evidence =
          "leadership moved to n" + std::to_string(now_leader) + " term " + std::to_string(term);
      break;
    }
    const NodeView lead =
        now_leader != 0 ? cluster_.View(static_cast<int>(now_leader)) : NodeView{};
    if (!lead.answered) silent += " leader";
    for (int node : watch) {
      if (rec.acted || node == static_cast<int>(now_leader)) continue;
      const NodeView behind = cluster_.View(node);
      if (!behind.answered) silent += " n" + std::to_string(node);
      if (behind.answered && lead.answered && behind.applied_index < lead.applied_index) {
        rec.acted = true;
        rec.evidence = "n" + std::to_string(node) + ", cut off from the leader, applied " +
                       std::to_string(behind.applied_index) + " vs leader n" +
                       std::to_string(now_leader) + " applied " +
                       std::to_string(lead.applied_index);
      }
    }
  }
  if (!rec.acted && rec.leader_before == 0 && dropped > 0) {
    rec.acted = true;  // nothing to compare with, but the cut visibly dropped traffic
    rec.evidence = "no leader was known when the cut started";
  }
  if (!rec.acted) {
    rec.evidence = "no node cut off from the leader fell behind, leader unchanged" +
                   (silent.empty() ? "" : " (no answer from" + silent + ")");
  }
  rec.evidence += "; " + std::to_string(dropped) + " packets dropped";
}

void Nemesis::Inject(FaultKind kind) {
  FaultRecord rec;
  rec.kind = kind;
  std::vector<int> all;
  for (int n = 1; n <= cluster_.size(); ++n) all.push_back(n);
  std::tie(rec.leader_before, rec.term_before) = cluster_.LeaderAndTerm(all);
  const int leader = static_cast<int>(rec.leader_before);
  // Every other fault (the first included) hits the leader, so each run shows leader changes.
  const bool pick_leader = leader != 0 && (records_.size() % 2 == 0 || rng_() % 2 == 0);
  const int node = pick_leader ? leader : static_cast<int>(rng_() % cluster_.size()) + 1;
  rec.on_leader = node == leader;
  std::uniform_real_distribution<double> hold_dist(options_.fault_min_s / 2,
                                                   options_.fault_max_s / 2);
  const double hold = hold_dist(rng_);
  const std::string who = (rec.on_leader ? "leader n" : "node n") + std::to_string(node);
  const bool network = kind != FaultKind::kKill && kind != FaultKind::kPause;

  rec.start_ns = SinceNs(start_);
  std::vector<int> watch;  // nodes that should fall behind the leader during a network fault
  if (network) {
    InjectNetwork(kind, node, rec, watch);
  } else if (kind == FaultKind::kKill) {
    rec.targets = {node};
    rec.description = "kill -9 " + who;
    rec.injected = cluster_.Kill(node);
  } else {
    rec.targets = {node};
    rec.description = "SIGSTOP " + who;
    rec.injected = cluster_.Pause(node);
  }
  Log("start " + rec.description + " (leader before: n" + std::to_string(rec.leader_before) +
      " term " + std::to_string(rec.term_before) + ")" + (rec.injected ? "" : " INJECTION FAILED"));

  const auto hold_until = Clock::now() + std::chrono::duration<double>(hold);
  if (rec.injected && rec.on_leader) {
    // Hold at least `hold`, longer (up to 15 s) until the rest elected a new leader.
    rec.acted = AwaitNewLeader(rec.targets, 15, rec);
    rec.evidence = rec.acted ? "new leader n" + std::to_string(rec.leader_after) + " term " +
                                   std::to_string(rec.term_after)
                             : "no new leader observed";
  } else if (rec.injected && kind == FaultKind::kKill) {
    rec.acted = true;
    rec.evidence = "process died of SIGKILL";
  } else if (rec.injected && kind == FaultKind::kPause) {
    rec.acted = true;
    rec.evidence = "kernel reported the process stopped";
  }
  const double left = std::chrono::duration<double>(hold_until - Clock::now()).count();
  if (left > 0) Sleep(left);
  if (rec.injected && network && !rec.on_leader) NetworkEvidence(kind, watch, rec);
  if (rec.leader_after == 0) {
    std::tie(rec.leader_after, rec.term_after) = cluster_.LeaderAndTerm(all);
  }
  rec.cut_short = !rec.acted && Stopping();
  Log("evidence: " + rec.evidence +
      (rec.acted       ? ""
       : rec.cut_short ? " (cut short by the end of the run)"
                       : " (FAULT DID NOT VISIBLY ACT)"));

  // Heal.
  if (kind == FaultKind::kDelay) {
    if (netem_ != nullptr) netem_->Heal();
  } else if (network) {
    if (partitioner_ != nullptr) partitioner_->Heal();
  } else {
    for (int n : rec.targets) {
      if (kind == FaultKind::kKill) cluster_.Start(n);
      if (kind == FaultKind::kPause) cluster_.Resume(n);
    }
  }
  rec.end_ns = SinceNs(start_);
  Log("end " + rec.description + ": healed");
  records_.push_back(std::move(rec));
}

}  // namespace kvd::jepsen
