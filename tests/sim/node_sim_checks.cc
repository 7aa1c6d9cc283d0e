// NodeSim: convergence after healing and the end-of-run checks.
#include <algorithm>
#include <cstdio>

#include "kv/node_impl.h"  // white-box state for failure reports
#include "tests/sim/node_sim_impl.h"

namespace kvd::sim::node_sim {

bool NodeSim::Converged(std::string* why) const {
  uint64_t applied = 0;
  bool first = true;
  for (const auto& [id, n] : nodes_) {
    if (!n->up()) {
      *why = "n" + std::to_string(id) + " is down";
      return false;
    }
    kv::ClusterStatus st = n->core->Status();
    const kv::ShardStatus& s = st.shards.at(0);
    if (s.leader == 0) {
      *why = "n" + std::to_string(id) + " knows no leader";
      return false;
    }
    if (!first && s.applied_index != applied) {
      *why = "applied indexes differ (n" + std::to_string(id) + " at " +
             std::to_string(s.applied_index) + ", others at " + std::to_string(applied) + ")";
      return false;
    }
    if (s.applied_index < s.commit_index) {
      *why = "n" + std::to_string(id) + " has not applied its commit index";
      return false;
    }
    applied = s.applied_index;
    first = false;
  }
  for (const auto& c : clients_) {
    if (c.busy) {
      *why = "client c" + std::to_string(c.id) + " is still busy";
      return false;
    }
  }
  return true;
}

std::string NodeSim::Describe() const {
  std::string out;
  for (const auto& [id, n] : nodes_) {
    out += "  n" + std::to_string(id) + ": ";
    if (!n->up()) {
      out += "down\n";
      continue;
    }
    for (const auto& [shard, r] : n->core->impl().replicas) {
      raft::NodeStatus st = r->raw->GetStatus();
      out += std::string(raft::StateName(st.soft_state.state)) + " term " +
             std::to_string(st.hard_state.term()) + " lead " + std::to_string(st.soft_state.lead) +
             " commit " + std::to_string(st.hard_state.commit()) + " log [" +
             std::to_string(st.first_index) + ".." + std::to_string(st.last_index) + "] applied " +
             std::to_string(r->sm->applied().index()) + " staged " +
             std::to_string(r->staged.size()) + (r->staged_complete ? " complete" : "") +
             " accepted " + std::to_string(r->accepted.size());
      for (const auto& [peer, pr] : st.progress) {
        out += " | n" + std::to_string(peer) + " " + pr.state + " match " +
               std::to_string(pr.match) + " next " + std::to_string(pr.next) + " inflight " +
               std::to_string(pr.inflight);
      }
      out += "\n";
    }
  }
  return out;
}

void NodeSim::FinalReads() {
  // A linearizable read of every key, through the leader, into the checked history: every
  // acknowledged write must still be there (or overwritten by a later one).
  for (int k = 0; k < p_.keys; ++k) {
    const uint64_t leader = Leader();
    if (leader == 0) return Fail("no leader for the final reads");
    lincheck::Operation op;
    op.process = 0;
    op.key = "k" + std::to_string(k);
    op.type = lincheck::OpType::kRead;
    op.call = ++clock_;
    op.outcome = lincheck::Outcome::kUnknown;
    const size_t idx = history_.size();
    history_.push_back(op);
    dropped_.push_back(false);
    bool done = false;
    kv::ReadRequest req;
    req.key = op.key;
    OnNode(*nodes_.at(leader), [&](kv::NodeCore& core) {
      core.Read(req, [this, idx, &done](kv::ReadResponse r) {
        lincheck::Operation& o = history_[idx];
        if (r.code == kv::ErrorCode::kOk) o.result = r.record->value();
        o.outcome = (r.code == kv::ErrorCode::kOk || r.code == kv::ErrorCode::kNotFound)
                        ? lincheck::Outcome::kOk
                        : lincheck::Outcome::kFail;
        o.ret = ++clock_;
        done = true;
      });
    });
    const int64_t deadline = q_.now() + 5000;
    while (!done && !failed() && !q_.empty() && q_.now() < deadline) q_.RunNext();
    if (!done || history_[idx].outcome != lincheck::Outcome::kOk) {
      return Fail("the final read of " + op.key + " did not succeed");
    }
  }
}

void NodeSim::CheckReplicasEqual() {
  // Followers may still be a round or a heartbeat behind: give them a bounded time to catch up.
  std::string why;
  const int64_t deadline = q_.now() + 2000;
  while (!failed() && !q_.empty() && q_.now() < deadline && !ReplicasEqual(&why)) {
    const int64_t until = q_.now() + 20;
    while (!failed() && !q_.empty() && q_.now() < until) q_.RunNext();
  }
  if (!failed() && !ReplicasEqual(&why)) Fail(why);
}

bool NodeSim::ReplicasEqual(std::string* why) const {
  std::string reference;
  uint64_t reference_node = 0;
  for (const auto& [id, n] : nodes_) {
    if (!n->up()) {
      *why = "n" + std::to_string(id) + " is down at the end";
      return false;
    }
    kv::ScanRequest req;
    req.limit = 100000;
    kv::ScanResponse resp = n->core->StaleScan(req);
    std::string image;
    for (const auto& [key, rec] : resp.items) {
      image += key + "=" + rec.value() + "/" + std::to_string(rec.version()) + "/" +
               std::to_string(rec.revision()) + ";";
    }
    if (reference_node == 0) {
      reference = image;
      reference_node = id;
    } else if (image != reference) {
      *why = "replicas diverge after healing: n" + std::to_string(reference_node) + " {" +
             reference + "} n" + std::to_string(id) + " {" + image + "}";
      return false;
    }
  }
  return true;
}

void NodeSim::CheckHistory() {
  std::vector<lincheck::Operation> ops;
  for (size_t i = 0; i < history_.size(); ++i) {
    if (!dropped_[i]) ops.push_back(history_[i]);
  }
  lincheck::CheckOptions opts;
  opts.model = lincheck::ModelKind::kRegister;
  opts.time_budget = std::chrono::milliseconds(20000);
  lincheck::CheckResult r = lincheck::Check(ops, opts);
  if (r.verdict == lincheck::Verdict::kInvalid) {
    Fail("history not linearizable:\n" + lincheck::FormatResult(r));
  }
}

}  // namespace kvd::sim::node_sim
