// SimNode: one simulated kvd replica: a RawNode, its durable storage, the driver loop of
// raft/raw_node.h with a modelled fsync, a KV state machine and the callbacks of client
// operations submitted to it.
//
// Durability model: the MemoryStorage is the disk *after* fsync. A Ready whose writes must be
// synced (must_sync) is held in pending_ready_ until an fsync event fires DrawFsyncDelay() ms
// later; only then are its snapshot, entries and hard state written to the MemoryStorage, its
// messages sent (except the leader's App/Snap/Heartbeat, sent at GetReady time as the thesis
// allows), its committed entries applied and Advance() called. A Ready that needs no sync (only
// a new commit index, messages, committed entries) is handled at once. Crash() throws away the
// RawNode, the pending Ready (so every unsynced write is lost), the state machine and the inbox;
// Start() rebuilds all of them from the MemoryStorage (state machine from the stored snapshot,
// committed entries re-applied by the core since Config.applied = snapshot index).
//
// Snapshots: after snapshot_interval applied entries, and after every applied membership change
// (the core ignores a snapshot that does not include the recipient, so a newly added node needs
// one taken after its addition), the state machine is saved with CreateSnapshot and the log
// compacted, keeping keep_entries; lagging or new nodes then receive MsgSnap.
//
// Between GetReady() and Advance() nothing else may be called on the RawNode, so every input
// (tick, message, proposal, read, membership change, transport feedback) goes through a bounded
// inbox drained one input at a time; after each input the driver handles the Ready it produced.
// That also makes every soft state change visible to the invariant checker.
//
// Ownership: owns the RawNode, storage and state machine; borrows the NodeHost, which must
// outlive it. Client callbacks are owned until called; each is called at most once, with
// kLost if the node crashes first. Thread-safety: none.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "raft/memory_storage.h"
#include "raft/raw_node.h"
#include "tests/sim/invariants.h"
#include "tests/sim/kv_state_machine.h"
#include "tests/sim/trace.h"

namespace kvd::sim {

// What a simulated node needs from the world around it; implemented by the Simulator.
class NodeHost {
 public:
  virtual ~NodeHost() = default;
  virtual void After(int64_t delay, std::function<void()> fn) = 0;
  virtual int64_t DrawFsyncDelay() = 0;
  virtual void Send(raftpb::Message m) = 0;
  virtual Invariants& invariants() = 0;
  virtual Trace& trace() = 0;
  // A committed membership change at log index 'index' was applied by 'node'.
  virtual void OnConfChangeApplied(uint64_t node, uint64_t index,
                                   const raftpb::ConfState& conf) = 0;
  // 'node' became leader of 'term' (observed at a GetReady). Must not call back into the node.
  virtual void OnLeaderElected(uint64_t node, uint64_t term) = 0;
};

struct NodeOptions {
  int election_tick = 10;
  int heartbeat_tick = 1;
  uint64_t snapshot_interval = 30;      // applied entries between snapshots; 0 = never
  uint64_t keep_entries = 5;            // entries kept below the snapshot index when compacting
  uint64_t max_size_per_msg = 1 << 20;  // bytes of entries per MsgApp (small: split batches)
  int max_inflight_msgs = 256;          // unacknowledged MsgApps per follower
  uint64_t seed = 0;                    // mixed with node id and incarnation for the RawNode
  size_t max_inbox = 4096;              // inputs beyond this are dropped
};

// The outcome of a client operation submitted to a node.
struct OpResult {
  enum class Status { kOk, kDropped, kLost };  // kDropped: certainly not in the log
  Status status = Status::kLost;
  bool cas_ok = false;
  uint64_t index = 0;                // log index of an applied write
  std::optional<std::string> value;  // reads
};
using OpDone = std::function<void(const OpResult&)>;

// The ReadIndex context of a client's read: unique over the run.
std::string ReadContext(uint64_t client, uint64_t op);

class SimNode final : public NodeLogView {
 public:
  SimNode(uint64_t id, const NodeOptions& options, NodeHost& host);
  ~SimNode() override;
  SimNode(const SimNode&) = delete;
  SimNode& operator=(const SimNode&) = delete;

  // Writes the initial membership into empty storage (a snapshot at index 1, term 1).
  void Bootstrap(const raftpb::ConfState& conf);
  void Start();  // requires !up()
  void Crash();  // requires up()

  // Inputs; ignored (dropped) while the node is down.
  void Tick();
  void Deliver(raftpb::Message m);
  void Propose(uint64_t client, uint64_t op, std::string data, OpDone done);
  void Read(uint64_t client, uint64_t op, std::string key, OpDone done);
  void CancelClientOp(uint64_t client, uint64_t op);  // forget its callback (timed out)
  void ProposeConfChange(raftpb::ConfChange cc);
  void TransferLeader(uint64_t transferee);
  void ReportSnapshot(uint64_t to, bool failed);
  void ReportUnreachable(uint64_t to);

  // NodeLogView.
  uint64_t id() const override { return id_; }
  LogLookup TermAt(uint64_t index, uint64_t* term) const override;

  bool up() const { return up_; }
  uint64_t incarnation() const { return incarnation_; }
  bool is_leader() const { return up_ && soft_.state == raft::StateType::kLeader; }
  uint64_t lead() const { return up_ ? soft_.lead : 0; }
  uint64_t term() const { return term_; }
  uint64_t applied() const { return applied_; }
  const raft::MemoryStorage& storage() const { return storage_; }
  const KvStateMachine& state_machine() const { return sm_; }
  // The core's own view (for diagnostics); requires up().
  raft::NodeStatus Status() const { return raw_->GetStatus(); }

 private:
  void Enqueue(std::function<void()> input, const char* what);
  void Pump();
  void HandleReady();
  void CheckReadyContract(const raft::Ready& rd);
  void FinishReady();
  void Persist(const raft::Ready& rd);
  void SendNow(raftpb::Message m);
  void ApplyEntry(const raftpb::Entry& e);
  void RestoreSnapshot(const raftpb::Snapshot& snap);
  void ServeReads();
  void MaybeSnapshot();

  const uint64_t id_;
  const NodeOptions options_;
  NodeHost& host_;

  raft::MemoryStorage storage_;  // durable; survives Crash()
  uint64_t incarnation_ = 0;

  // Volatile state, rebuilt by Start().
  bool up_ = false;
  bool busy_ = false;     // a Ready is waiting for its fsync
  bool pumping_ = false;  // Pump() is on the stack
  std::unique_ptr<raft::RawNode> raw_;
  std::optional<raft::Ready> pending_ready_;
  std::vector<raftpb::Message> deferred_;  // the pending Ready's messages held for the fsync
  std::deque<std::function<void()>> inbox_;
  raft::SoftState soft_;
  uint64_t term_ = 0;
  uint64_t last_term_ = 0;  // term_ and commit index at the previous GetReady
  uint64_t last_commit_ = 0;
  uint64_t commit_checked_ = 0;  // invariant-checker watermark, see Invariants::ObserveCommit
  KvStateMachine sm_;
  uint64_t applied_ = 0;
  uint64_t last_snapshot_index_ = 0;
  bool snapshot_due_ = false;     // a membership change was applied since the last snapshot
  raftpb::ConfState conf_state_;  // membership as of applied_
  std::map<std::pair<uint64_t, uint64_t>, OpDone> pending_writes_;  // (client, op)
  struct PendingRead {
    std::string key;
    OpDone done;
    bool has_index = false;
    uint64_t index = 0;
  };
  std::map<std::string, PendingRead> pending_reads_;  // by ReadContext()
};

}  // namespace kvd::sim
