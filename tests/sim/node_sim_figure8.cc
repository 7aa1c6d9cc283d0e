// NodeSim: the figure-8 schedule (Raft paper, figure 8), scripted instead of hoped for. On a
// 5-node cluster with one-entry appends:
//   1. the leader A keeps only B reachable, so its new entries reach B and nobody else;
//   2. A dies; B is cut off; C, D or E becomes leader L of a higher term, appends its no-op
//      (durable on L alone), and is cut off and killed at once;
//   3. A restarts with the links healed and A or B is elected again (their logs are the
//      longest); it replicates the old-term entries, and a few milliseconds into its term,
//      before its own no-op can reach a majority, A and B are killed;
//   4. L restarts: its last log term beats the other two's, it wins with them and overwrites
//      the old entries.
// Raft is safe here because A never counts replicas of an old-term entry toward commitment; a
// core that does (the planted commit_previous_term bug) commits entries that step 4 erases.
#include "tests/sim/node_sim_impl.h"

namespace kvd::sim::node_sim {

uint64_t NodeSim::TermOf(uint64_t node) const {
  const SimNode& n = *nodes_.at(node);
  if (!n.up()) return 0;
  const kv::ShardStatus* s = FindShard(n.core->Status(), kFirstShard);
  return s != nullptr ? s->term : 0;
}

void NodeSim::Figure8Start() {
  q_.After(20, [this] {
    if (failed() || !faults_on_) return;
    const uint64_t a = Leader();
    std::vector<uint64_t> others;
    for (const auto& [id, n] : nodes_) {
      if (id != a && n->up()) others.push_back(id);
    }
    if (a == 0 || others.size() < 4) return Figure8Start();  // wait for a full, led cluster
    const uint64_t b = others[rng_.Below(others.size())];
    Trace("figure8: leader keeps one follower", a, b);
    for (auto& c : clients_) c.hint = a;  // writes go to A, so that it has entries to spread
    for (uint64_t id : others) {
      if (id == b) continue;
      net_.Cut(a, id);
      net_.Cut(id, a);
    }
    q_.After(rng_.Range(80, 200), [this, a, b] { Figure8NewLeader(a, b, TermOf(a)); });
  });
}

void NodeSim::Figure8NewLeader(uint64_t a, uint64_t b, uint64_t old_term) {
  if (failed() || !faults_on_) return;
  SimNode& na = *nodes_.at(a);
  if (na.up()) Crash(na, "figure8: old leader killed");
  std::vector<uint64_t> all;
  for (const auto& [id, n] : nodes_) all.push_back(id);
  net_.Isolate(b, all);
  Figure8Poll(200, [this, a, b, old_term, all](uint64_t leader) {
    if (leader == a || leader == b || TermOf(leader) <= old_term) return false;
    net_.Isolate(leader, all);  // its no-op stays with it
    const uint64_t l = leader, l_term = TermOf(leader);
    Trace("figure8: new leader cut off", l, l_term);
    q_.After(1, [this, a, b, l, l_term, all] {
      SimNode& nl = *nodes_.at(l);
      if (nl.up()) Crash(nl, "figure8: new leader killed");
      net_.HealAll();
      net_.Isolate(l, all);  // until it restarts: its no-op, still in flight, is lost
      ScheduleRestart(*nodes_.at(a), 1);
      // A or B (both hold the old entries) wins the next term; kill it a few ms in.
      Figure8Poll(400, [this, a, b, l, l_term](uint64_t leader) {
        if ((leader != a && leader != b) || TermOf(leader) <= l_term) return false;
        Trace("figure8: old log re-elected", leader, TermOf(leader));
        q_.After(rng_.Range(5, 120), [this, a, b, l] {
          // Both holders of the old entries go down; L comes back and wins with the other two.
          for (uint64_t id : {a, b}) {
            SimNode& n = *nodes_.at(id);
            if (n.up()) Crash(n, "figure8: old log killed");
            ScheduleRestart(n, rng_.Range(300, 600));
          }
          net_.HealAll();
          ScheduleRestart(*nodes_.at(l), 1);
        });
        return true;
      });
    });
    return true;
  });
}

void NodeSim::Figure8Poll(int tries, std::function<bool(uint64_t leader)> on_leader) {
  q_.After(2, [this, tries, on_leader] {
    if (failed() || !faults_on_ || tries <= 0) return;
    const uint64_t leader = Leader();
    if (leader != 0 && on_leader(leader)) return;
    Figure8Poll(tries - 1, on_leader);
  });
}

}  // namespace kvd::sim::node_sim
