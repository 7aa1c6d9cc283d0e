// The fault schedule and the end of a run: crashes, leader kills, partitions, membership changes,
// leadership transfers; then healing and the convergence (liveness) check. See simulator.h.
#include <algorithm>

#include "tests/sim/simulator.h"

namespace kvd::sim {

namespace {

raftpb::ConfChangeSingle Change(raftpb::ConfChangeType type, uint64_t id) {
  raftpb::ConfChangeSingle c;
  c.set_type(type);
  c.set_node_id(id);
  return c;
}

}  // namespace

void Simulator::ScheduleNextFault() {
  int64_t mean = params_->fault_interval;
  After(rng_.Range(mean / 2, mean * 3 / 2), [this] {
    if (!faults_active_) return;
    InjectFault();
    ScheduleNextFault();
  });
}

void Simulator::InjectFault() {
  enum Action { kCrash, kKillLeader, kNetwork, kMembership, kTransfer, kCrashAll, kStorm };
  const int weights[] = {30, 40, 40, options_.membership_changes ? 25 : 0, 20, 3, 15};
  int total = 0;
  for (int w : weights) total += w;
  int dice = static_cast<int>(rng_.Below(static_cast<uint64_t>(total)));
  int action = 0;
  while (dice >= weights[action]) dice -= weights[action++];

  std::vector<uint64_t> live;  // started, not decommissioned, up
  int down = 0;
  for (uint64_t id : started_) {
    if (decommissioned_.count(id)) continue;
    if (nodes_.at(id)->up()) {
      live.push_back(id);
    } else if (IsMember(id)) {
      ++down;
    }
  }
  // Usually keep a quorum up; sometimes take one more node down.
  const int max_down = (latest_conf_.voters_size() - 1) / 2 + (rng_.Chance(0.2) ? 1 : 0);
  switch (action) {
    case kCrash:
      if (down < max_down && !live.empty()) {
        CrashAndRestart(live[rng_.Below(live.size())], "crash");
      }
      break;
    case kKillLeader:
      if (SimNode* leader = Leader(); leader != nullptr && down < max_down) {
        ++stats_.leader_kills;
        CrashAndRestart(leader->id(), "kill-leader");
      }
      break;
    case kNetwork:
      NetworkFault();
      break;
    case kMembership:
      ChangeMembership();
      break;
    case kTransfer:
      TransferLeadership();
      break;
    case kCrashAll:
      for (uint64_t id : live) CrashAndRestart(id, "crash-all");
      break;
    case kStorm:
      storm_until_ = queue_.now() + rng_.Range(1000, 3000);
      trace_.Record("election-storm", 0, static_cast<uint64_t>(storm_until_));
      break;
  }
}

// Election storm: for a while, every newly elected leader is likely to be cut off or crashed
// within a few ms of its election, before its first entries reach a majority. Short-lived
// leaders leave divergent, uncommitted log tails on minorities: the situations where the commit
// rule of §5.4.2 (figure 8) and the election restriction of §5.4.1 matter.
void Simulator::OnLeaderElected(uint64_t node, uint64_t term) {
  if (!faults_active_ || queue_.now() >= storm_until_ || !rng_.Chance(0.8)) return;
  const uint64_t incarnation = nodes_.at(node)->incarnation();
  const bool crash = rng_.Chance(0.2);
  After(rng_.Range(0, 100), [this, node, term, incarnation, crash] {
    SimNode& leader = *nodes_.at(node);
    if (!faults_active_ || !leader.is_leader() || leader.incarnation() != incarnation) return;
    if (crash) {
      ++stats_.leader_kills;
      CrashAndRestart(node, "storm-kill");
      return;
    }
    const uint64_t generation = ++network_fault_generation_;
    ++stats_.partitions;
    network_->HealAll();
    network_->Isolate(node, std::vector<uint64_t>(started_.begin(), started_.end()));
    trace_.Record("storm-isolate", node, term);
    After(rng_.Range(50, 400), [this, generation] {
      if (generation != network_fault_generation_) return;
      network_->HealAll();
      trace_.Record("heal-network", 0);
    });
  });
}

void Simulator::CrashAndRestart(uint64_t id, const char* why) {
  SimNode& node = *nodes_.at(id);
  if (!node.up()) return;
  ++stats_.crashes;
  trace_.Record(why, id, node.term(), node.is_leader() ? 1 : 0);
  node.Crash();
  uint64_t incarnation = node.incarnation();
  After(rng_.Range(20, params_->restart_max),
        [this, id, incarnation] { Restart(id, incarnation); });
}

void Simulator::Restart(uint64_t id, uint64_t incarnation) {
  SimNode& node = *nodes_.at(id);
  if (node.up() || node.incarnation() != incarnation || decommissioned_.count(id)) return;
  StartNode(id);
}

void Simulator::NetworkFault() {
  const uint64_t generation = ++network_fault_generation_;
  network_->HealAll();
  std::vector<uint64_t> ids;
  for (uint64_t id : started_) {
    if (!decommissioned_.count(id)) ids.push_back(id);
  }
  ++stats_.partitions;
  const uint64_t kind = rng_.Below(4);
  SimNode* leader = Leader();
  if (kind == 3 && leader != nullptr) {  // the leader in a minority: it keeps appending there
    std::vector<uint64_t> minority{leader->id()}, majority;
    for (uint64_t id : ids) {
      if (id == leader->id()) continue;
      (minority.size() < (ids.size() - 1) / 2 && rng_.Chance(0.5) ? minority : majority)
          .push_back(id);
    }
    network_->Split(minority, majority);
    trace_.Record("partition-leader-minority", leader->id(), minority.size(), majority.size());
  } else if (kind == 0 || kind == 3) {  // symmetric split into two random sides
    std::vector<uint64_t> a, b;
    for (uint64_t id : ids) (rng_.Chance(0.5) ? a : b).push_back(id);
    network_->Split(a, b);
    trace_.Record("partition", 0, a.size(), b.size());
  } else if (kind == 1) {  // isolate the leader (or anyone)
    uint64_t victim = leader != nullptr ? leader->id() : ids[rng_.Below(ids.size())];
    network_->Isolate(victim, ids);
    trace_.Record("isolate", victim);
  } else {  // a few one-way link cuts
    int cuts = static_cast<int>(rng_.Range(1, 3));
    for (int i = 0; i < cuts; ++i) {
      uint64_t from = ids[rng_.Below(ids.size())], to = ids[rng_.Below(ids.size())];
      if (from == to) continue;
      network_->Cut(from, to);
      trace_.Record("cut", from, to);
    }
  }
  After(rng_.Range(100, 2500), [this, generation] {
    if (generation != network_fault_generation_) return;  // superseded
    network_->HealAll();
    trace_.Record("heal-network", 0);
  });
}

void Simulator::ChangeMembership() {
  SimNode* leader = Leader();
  if (leader == nullptr || latest_conf_.voters_outgoing_size() > 0) return;
  std::vector<uint64_t> voters(latest_conf_.voters().begin(), latest_conf_.voters().end());
  std::vector<uint64_t> learners(latest_conf_.learners().begin(), latest_conf_.learners().end());
  uint64_t spare = 0;
  for (const auto& [id, node] : nodes_) {
    if (!started_.count(id)) {
      spare = id;
      break;
    }
  }
  raftpb::ConfChange cc;
  std::vector<int>
      options;  // 0 add learner, 1 promote, 2 remove voter, 3 joint swap, 4 drop learner
  if (spare != 0) options.push_back(0);
  if (!learners.empty()) options.insert(options.end(), {1, 3, 4});
  if (voters.size() > 3) options.insert(options.end(), {2, 2});
  if (options.empty()) return;
  const uint64_t learner = learners.empty() ? 0 : learners[rng_.Below(learners.size())];
  const uint64_t voter = voters[rng_.Below(voters.size())];
  switch (options[rng_.Below(options.size())]) {
    case 0:
      StartNode(spare);  // empty storage: it will receive a snapshot
      *cc.add_changes() = Change(raftpb::CONF_ADD_LEARNER_NODE, spare);
      break;
    case 1:
      *cc.add_changes() = Change(raftpb::CONF_ADD_NODE, learner);
      break;
    case 2:
      *cc.add_changes() = Change(raftpb::CONF_REMOVE_NODE, voter);
      break;
    case 3:  // two voters change at once: joint consensus, left automatically
      cc.set_transition(raftpb::TRANSITION_JOINT_IMPLICIT);
      *cc.add_changes() = Change(raftpb::CONF_ADD_NODE, learner);
      *cc.add_changes() = Change(raftpb::CONF_REMOVE_NODE, voter);
      break;
    case 4:
      *cc.add_changes() = Change(raftpb::CONF_REMOVE_NODE, learner);
      break;
  }
  ++stats_.conf_proposals;
  trace_.Record("conf-change", leader->id(), 0, 0, 0, 0, cc.ShortDebugString());
  leader->ProposeConfChange(std::move(cc));
}

void Simulator::TransferLeadership() {
  SimNode* leader = Leader();
  if (leader == nullptr) return;
  std::vector<uint64_t> targets;
  for (uint64_t id : latest_conf_.voters()) {
    if (id != leader->id()) targets.push_back(id);
  }
  if (targets.empty()) return;
  ++stats_.transfers;
  uint64_t target = targets[rng_.Below(targets.size())];
  trace_.Record("transfer-leader", leader->id(), target);
  leader->TransferLeader(target);
}

void Simulator::Decommission(uint64_t id) {
  if (IsMember(id) || !decommissioned_.insert(id).second) return;
  trace_.Record("decommission", id);
  if (nodes_.at(id)->up()) nodes_.at(id)->Crash();
}

void Simulator::BeginHeal() {
  faults_active_ = false;
  healing_ = true;
  ++network_fault_generation_;
  network_->HealAll();
  NetworkOptions clean = network_->options();
  clean.drop = 0;
  clean.duplicate = 0;
  clean.slow = 0;
  network_->set_options(clean);
  for (uint64_t id : started_) {
    if (!decommissioned_.count(id) && !nodes_.at(id)->up()) StartNode(id);
  }
  heal_clock_ = workload_->clock();
  trace_.Record("heal", 0, static_cast<uint64_t>(heal_clock_));
  After(100, [this] { CheckConvergence(); });
}

void Simulator::CheckConvergence() {
  // Once a write invoked after healing is acknowledged, stop issuing new operations, so that
  // the followers chase a fixed target rather than a moving one.
  if (workload_->last_acked_write_call() > heal_clock_) workload_->Stop();
  if (Converged(nullptr)) {
    trace_.Record("converged", 0);
    done_ = true;
    return;
  }
  After(100, [this] { CheckConvergence(); });
}

bool Simulator::Converged(std::string* why) {
  auto fail = [why](const std::string& reason) {
    if (why != nullptr) *why = reason;
    return false;
  };
  if (latest_conf_.voters_outgoing_size() > 0) return fail("still in a joint configuration");
  SimNode* leader = Leader();
  if (leader == nullptr || !IsMember(leader->id())) return fail("no leader");
  const uint64_t acked = workload_->max_acked_index();
  for (uint64_t id : Members()) {
    const SimNode& node = *nodes_.at(id);
    const std::string name = "n" + std::to_string(id);
    if (!node.up()) return fail(name + " is down");
    if (node.lead() != leader->id()) {
      return fail(name + " follows n" + std::to_string(node.lead()) + ", leader is n" +
                  std::to_string(leader->id()));
    }
    if (node.applied() < acked) {
      std::string progress;
      for (const auto& [peer, pr] : leader->Status().progress) {
        progress += " n" + std::to_string(peer) + ":" + pr.state +
                    " match=" + std::to_string(pr.match) + " next=" + std::to_string(pr.next) +
                    " inflight=" + std::to_string(pr.inflight);
      }
      return fail(name + " applied " + std::to_string(node.applied()) +
                  " < acknowledged write at " + std::to_string(acked) + "; leader n" +
                  std::to_string(leader->id()) + " progress:" + progress);
    }
  }
  if (workload_->last_acked_write_call() <= heal_clock_) {
    return fail("no write acknowledged since healing");
  }
  return true;
}

}  // namespace kvd::sim
