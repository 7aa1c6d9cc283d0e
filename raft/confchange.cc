#include "raft/confchange.h"

#include <algorithm>
#include <iterator>

namespace kvd::raft {
namespace {

Status Invalid(const std::string& why) { return Status::Error(Code::kInvalidArgument, why); }

size_t SymmetricDifference(const std::set<uint64_t>& a, const std::set<uint64_t>& b) {
  std::vector<uint64_t> out;
  std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out.size();
}

raftpb::ConfChangeSingle Single(raftpb::ConfChangeType type, uint64_t id) {
  raftpb::ConfChangeSingle c;
  c.set_type(type);
  c.set_node_id(id);
  return c;
}

}  // namespace

Status Changer::EnterJoint(bool auto_leave, const std::vector<raftpb::ConfChangeSingle>& changes,
                           TrackerConfig* cfg, ProgressMap* prs) const {
  *cfg = tracker_.config;
  *prs = tracker_.progress;
  if (cfg->joint()) return Invalid("configuration is already joint");
  if (cfg->voters.incoming.ids.empty()) return Invalid("cannot make a zero-voter config joint");
  cfg->voters.outgoing = cfg->voters.incoming;
  Status s = Apply(changes, cfg, prs);
  if (!s.ok()) return s;
  cfg->auto_leave = auto_leave;
  return CheckInvariants(*cfg, *prs);
}

Status Changer::LeaveJoint(TrackerConfig* cfg, ProgressMap* prs) const {
  *cfg = tracker_.config;
  *prs = tracker_.progress;
  if (!cfg->joint()) return Invalid("cannot leave a non-joint configuration");
  for (uint64_t id : cfg->learners_next) {
    cfg->learners.insert(id);
    prs->at(id).is_learner = true;
  }
  cfg->learners_next.clear();
  for (uint64_t id : cfg->voters.outgoing.ids) {
    if (!cfg->voters.incoming.ids.count(id) && !cfg->learners.count(id)) prs->erase(id);
  }
  cfg->voters.outgoing.ids.clear();
  cfg->auto_leave = false;
  return CheckInvariants(*cfg, *prs);
}

Status Changer::Simple(const std::vector<raftpb::ConfChangeSingle>& changes, TrackerConfig* cfg,
                       ProgressMap* prs) const {
  *cfg = tracker_.config;
  *prs = tracker_.progress;
  if (cfg->joint()) return Invalid("cannot apply a simple change in a joint configuration");
  Status s = Apply(changes, cfg, prs);
  if (!s.ok()) return s;
  if (SymmetricDifference(tracker_.config.voters.incoming.ids, cfg->voters.incoming.ids) > 1) {
    return Invalid("more than one voter changed without entering a joint configuration");
  }
  return CheckInvariants(*cfg, *prs);
}

Status Changer::Apply(const std::vector<raftpb::ConfChangeSingle>& changes, TrackerConfig* cfg,
                      ProgressMap* prs) const {
  for (const auto& c : changes) {
    if (c.node_id() == 0) continue;  // a no-op change
    switch (c.type()) {
      case raftpb::CONF_ADD_NODE:
        MakeVoter(c.node_id(), cfg, prs);
        break;
      case raftpb::CONF_ADD_LEARNER_NODE:
        MakeLearner(c.node_id(), cfg, prs);
        break;
      case raftpb::CONF_REMOVE_NODE:
        Remove(c.node_id(), cfg, prs);
        break;
      default:
        return Invalid("unknown conf change type");
    }
  }
  if (cfg->voters.incoming.ids.empty()) return Invalid("removed all voters");
  return Status::Ok();
}

void Changer::MakeVoter(uint64_t id, TrackerConfig* cfg, ProgressMap* prs) const {
  auto it = prs->find(id);
  if (it == prs->end()) {
    InitProgress(id, /*learner=*/false, cfg, prs);
    return;
  }
  it->second.is_learner = false;
  cfg->learners.erase(id);
  cfg->learners_next.erase(id);
  cfg->voters.incoming.ids.insert(id);
}

void Changer::MakeLearner(uint64_t id, TrackerConfig* cfg, ProgressMap* prs) const {
  auto it = prs->find(id);
  if (it == prs->end()) {
    InitProgress(id, /*learner=*/true, cfg, prs);
    return;
  }
  if (it->second.is_learner) return;
  Progress kept = it->second;
  Remove(id, cfg, prs);
  prs->insert_or_assign(id, kept);
  // A voter of the outgoing half cannot be a learner until the joint config is left.
  if (cfg->voters.outgoing.ids.count(id)) {
    cfg->learners_next.insert(id);
  } else {
    prs->at(id).is_learner = true;
    cfg->learners.insert(id);
  }
}

void Changer::Remove(uint64_t id, TrackerConfig* cfg, ProgressMap* prs) const {
  if (!prs->count(id)) return;
  cfg->voters.incoming.ids.erase(id);
  cfg->learners.erase(id);
  cfg->learners_next.erase(id);
  // Still a voter of the outgoing half: keep tracking it until the joint config is left.
  if (!cfg->voters.outgoing.ids.count(id)) prs->erase(id);
}

void Changer::InitProgress(uint64_t id, bool learner, TrackerConfig* cfg, ProgressMap* prs) const {
  if (learner) {
    cfg->learners.insert(id);
  } else {
    cfg->voters.incoming.ids.insert(id);
  }
  Progress pr(std::max<uint64_t>(last_index_, 1), tracker_.max_inflight(),
              tracker_.max_inflight_bytes(), learner);
  // A new member counts as active so that adding it does not make CheckQuorum step down at once.
  pr.recent_active = true;
  prs->insert_or_assign(id, std::move(pr));
}

Status Changer::CheckInvariants(const TrackerConfig& cfg, const ProgressMap& prs) {
  for (uint64_t id : cfg.voters.AllIds()) {
    if (!prs.count(id)) return Invalid("no progress for voter " + std::to_string(id));
  }
  for (uint64_t id : cfg.learners) {
    auto it = prs.find(id);
    if (it == prs.end()) return Invalid("no progress for learner " + std::to_string(id));
    if (!it->second.is_learner) return Invalid("learner not marked: " + std::to_string(id));
    if (cfg.voters.AllIds().count(id)) return Invalid("learner is a voter: " + std::to_string(id));
  }
  for (uint64_t id : cfg.learners_next) {
    auto it = prs.find(id);
    if (it == prs.end()) return Invalid("no progress for learner_next " + std::to_string(id));
    if (it->second.is_learner) return Invalid("learner_next marked learner");
    if (!cfg.voters.outgoing.ids.count(id)) return Invalid("learner_next not outgoing voter");
  }
  if (!cfg.joint() && (!cfg.learners_next.empty() || cfg.auto_leave)) {
    return Invalid("learners_next or auto_leave set outside a joint configuration");
  }
  return Status::Ok();
}

Status RestoreConfig(const raftpb::ConfState& cs, uint64_t last_index, ProgressTracker* tracker) {
  tracker->config = TrackerConfig{};
  tracker->progress.clear();
  // Applies changes one at a time as simple changes (each alters at most one voter).
  auto apply_simple = [&](const raftpb::ConfChangeSingle& c) {
    TrackerConfig cfg;
    ProgressMap prs;
    Status s = Changer(*tracker, last_index).Simple({c}, &cfg, &prs);
    if (!s.ok()) return s;
    tracker->config = std::move(cfg);
    tracker->progress = std::move(prs);
    return Status::Ok();
  };
  std::vector<raftpb::ConfChangeSingle> incoming;
  if (cs.voters_outgoing().empty()) {
    for (uint64_t id : cs.voters()) incoming.push_back(Single(raftpb::CONF_ADD_NODE, id));
    for (uint64_t id : cs.learners()) incoming.push_back(Single(raftpb::CONF_ADD_LEARNER_NODE, id));
    if (!cs.learners_next().empty()) return Invalid("learners_next outside a joint config");
    for (const auto& c : incoming) {
      Status s = apply_simple(c);
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }
  // Joint: rebuild the outgoing half as a plain config, then enter the joint config that turns it
  // into the incoming half.
  for (uint64_t id : cs.voters_outgoing()) {
    Status s = apply_simple(Single(raftpb::CONF_ADD_NODE, id));
    if (!s.ok()) return s;
  }
  for (uint64_t id : cs.voters_outgoing()) incoming.push_back(Single(raftpb::CONF_REMOVE_NODE, id));
  for (uint64_t id : cs.voters()) incoming.push_back(Single(raftpb::CONF_ADD_NODE, id));
  for (uint64_t id : cs.learners()) incoming.push_back(Single(raftpb::CONF_ADD_LEARNER_NODE, id));
  for (uint64_t id : cs.learners_next()) {
    incoming.push_back(Single(raftpb::CONF_ADD_LEARNER_NODE, id));
  }
  TrackerConfig cfg;
  ProgressMap prs;
  Status s = Changer(*tracker, last_index).EnterJoint(cs.auto_leave(), incoming, &cfg, &prs);
  if (!s.ok()) return s;
  tracker->config = std::move(cfg);
  tracker->progress = std::move(prs);
  return Status::Ok();
}

bool ConfChangeEntersJoint(const raftpb::ConfChange& cc, bool* auto_leave) {
  if (cc.transition() == raftpb::TRANSITION_AUTO && cc.changes_size() <= 1) return false;
  *auto_leave = cc.transition() != raftpb::TRANSITION_JOINT_EXPLICIT;
  return true;
}

bool ConfChangeLeavesJoint(const raftpb::ConfChange& cc) { return cc.changes_size() == 0; }

}  // namespace kvd::raft
