// Simulator: one deterministic run of a simulated kvd cluster, driven by one seed.
//
// A run: bootstrap 3 or 5 voters (plus spare ids for membership changes); every node ticks on
// its own virtual clock; clients issue reads, writes and CAS; a fault schedule crashes nodes
// (losing unsynced writes) and restarts them, kills leaders, partitions the network, changes
// membership (learners, promotions, removals, joint changes), transfers leadership and runs
// election storms (new leaders cut off right after their election). After every event the
// Invariants are checked. Then faults stop, the network heals, crashed nodes restart and the run
// must converge within a bound: a new write acknowledged (then clients stop), a stable leader
// followed by every member, no joint configuration left, every acknowledged write applied on
// every live member. Finally the client history must be linearizable (kvd_lincheck, register).
//
// Everything random comes from one Rng seeded with the seed, including the run's "swarm"
// parameters (drop and duplication rates, delays, fsync latency, snapshot interval, MsgApp size
// and inflight limits, fault rate),
// so `kvd_sim --seed N --nodes K` replays a run exactly; Result.trace_hash fingerprints it.
//
// A failed KVD_CHECK in the core (kvd::CheckFailure; the sim libraries are built with
// KVD_CHECK_THROWS) fails the seed like any other violation.
//
// Ownership: the Simulator owns every node, the network, the clients and the event queue;
// closures in the queue borrow them. Thread-safety: none; one run per object.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "tests/sim/event_queue.h"
#include "tests/sim/invariants.h"
#include "tests/sim/network.h"
#include "tests/sim/rng.h"
#include "tests/sim/sim_node.h"
#include "tests/sim/trace.h"
#include "tests/sim/workload.h"

namespace kvd::sim {

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 3;            // initial voters: 3 or 5
  int spare_nodes = 4;      // ids available for additions (never reused)
  int64_t fault_ms = 8000;  // length of the faulty phase (virtual ms)
  int64_t heal_ms = 6000;   // bound for convergence after healing
  bool faults = true;
  bool membership_changes = true;
  bool check_linearizability = true;
  // Also check protocol rules directly (durable vote/ack/term before sending, one vote per term,
  // the §5.4.2 commit rule). Off, a bug must surface end to end (election safety, log matching,
  // leader completeness, state machine safety, linearizability, core CHECKs); switchable so
  // that the report can say how deep each planted bug is found.
  bool protocol_checks = true;
  std::ostream* trace_out = nullptr;  // non-null: print the event log
  bool trace_ticks = false;
  std::string binary = "build/tests/sim/kvd_sim";  // for the replay command
};

struct SimResult {
  bool ok = true;
  std::string failure;  // empty when ok
  uint64_t trace_hash = 0;
  uint64_t events = 0;
  int64_t end_time = 0;           // virtual ms
  bool lincheck_unknown = false;  // the checker ran out of budget (not a failure)
  std::string summary;            // one line of statistics
};

// The command that replays a run with its event log.
std::string ReplayCommand(const SimOptions& options);

SimResult RunSimulation(const SimOptions& options);

class Simulator final : public NodeHost, public ClientHost {
 public:
  explicit Simulator(const SimOptions& options);
  ~Simulator() override;
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  SimResult Run();

  // NodeHost and ClientHost.
  void After(int64_t delay, std::function<void()> fn) override;
  int64_t DrawFsyncDelay() override;
  void Send(raftpb::Message m) override;
  Invariants& invariants() override { return invariants_; }
  Trace& trace() override { return trace_; }
  void OnConfChangeApplied(uint64_t node, uint64_t index, const raftpb::ConfState& conf) override;
  void OnLeaderElected(uint64_t node, uint64_t term) override;
  SimNode* PickNode(uint64_t hint) override;
  SimNode* FindNode(uint64_t id) override;

 private:
  // The swarm parameters of one seed: drawn once from the seed, so that different seeds explore
  // different regimes (lossy or clean network, slow or fast disks, frequent or rare snapshots).
  struct Params {
    NetworkOptions net;
    NodeOptions node;
    WorkloadOptions workload;
    int64_t fsync_min = 1, fsync_max = 5;
    int64_t fault_interval = 600;         // mean ms between faults
    int64_t restart_max = 1500;           // ms a crashed node stays down, at most
    std::map<uint64_t, int64_t> tick_ms;  // per node: clocks run at slightly different rates
  };
  struct Stats {
    int crashes = 0, leader_kills = 0, partitions = 0, conf_proposals = 0, conf_applied = 0,
        transfers = 0, snapshots_sent = 0, dropped = 0;
  };

  void DrawParams();
  void Setup();
  void StartNode(uint64_t id);
  void TickLoop(uint64_t id);
  void DeliverNow(const raftpb::Message& m, uint64_t sender_incarnation);
  void ReportSnapshotFailed(const raftpb::Message& m, uint64_t sender_incarnation);
  std::vector<uint64_t> Members() const;  // voters, learners, outgoing voters of latest_conf_
  bool IsMember(uint64_t id) const;
  SimNode* Leader();  // the live leader with the highest term, if any

  // Faults (faults.cc).
  void ScheduleNextFault();
  void InjectFault();
  void CrashAndRestart(uint64_t id, const char* why);
  void Restart(uint64_t id, uint64_t incarnation);
  void NetworkFault();
  void ChangeMembership();
  void TransferLeadership();
  void Decommission(uint64_t id);

  // End of run (faults.cc).
  void BeginHeal();
  void CheckConvergence();
  bool Converged(std::string* why);
  void CheckHistory(SimResult* result);

  const SimOptions options_;
  Rng rng_;
  EventQueue queue_;
  Trace trace_;
  Invariants invariants_;
  std::unique_ptr<Params> params_;
  std::unique_ptr<Network> network_;
  std::unique_ptr<Workload> workload_;
  std::map<uint64_t, std::unique_ptr<SimNode>> nodes_;  // every id, including spares
  std::set<uint64_t> started_;                          // ids ever started (they tick)
  std::set<uint64_t> decommissioned_;                   // removed from the group, stopped
  raftpb::ConfState latest_conf_;                       // newest applied membership
  uint64_t latest_conf_index_ = 1;
  bool faults_active_ = false;
  int64_t storm_until_ = -1;  // an election storm runs until then, see OnLeaderElected
  uint64_t network_fault_generation_ = 0;
  bool healing_ = false;
  int64_t heal_clock_ = 0;  // the workload's clock when healing began
  bool done_ = false;
  std::string liveness_failure_;
  Stats stats_;
};

}  // namespace kvd::sim
