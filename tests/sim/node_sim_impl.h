// Private to tests/sim/node_sim*.cc: the NodeSim run and its parts (see node_sim.h for what a
// run is and checks). node_sim.cc: setup, parameters, the run loop; node_sim_nodes.cc: nodes,
// the simulated transport, faults; node_sim_clients.cc: clients and the acknowledgement checks;
// node_sim_checks.cc: convergence and the end-of-run checks; node_sim_locks.cc: lock workers;
// node_sim_txn.cc: bank workers over transactions (node_sim_txn_checks.cc: their final checks).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "jepsen/checker/checker.h"
#include "kv/fault_env.h"
#include "kv/node_core.h"
#include "kv/ring.h"
#include "kv/state_machine.h"
#include "raft/check.h"
#include "tests/sim/event_queue.h"
#include "tests/sim/network.h"
#include "tests/sim/node_sim.h"
#include "tests/sim/rng.h"

namespace kvd::sim::node_sim {

constexpr uint64_t kFirstShard = 1;  // the shard whose leader the schedules kill and follow
constexpr int64_t kTickMs = 10;
constexpr int64_t kRequestTimeoutMs = 1000;
constexpr int64_t kClientTimeoutMs = 1300;
constexpr int kMaxWriteAttempts = 4;

// Thrown from a node's crash-point hook: the node dies there.
struct SimCrash {
  kv::CrashPoint point;
};

// The run's "swarm" parameters, drawn from the seed.
struct Params {
  NetworkOptions net;
  double crash_point_chance = 0;  // per CrashPoint visited while faults are on
  int64_t fault_interval = 500;
  int64_t restart_max = 300;
  uint64_t compact_every = 50;
  size_t chunk_bytes = 1 << 20;
  uint64_t max_size_per_msg = 1 << 20;
  int max_inflight = 256;
  int clients = 4;
  int keys = 3;
  double read_share = 0.4;
  int64_t session_ttl_ms = 8000;    // small enough that a clock jump would expire sessions
  int64_t max_clock_offset_ms = 0;  // nodes' wall clocks differ by up to this
  double defer_rounds = 0;  // chance that a delivered frame waits in the inbox for a later round
  bool storm = false;       // kill leaders soon after they are elected (short-lived leaders)
  bool figure8 = false;     // run the figure-8 schedule (node_sim_figure8.cc) instead
  double pause_on_snapshot = 0;  // chance a snapshot's recipient is stopped as it arrives
  int shards = 1;                // data shards
  int replication = 3;
  bool balance_leaders = false;  // hand leaderships to preferred replicas (production default)
  // A node started with flags that describe another ring (--vnodes) than the cluster's: it must
  // route by the directory the meta shard committed all the same (0: none).
  uint64_t misconfigured_node = 0;
  // Clients pause for idle_ms from idle_from_ms (faults go on), and the run idles as long again
  // before the final reads, so idle groups quiesce and must wake (0: no pause).
  int64_t idle_from_ms = 0, idle_ms = 0;
  int lock_workers = 0;  // contend for one lock guarding one key (node_sim_locks.cc)
  int txn_workers = 0;   // bank transfers and whole-bank reads as transactions (node_sim_txn.cc)
  int64_t txn_ttl_ms = 500;  // NodeConfig::txn_ttl_ms: recovery may abort a pending record then
};

// What a replica applied at one index.
struct AppliedRecord {
  std::string client;
  uint64_t seq = 0;
  std::string key, value;
  std::string result;  // serialized kvpb::Result
  bool operator==(const AppliedRecord&) const = default;
};

class NodeSim;

// This node's status of 'shard', or null if it hosts no replica of it.
inline const kv::ShardStatus* FindShard(const kv::ClusterStatus& st, uint64_t shard) {
  for (const auto& s : st.shards) {
    if (s.id == shard) return &s;
  }
  return nullptr;
}

class SimTransport final : public kv::Transport {
 public:
  SimTransport(NodeSim& sim, uint64_t self) : sim_(sim), self_(self) {}
  bool Send(kvpb::PeerBatch batch) override;
  bool Reachable(uint64_t node) const override;

