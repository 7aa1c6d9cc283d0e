// Copyright (c) kvd authors.

#include "jepsen/harness/nemesis.h"

#include <algorithm>
#include <cstdio>

namespace kvd::jepsen {
namespace {

std::string NodeList(const std::vector<int>& nodes) {
  std::string out = "{";
  for (size_t i = 0; i < nodes.size(); ++i) out += (i ? ",n" : "n") + std::to_string(nodes[i]);
  return out + "}";
}

bool Contains(const std::vector<int>& nodes, uint64_t node) {
  return std::find(nodes.begin(), nodes.end(), static_cast<int>(node)) != nodes.end();
}

}  // namespace

Nemesis::Nemesis(const Options& options, std::vector<FaultKind> kinds, LocalCluster& cluster,
                 Partitioner* partitioner, Clock::time_point start, const std::string& log_path)
    : options_(options),
      kinds_(std::move(kinds)),
      cluster_(cluster),
      partitioner_(partitioner),
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
  for (int n = 1; n <= cluster_.size(); ++n) {
    if (cluster_.Paused(n)) cluster_.Resume(n);
    if (!cluster_.Running(n)) cluster_.Start(n);
  }
  Log("heal all: partitions removed, every node running and resumed");
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
  rec.targets = {node};
  std::uniform_real_distribution<double> hold_dist(options_.fault_min_s / 2,
                                                   options_.fault_max_s / 2);
  const double hold = hold_dist(rng_);
  const std::string who = (rec.on_leader ? "leader n" : "node n") + std::to_string(node);

  rec.start_ns = SinceNs(start_);
  if (kind == FaultKind::kPartition) {
    std::string mode = "isolate " + who;
    const int minority = (cluster_.size() - 1) / 2;
    if (minority > 1 && leader != 0 && rng_() % 2 == 0) {
      rec.targets = {leader};  // the leader plus others, short of a majority
      while (static_cast<int>(rec.targets.size()) < minority) {
        const int extra = static_cast<int>(rng_() % cluster_.size()) + 1;
        if (!Contains(rec.targets, extra)) rec.targets.push_back(extra);
      }
      std::sort(rec.targets.begin(), rec.targets.end());
      rec.on_leader = true;
      mode = "minority with the leader";
    }
    std::vector<int> rest;
    for (int n : all) {
      if (!Contains(rec.targets, n)) rest.push_back(n);
    }
    rec.description = "partition (" + mode + ") " + NodeList(rec.targets) + " | " + NodeList(rest);
    rec.injected = partitioner_ != nullptr && partitioner_->Isolate(rec.targets);
  } else if (kind == FaultKind::kKill) {
    rec.description = "kill -9 " + who;
    rec.injected = cluster_.Kill(node);
  } else {
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
  if (rec.injected && kind == FaultKind::kPartition && !rec.on_leader) {
    NodeView isolated = cluster_.View(node);
    auto [now_leader, term] = cluster_.LeaderAndTerm(all);
    NodeView lead = now_leader != 0 ? cluster_.View(static_cast<int>(now_leader)) : NodeView{};
    rec.acted = isolated.answered && lead.answered && isolated.applied_index < lead.applied_index;
    rec.evidence = "isolated n" + std::to_string(node) + " applied " +
                   std::to_string(isolated.applied_index) + " vs leader n" +
                   std::to_string(now_leader) + " applied " + std::to_string(lead.applied_index);
  }
  if (rec.leader_after == 0) {
    std::tie(rec.leader_after, rec.term_after) = cluster_.LeaderAndTerm(all);
  }
  rec.cut_short = !rec.acted && Stopping();
  Log("evidence: " + rec.evidence +
      (rec.acted       ? ""
       : rec.cut_short ? " (cut short by the end of the run)"
                       : " (FAULT DID NOT VISIBLY ACT)"));

  // Heal.
  if (kind == FaultKind::kPartition) {
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
