// RawNode: one replica of one Raft group as a pure, single-threaded state machine.
//
// It owns no thread, socket, clock or file. Inputs are Tick(), Step() and the proposal calls;
// output is a Ready batch. The driver loop is:
//
//   while (node.HasReady()) {
//     Ready rd = node.GetReady();
//     1. Persist rd.snapshot (if any), rd.entries and rd.hard_state durably (fsync).
//        The core's storage (LogReader) must reflect them afterwards.
//     2. Send rd.messages. See "persistence contract" below for the one exception.
//     3. Apply rd.snapshot (if any) and then rd.committed_entries to the state machine, in order;
//        call ApplyConfChange() for each ENTRY_CONF_CHANGE entry as it is applied.
//     4. node.Advance(rd).
//   }
//
// Persistence contract (Raft thesis 10.2.1): every message in a Ready may depend on the Ready's
// hard state or entries (votes granted, appends acknowledged), so messages are sent only once
// those are durable. The one exception: while this node is leader, MSG_APP, MSG_SNAP and
// MSG_HEARTBEAT to followers may be sent before the local fsync; the leader counts its own log
// toward commit only from Advance(), i.e. after its fsync. The exception does NOT hold for a
// Ready whose hard state changes the term or the vote (a node that just won an election): a
// message carrying a term that is not durable yet could, after a crash, let the node vote again
// in that term (with one voter plus learners, its appends could even commit before the term is
// durable). Such a Ready's messages all wait for the fsync.
//
// Between GetReady() and Advance() the driver calls nothing else on the RawNode.
// Thread-safety: none; one thread owns a RawNode.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proto/raft.pb.h"
#include "raft/config.h"
#include "raft/status.h"

namespace kvd::raft {

class Raft;

enum class StateType { kFollower, kCandidate, kLeader, kPreCandidate };
const char* StateName(StateType s);

struct SoftState {
  uint64_t lead = 0;  // 0: no known leader
  StateType state = StateType::kFollower;
  bool operator==(const SoftState&) const = default;
};

// A linearizable read point: once the state machine has applied 'index', a read requested with
// 'request_ctx' may be served from it.
struct ReadState {
  uint64_t index = 0;
  std::string request_ctx;
};

struct Ready {
  std::optional<SoftState> soft_state;           // set when changed; not persisted
  std::optional<raftpb::HardState> hard_state;   // set when changed; persist
  std::optional<raftpb::Snapshot> snapshot;      // set when one arrived; persist and install
  std::vector<raftpb::Entry> entries;            // persist (replacing any conflicting suffix)
  std::vector<raftpb::Entry> committed_entries;  // apply, after persisting
  std::vector<raftpb::Message> messages;         // send, after persisting (see the contract)
  std::vector<ReadState> read_states;
  bool must_sync = false;  // entries or a vote/term change: the write must be fsynced
};

// A snapshot of a follower's replication state, as the leader sees it.
struct ProgressStatus {
  uint64_t match = 0;
  uint64_t next = 0;
  std::string state;  // "probe", "replicate" or "snapshot"
  bool recent_active = false;
  bool is_learner = false;
  int inflight = 0;
};

// An observer's view of a replica; copying it never changes the node.
struct NodeStatus {
  uint64_t id = 0;
  raftpb::HardState hard_state;
  SoftState soft_state;
  uint64_t applied = 0;
  uint64_t last_index = 0;
  uint64_t first_index = 0;
  uint64_t lead_transferee = 0;
  raftpb::ConfState config;
  std::map<uint64_t, ProgressStatus> progress;  // filled only on the leader
};

class RawNode {
 public:
  // Creates a replica from config.storage's durable state. On a brand new group the storage must
  // hold a ConfState naming the initial voters (for example via a snapshot at index 0 or 1).
  static Status Create(const Config& config, std::unique_ptr<RawNode>* out);
  ~RawNode();
  RawNode(const RawNode&) = delete;
  RawNode& operator=(const RawNode&) = delete;

  // Advances logical time by one tick (elections, heartbeats, CheckQuorum).
  void Tick();
  // Starts an election now (PreVote first, if configured).
  Status Campaign();
  // Proposes a command. kProposalDropped if it cannot be appended or forwarded now; an accepted
  // proposal may still be lost (leader change) and must be retried by the client.
  Status Propose(std::string data);
  // Proposes a membership change. At most one is pending at a time; a conflicting one is
  // appended as a no-op (its entry is still handed out, with ENTRY_NORMAL type).
  Status ProposeConfChange(const raftpb::ConfChange& cc);
  // Applies a committed membership change; returns the new configuration to persist.
  raftpb::ConfState ApplyConfChange(const raftpb::ConfChange& cc);
  // Feeds a message from a peer. Local-only types are refused.
  Status Step(raftpb::Message m);
  // Requests a linearizable read point; the answer arrives as a ReadState carrying request_ctx,
  // or never (leader change): callers time out and retry. Requests are batched: all the requests
  // made before the next GetReady() share one heartbeat round. kProposalDropped when no leader
  // is known or an election is running: fail fast.
  Status ReadIndex(std::string request_ctx);
  // Asks the leader to hand leadership to 'transferee'.
  Status TransferLeader(uint64_t transferee);
  // Transport feedback.
  void ReportUnreachable(uint64_t id);
  void ReportSnapshot(uint64_t id, bool failed);

  bool HasReady() const;
  Ready GetReady();
  void Advance(const Ready& rd);

  NodeStatus GetStatus() const;  // the observable snapshot; never changes the node
  // The same without the leader's per-follower progress (cheaper: no map is built).
  NodeStatus GetBasicStatus() const;
  uint64_t id() const;

 private:
  explicit RawNode(std::unique_ptr<Raft> raft);
  std::unique_ptr<Raft> raft_;
  SoftState prev_soft_;
  raftpb::HardState prev_hard_;
};

}  // namespace kvd::raft