 private:
  NodeSim& sim_;
  uint64_t self_;
};

struct SimNode {
  uint64_t id = 0;
  std::string dir;
  std::unique_ptr<kv::FaultEnv> env;
  std::unique_ptr<SimTransport> transport;
  std::unique_ptr<kv::NodeCore> core;
  uint64_t incarnation = 0;
  bool restart_scheduled = false;
  bool round_scheduled = false;  // inputs wait in the "inbox" for a later round
  int64_t paused_until = 0;      // SIGSTOP: frames queue, nothing runs, until then
  std::vector<std::shared_ptr<kvpb::PeerBatch>> paused_inbox;
  int64_t clock_offset_ms = 0;  // this machine's wall clock minus true time
  // Its monotonic clock: base + true time * rate / 1000 (rate 990..1010: drift up to 1%).
  int64_t mono_base_ms = 0;
  int64_t mono_rate = 1000;
  // Its wall clock steps by wall_step_ms at wall_step_at (an NTP step; nothing may depend on it).
  int64_t wall_step_at = 0, wall_step_ms = 0;
  bool up() const { return core != nullptr; }
};

struct Client {
  uint64_t id = 0;
  uint64_t seq = 0;
  bool busy = false;
  uint64_t token = 0;  // the attempt in flight; answers to older attempts are ignored
  size_t hist = 0;     // index in history_ of the operation in flight
  uint64_t hint = 0;   // node that last answered
  bool is_write = false;
  int attempts = 0;
  bool maybe_applied = false;  // an earlier attempt's outcome is unknown
};

// A worker of the lock workload (node_sim_locks.cc).
struct LockWorker {
  uint64_t id = 0;
  uint64_t seq = 0;      // its session's (acquires and fenced writes are exactly-once)
  uint64_t attempt = 0;  // the step in flight; answers to older steps are ignored
  bool busy = false;
  uint64_t hint = 0;
  int64_t ttl = 0;
  int64_t sent = 0;  // when it sent the acquire
  uint64_t token = 0;
  size_t lease = 0;  // index in leases_ of the lease it holds
};

// A lease as its worker believed it: from the grant's acknowledgement to its end.
struct Lease {
  uint64_t token = 0;
  uint64_t worker = 0;
  int64_t start = 0, end = 0;
};

// The bank workload's values (node_sim_txn.cc): "<balance>|<write id>". ParseBalance is false
// for a value no worker writes.
bool ParseBalance(const std::string& value, int64_t* balance, std::string* id);
kv::TxnOp TxnGet(const std::string& key);

// A worker of the bank workload (node_sim_txn.cc).
struct TxnWorker {
  uint64_t id = 0;
  uint64_t n = 0;  // transfers sent: the write ids "T<id>:<n>"
  bool busy = false;
};

// A transfer as its worker sent it: the value it compared on each of its two accounts ("": the
// account was absent) and the value it wrote, and what it was answered.
struct Transfer {
  enum class State { kSent, kAcked, kFailed, kUnknown };  // kSent: never answered
  std::string id;
  std::string key[2], prev[2], next[2];
  State state = State::kSent;
  std::string answer;  // kFailed: the answer
  int64_t acked = 0;   // kAcked: when
};

// A successful read of accounts (a transaction of gets or a plain read): when it was sent and
// the values it returned ("": absent).
struct AccountRead {
  int64_t sent = 0;
  std::vector<std::pair<std::string, std::string>> values;
};

class NodeSim {
 public:
  explicit NodeSim(const NodeSimOptions& options)
      : options_(options), rng_(options.seed), net_(NetworkOptions{}, rng_) {}
  ~NodeSim();
  NodeSimResult Run();

  // Transport.
  bool Send(uint64_t from, kvpb::PeerBatch batch);
  bool Reachable(uint64_t from, uint64_t to) const {
    return !net_.Blocked(from, to) && nodes_.count(to) && nodes_.at(to)->up();
  }

