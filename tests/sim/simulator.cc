#include "tests/sim/simulator.h"

#include <algorithm>

#include "jepsen/checker/checker.h"
#include "raft/check.h"

namespace kvd::sim {

namespace {

template <typename T, size_t N>
T Pick(Rng& rng, const T (&choices)[N]) {
  return choices[rng.Below(N)];
}

}  // namespace

std::string ReplayCommand(const SimOptions& options) {
  return options.binary + " --seed " + std::to_string(options.seed) + " --nodes " +
         std::to_string(options.nodes) + " --trace";
}

SimResult RunSimulation(const SimOptions& options) {
  Simulator sim(options);
  return sim.Run();
}

Simulator::Simulator(const SimOptions& options)
    : options_(options),
      rng_(options.seed),
      trace_(options.trace_out, options.trace_ticks),
      invariants_(options.protocol_checks),
      params_(std::make_unique<Params>()) {}

Simulator::~Simulator() = default;

void Simulator::DrawParams() {
  Params& p = *params_;
  const double drops[] = {0.0, 0.01, 0.03, 0.1};
  const double dups[] = {0.0, 0.0, 0.02, 0.05};
  const int64_t max_delays[] = {2, 5, 10, 30};
  const double slows[] = {0.0, 0.01, 0.05};
  const int64_t fsyncs[] = {1, 3, 8, 20};
  const uint64_t snapshot_intervals[] = {4, 10, 25, 100};
  const uint64_t keeps[] = {0, 2, 10};
  const int64_t fault_intervals[] = {250, 500, 1000};
  p.net.drop = Pick(rng_, drops);
  p.net.duplicate = Pick(rng_, dups);
  p.net.max_delay = Pick(rng_, max_delays);
  p.net.min_delay = 1;
  p.net.slow = Pick(rng_, slows);
  p.net.slow_delay = rng_.Chance(0.5) ? 100 : 400;
  p.fsync_max = Pick(rng_, fsyncs);
  p.fsync_min = std::max<int64_t>(1, p.fsync_max / 4);
  p.node.election_tick = 10;
  p.node.heartbeat_tick = rng_.Chance(0.5) ? 1 : 2;
  p.node.snapshot_interval = Pick(rng_, snapshot_intervals);
  p.node.keep_entries = Pick(rng_, keeps);
  const uint64_t msg_sizes[] = {1, 100, 1 << 20};  // 1 byte: one entry per MsgApp
  const int inflights[] = {1, 4, 256};
  p.node.max_size_per_msg = Pick(rng_, msg_sizes);
  p.node.max_inflight_msgs = Pick(rng_, inflights);
  p.node.seed = rng_.Next();
  p.workload.clients = static_cast<int>(rng_.Range(3, 5));
  p.workload.keys = static_cast<int>(rng_.Range(1, 3));
  p.fault_interval = Pick(rng_, fault_intervals);
  p.restart_max = rng_.Chance(0.5) ? 300 : 1500;
  for (const auto& [id, node] : nodes_) p.tick_ms[id] = rng_.Range(9, 11);
}

void Simulator::Setup() {
  const int total = options_.nodes + options_.spare_nodes;
  for (int i = 1; i <= total; ++i) nodes_[static_cast<uint64_t>(i)] = nullptr;
  DrawParams();
  for (auto& [id, node] : nodes_) node = std::make_unique<SimNode>(id, params_->node, *this);
  network_ = std::make_unique<Network>(params_->net, rng_);
  workload_ = std::make_unique<Workload>(params_->workload, rng_, *this);
  for (int i = 1; i <= options_.nodes; ++i) latest_conf_.add_voters(static_cast<uint64_t>(i));
  trace_.Record("setup", 0, options_.seed, static_cast<uint64_t>(options_.nodes),
                params_->fsync_max, params_->node.snapshot_interval,
                "drop=" + std::to_string(params_->net.drop) +
                    " dup=" + std::to_string(params_->net.duplicate) +
                    " delay<=" + std::to_string(params_->net.max_delay));
  for (uint64_t id : latest_conf_.voters()) {
    nodes_[id]->Bootstrap(latest_conf_);
    StartNode(id);
  }
  workload_->Start();
  faults_active_ = options_.faults;
  if (faults_active_) ScheduleNextFault();
  After(options_.fault_ms, [this] { BeginHeal(); });
}

SimResult Simulator::Run() {
  SimResult result;
  const int64_t deadline = options_.fault_ms + options_.heal_ms;
  try {
    Setup();
    while (!done_ && !queue_.empty() && queue_.next_time() <= deadline) {
      trace_.SetTime(queue_.next_time());
      queue_.RunNext();
      ++result.events;
      if (invariants_.failed()) break;
    }
  } catch (const CheckFailure& e) {
    invariants_.Fail(std::string("CHECK failed: ") + e.what());  // in the core, or ours
  } catch (const std::exception& e) {
    invariants_.Fail(std::string("exception: ") + e.what());
  }
  result.end_time = queue_.now();
  if (invariants_.failed()) {
    result.ok = false;
    result.failure = invariants_.failure();
  } else if (!done_) {
    std::string why;
    Converged(&why);
    result.ok = false;
    result.failure =
        "liveness: not converged " + std::to_string(options_.heal_ms) + " ms after healing: " + why;
  } else {
    CheckHistory(&result);
  }
  result.trace_hash = trace_.hash();
  result.summary =
      "events=" + std::to_string(result.events) + " time=" + std::to_string(result.end_time) +
      "ms leaders=" + std::to_string(invariants_.leaders_elected()) +
      " committed=" + std::to_string(invariants_.max_committed()) +
      " crashes=" + std::to_string(stats_.crashes) +
      " leader_kills=" + std::to_string(stats_.leader_kills) +
      " partitions=" + std::to_string(stats_.partitions) +
      " conf=" + std::to_string(stats_.conf_applied) + "/" + std::to_string(stats_.conf_proposals) +
      " transfers=" + std::to_string(stats_.transfers) +
      " snaps_sent=" + std::to_string(stats_.snapshots_sent) +
      (workload_ ? " " + workload_->Summary() : std::string());
  return result;
}

void Simulator::CheckHistory(SimResult* result) {
  if (!options_.check_linearizability) return;
  lincheck::CheckOptions options;
  options.model = lincheck::ModelKind::kRegister;
  options.max_states = 2'000'000;  // a deterministic budget, unlike a time budget
  options.threads = 1;
  lincheck::CheckResult check = lincheck::Check(workload_->CheckableHistory(), options);
  if (check.verdict == lincheck::Verdict::kInvalid) {
    result->ok = false;
    result->failure = "linearizability: " + lincheck::FormatResult(check);
  } else if (check.verdict == lincheck::Verdict::kUnknown) {
    result->lincheck_unknown = true;
  }
}

void Simulator::After(int64_t delay, std::function<void()> fn) {
  queue_.After(delay, std::move(fn));
}

int64_t Simulator::DrawFsyncDelay() { return rng_.Range(params_->fsync_min, params_->fsync_max); }

void Simulator::StartNode(uint64_t id) {
  nodes_.at(id)->Start();
  if (!started_.insert(id).second) return;
  After(rng_.Range(0, params_->tick_ms.at(id) - 1), [this, id] { TickLoop(id); });
}

void Simulator::TickLoop(uint64_t id) {
  if (decommissioned_.count(id)) return;
  nodes_.at(id)->Tick();
  After(params_->tick_ms.at(id), [this, id] { TickLoop(id); });
}

void Simulator::Send(raftpb::Message m) {
  SimNode* from = FindNode(m.from());
  SimNode* to = FindNode(m.to());
  if (from == nullptr || to == nullptr) {
    trace_.Message("drop-unknown", m);
    return;
  }
  if (m.type() == raftpb::MSG_SNAP) ++stats_.snapshots_sent;
  int64_t delays[2];
  int copies = network_->Route(m.from(), m.to(), delays);
  trace_.Message(copies == 0 ? "lost" : copies == 1 ? "send" : "send-twice", m);
  const uint64_t incarnation = from->incarnation();
  if (copies == 0) {
    ++stats_.dropped;
    if (network_->Blocked(m.from(), m.to()) && m.type() == raftpb::MSG_APP) {
      uint64_t peer = m.to();
      After(1, [this, from, incarnation, peer] {
        if (from->up() && from->incarnation() == incarnation) from->ReportUnreachable(peer);
      });
    }
    ReportSnapshotFailed(m, incarnation);
    return;
  }
  for (int i = 0; i < copies; ++i) {
    After(delays[i], [this, m, incarnation] { DeliverNow(m, incarnation); });
  }
}

void Simulator::ReportSnapshotFailed(const raftpb::Message& m, uint64_t sender_incarnation) {
  if (m.type() != raftpb::MSG_SNAP) return;
  uint64_t sender = m.from(), peer = m.to();
  After(params_->net.max_delay, [this, sender, peer, sender_incarnation] {
    SimNode* from = FindNode(sender);
    if (from->up() && from->incarnation() == sender_incarnation) from->ReportSnapshot(peer, true);
  });
}

void Simulator::DeliverNow(const raftpb::Message& m, uint64_t sender_incarnation) {
  SimNode* to = FindNode(m.to());
  if (network_->Blocked(m.from(), m.to()) || !to->up() || decommissioned_.count(m.to())) {
    trace_.Message("lost-in-flight", m);
    ReportSnapshotFailed(m, sender_incarnation);
    return;
  }
  trace_.Message("deliver", m);
  to->Deliver(m);
  if (m.type() == raftpb::MSG_SNAP) {
    SimNode* from = FindNode(m.from());
    if (from->up() && from->incarnation() == sender_incarnation) {
      from->ReportSnapshot(m.to(), false);
    }
  }
}

void Simulator::OnConfChangeApplied(uint64_t node, uint64_t index, const raftpb::ConfState& conf) {
  if (index <= latest_conf_index_) return;
  std::vector<uint64_t> before = Members();
  latest_conf_ = conf;
  latest_conf_index_ = index;
  ++stats_.conf_applied;
  trace_.Record("membership", node, index, 0, 0, 0, conf.ShortDebugString());
  for (uint64_t id : before) {
    if (IsMember(id)) continue;
    // Give the removed node time to learn its removal, as an operator would, then stop it.
    After(3 * 10 * params_->node.election_tick, [this, id] { Decommission(id); });
  }
}

std::vector<uint64_t> Simulator::Members() const {
  std::vector<uint64_t> ids(latest_conf_.voters().begin(), latest_conf_.voters().end());
  ids.insert(ids.end(), latest_conf_.learners().begin(), latest_conf_.learners().end());
  ids.insert(ids.end(), latest_conf_.voters_outgoing().begin(),
             latest_conf_.voters_outgoing().end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

bool Simulator::IsMember(uint64_t id) const {
  std::vector<uint64_t> ids = Members();
  return std::binary_search(ids.begin(), ids.end(), id);
}

SimNode* Simulator::FindNode(uint64_t id) {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : it->second.get();
}

SimNode* Simulator::Leader() {
  SimNode* best = nullptr;
  for (auto& [id, node] : nodes_) {
    if (!node->is_leader() || decommissioned_.count(id)) continue;
    if (best == nullptr || node->term() > best->term()) best = node.get();
  }
  return best;
}

SimNode* Simulator::PickNode(uint64_t hint) {
  if (hint != 0 && IsMember(hint) && nodes_.at(hint)->up()) return nodes_.at(hint).get();
  std::vector<SimNode*> live;
  for (uint64_t id : Members()) {
    if (nodes_.at(id)->up() && !decommissioned_.count(id)) live.push_back(nodes_.at(id).get());
  }
  if (live.empty()) return nullptr;
  return live[rng_.Below(live.size())];
}

}  // namespace kvd::sim
