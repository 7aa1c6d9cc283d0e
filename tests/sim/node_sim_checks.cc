// NodeSim: convergence after healing and the end-of-run checks.
#include <algorithm>
#include <cstdio>

#include "kv/node_impl.h"  // white-box state for failure reports
#include "tests/sim/node_sim_impl.h"

namespace kvd::sim::node_sim {

bool NodeSim::Converged(std::string* why) const {
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> applied;  // shard -> (index, first node)
  for (const auto& [id, n] : nodes_) {
    if (!n->up()) {
      *why = "n" + std::to_string(id) + " is down";
      return false;
    }
    for (const kv::ShardStatus& s : n->core->Status().shards) {
      const std::string where = "n" + std::to_string(id) + " shard " + std::to_string(s.id);
      if (s.leader == 0) {
        *why = where + " knows no leader";
        return false;
      }
      auto [it, first] = applied.emplace(s.id, std::make_pair(s.applied_index, id));
      if (!first && s.applied_index != it->second.first) {
        *why = "applied indexes differ (" + where + " at " + std::to_string(s.applied_index) +
               ", n" + std::to_string(it->second.second) + " at " +
               std::to_string(it->second.first) + ")";
        return false;
      }
      if (s.applied_index < s.commit_index) {
        *why = where + " has not applied its commit index";
        return false;
      }
    }
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
  // A linearizable read of every key into the checked history: every acknowledged write must
  // still be there (or overwritten by a later one). A read that fails (an election somewhere, a
  // node that just resumed) applied nothing and is tried again, through the next node; only a
  // read that fails everywhere for long is a failure.
  for (int k = 0; k < p_.keys; ++k) {
    const std::string key = "k" + std::to_string(k);
    bool ok = false;
    const int64_t deadline = q_.now() + 10000;
    for (int attempt = 0; !ok && !failed() && !q_.empty() && q_.now() < deadline && attempt < 100;
         ++attempt) {
      auto it = nodes_.begin();
      std::advance(it, (static_cast<size_t>(k) + static_cast<size_t>(attempt)) % nodes_.size());
      SimNode& node = *it->second;
      if (!node.up()) continue;
      lincheck::Operation op;
      op.process = 0;
      op.key = key;
      op.type = lincheck::OpType::kRead;
      op.call = ++clock_;
      op.outcome = lincheck::Outcome::kUnknown;
      const size_t idx = history_.size();
      history_.push_back(op);
      dropped_.push_back(false);
      bool done = false;
      kv::ReadRequest req;
      req.key = key;
      OnNode(node, [&](kv::NodeCore& core) {
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
      const int64_t attempt_deadline = q_.now() + 5000;
      while (!done && !failed() && !q_.empty() && q_.now() < attempt_deadline) q_.RunNext();
      ok = done && history_[idx].outcome == lincheck::Outcome::kOk;
      if (!done) dropped_[idx] = true;  // never answered: a read has no effect
      // Let an election settle before the next attempt.
      const int64_t pause_until = q_.now() + 100;
      while (!ok && !failed() && !q_.empty() && q_.now() < pause_until) q_.RunNext();
    }
    if (!ok && !failed()) return Fail("the final read of " + key + " did not succeed");
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
  std::map<uint64_t, std::pair<std::string, uint64_t>> reference;  // shard -> (image, node)
  for (const auto& [id, n] : nodes_) {
    if (!n->up()) {
      *why = "n" + std::to_string(id) + " is down at the end";
      return false;
    }
    for (const auto& [shard, r] : n->core->impl().replicas) {
      std::vector<kv::ScanItem> items;
      bool more = false;
      raft::Status s = r->sm->Scan("", "", 1000000, &items, &more, size_t{1} << 30);
      if (!s.ok()) {
        *why = "n" + std::to_string(id) + " cannot scan shard " + std::to_string(shard);
        return false;
      }
      std::string image;
      for (const auto& item : items) {
        image += item.key + "=" + item.record.value() + "/" +
                 std::to_string(item.record.version()) + "/" +
                 std::to_string(item.record.revision()) + ";";
      }
      auto [it, first] = reference.emplace(shard, std::make_pair(image, id));
      if (!first && image != it->second.first) {
        *why = "replicas of shard " + std::to_string(shard) + " diverge after healing: n" +
               std::to_string(it->second.second) + " {" + it->second.first + "} n" +
               std::to_string(id) + " {" + image + "}";
        return false;
      }
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