 private:
  void DrawParams();
  void Trace(const std::string& what, uint64_t node = 0, uint64_t a = 0, uint64_t b = 0);
  void Fail(const std::string& why);
  bool failed() const { return !result_.failure.empty(); }

  // Nodes.
  void Start(SimNode& n);
  kv::NodeConfig ConfigFor(SimNode& n);
  // Runs f on the core, then (or, if !round_now, a little later) its rounds; handles crashes.
  template <typename F>
  void OnNode(SimNode& n, F&& f, bool round_now = true);
  void Pump(SimNode& n);
  void DeferredRound(uint64_t id, uint64_t incarnation);  // the rounds a delivery deferred
  static void NoInput(kv::NodeCore&) {}
  void Crash(SimNode& n, const std::string& why);
  void ScheduleRestart(SimNode& n, int64_t delay);
  void TickLoop(uint64_t id);
  uint64_t Leader() const;
  std::vector<uint64_t> UpNodes() const;

  // Faults.
  void FaultLoop();
  void StormLoop();
  // node_sim_figure8.cc
  void Figure8Start();
  void Figure8NewLeader(uint64_t a, uint64_t b, uint64_t old_term);
  // Calls on_leader with the current leader every 2 ms until it returns true (at most 'tries').
  void Figure8Poll(int tries, std::function<bool(uint64_t leader)> on_leader);
  uint64_t TermOf(uint64_t node) const;            // 0 if down
  void Pause(SimNode& n, int64_t ms);              // SIGSTOP for ms
  void Resume(uint64_t id, uint64_t incarnation);  // end of a pause
  void Heal();

  // Clients.
  void Issue(Client& c);
  void SubmitWrite(Client& c);
  void WriteDone(uint64_t cid, uint64_t token, const kv::WriteResponse& r);
  void ReadDone(uint64_t cid, uint64_t token, const kv::ReadResponse& r);
  void ClientTimeout(uint64_t cid, uint64_t token);
  void Finish(Client& c, lincheck::Outcome outcome);
  SimNode* PickNode(uint64_t hint);
  void OnApply(uint64_t node, uint64_t shard, uint64_t index, const kvpb::Command& cmd,
               const kvpb::Result& r);
  void CheckAck(const Client& c, const kv::WriteResponse& r);

  // Lock workers (node_sim_locks.cc).
  void LockIssue(uint64_t wid);
  void LockWrite(uint64_t wid, bool stalled);
  void LockKeepalive(uint64_t wid);
  void LockRelease(uint64_t wid);
  void LockIdle(LockWorker& w);
  void LockCall(LockWorker& w, const kv::LockRequest& req, int64_t timeout,
                std::function<void(kv::LockResponse)> done);
  void OnLockApply(uint64_t shard, uint64_t index, const kvpb::Command& cmd, const kvpb::Result& r);
  void CheckLocks();

  // Bank workers over transactions (node_sim_txn.cc).
  void TxnSetup();
  void TxnIssue(uint64_t wid);
  void TxnReadAll(uint64_t wid);
  void TxnPlainRead(uint64_t wid);
  void TxnTransfer(uint64_t wid);
  void TransferDone(const std::string& id, const kv::TxnResponse& r);
  void TxnIdle(uint64_t wid);
  // Sends req through 'node' (0: a random node); done gets the answer, or kTimeout if none
  // came by the client's timeout.
  void TxnCall(TxnWorker& w, kv::TxnRequest req, std::function<void(kv::TxnResponse)> done,
               uint64_t node = 0);
  void CountTxn(const kv::TxnResponse& r);
  // The balances and values ("": absent) of a transaction of gets of 'keys'; false (and the
  // run failed) if the answer is malformed.
  bool TxnBalances(const kv::TxnResponse& r, const std::vector<std::string>& keys,
                   const std::string& what, int64_t sent, std::vector<int64_t>* balances,
                   std::vector<std::string>* values);
  void CheckTotal(const std::vector<int64_t>& balances, const std::vector<std::string>& values,
                  const std::string& what);
  void OnTxnApply(uint64_t shard, uint64_t index, const kvpb::Command& cmd, const kvpb::Result& r);
  void NoteTxnCounters(SimNode& n);  // before a node's core goes away
  std::string TxnSummary();
  // node_sim_txn_checks.cc: after healing, nothing in doubt, the final state, the chains.
  void TxnFinal();
  void TxnFinalList();
  void TxnFinalReads();
  void CheckChains();

  // End of run.
  bool Converged(std::string* why) const;
  std::string Describe() const;  // every node's Raft state, for failure reports
  void FinalReads();
  void CheckReplicasEqual();
  bool ReplicasEqual(std::string* why) const;
  void CheckHistory();

  NodeSimOptions options_;
  Rng rng_;
  EventQueue q_;
  Network net_;
  Params p_;
  std::string root_;
  std::map<uint64_t, std::unique_ptr<SimNode>> nodes_;
  std::map<std::pair<uint64_t, uint64_t>, int64_t> link_tail_;  // last delivery time per link
  std::vector<kv::NodeInfo> members_;
  bool faults_on_ = true;
  bool clients_stop_ = false;
  int64_t heal_time_ = 0;
  bool acked_after_heal_ = false;

  std::vector<Client> clients_;
  std::vector<lincheck::Operation> history_;
  std::vector<bool> dropped_;  // parallel to history_: failed reads carry no information
  int64_t clock_ = 0;
  uint64_t next_token_ = 1;
  // Which shard owns each key: the simulator's own ring of the directory the meta shard
  // committed (the first DirectoryInit any node applied).
  std::unique_ptr<kv::Ring> owner_;
  using Slot = std::pair<uint64_t, uint64_t>;                      // (shard, index)
  std::map<Slot, AppliedRecord> applied_;                          // what was applied at a slot
  std::map<std::pair<std::string, uint64_t>, Slot> executed_;      // (client, seq) -> slot
  std::map<std::pair<std::string, uint64_t>, std::string> acked_;  // (client, seq) -> result
  struct NodeClocks {
    int64_t mono_base = 0, mono_rate = 1000, wall_step_at = 0, wall_step_ms = 0;
  };
  std::vector<NodeClocks> clocks_;  // per node (from a generator of their own)
  std::vector<LockWorker> lock_workers_;
  std::vector<Lease> leases_;
  std::map<Slot, uint64_t> fenced_applied_;  // accepted writes of the guarded key: token
  std::map<Slot, uint64_t> lock_ends_;       // applied releases: token
  std::map<Slot, uint64_t> lock_grants_;     // acquires granted at once: token
  std::vector<TxnWorker> txn_workers_;
  std::vector<std::string> accounts_;
  std::map<std::string, Transfer> transfers_;  // by write id
  std::vector<AccountRead> account_reads_;
  std::vector<std::string> final_values_;             // per account, after healing
  std::set<Slot> txn_slots_;                          // record entries already counted
  std::map<std::string, kvpb::TxnState> txn_states_;  // record states as applied, by id
  NodeSimResult result_;
};

template <typename F>
void NodeSim::OnNode(SimNode& n, F&& f, bool round_now) {
  if (!n.up() || failed() || n.paused_until > q_.now()) return;  // a paused node does nothing
  try {
    f(*n.core);
    if (!round_now) {
      // Like kv::Node's inbox: several inputs (e.g. two snapshot streams after a pause) are
      // handled before the round that persists and applies what they produced.
      if (!n.round_scheduled) {
        n.round_scheduled = true;
        const uint64_t id = n.id, incarnation = n.incarnation;
        q_.After(rng_.Range(1, 30), [this, id, incarnation] { DeferredRound(id, incarnation); });
      }
      return;
    }
    Pump(n);
  } catch (const SimCrash& c) {
    Crash(n, std::string("at ") + kv::CrashPointName(c.point));
    ScheduleRestart(n, rng_.Range(1, p_.restart_max));
  } catch (const CheckFailure& e) {
    Fail("n" + std::to_string(n.id) + ": " + e.what());
  }
}

}  // namespace kvd::sim::node_sim
