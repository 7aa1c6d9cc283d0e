// Raft: the consensus state machine of one replica (Raft paper; thesis chapters 3, 4, 6).
// Internal to raft/: users drive it through RawNode. Single-threaded, no I/O. It appends the
// messages it wants sent to an outbox and the read points it confirmed to read_states; RawNode
// packages both into Ready batches.
//
// Files: raft.cc (roles, ticks, message dispatch, elections), raft_leader.cc (replication,
// commit, ReadIndex, transfer), raft_follower.cc (followers/candidates, appends, snapshots),
// raft_conf.cc-like parts live in raft.cc (membership switch).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "proto/raft.pb.h"
#include "raft/config.h"
#include "raft/raft_log.h"
#include "raft/raw_node.h"
#include "raft/read_only.h"
#include "raft/tracker.h"

namespace kvd::raft {

class Raft {
 public:
  static Status Create(const Config& config, std::unique_ptr<Raft>* out);

  void Tick();
  Status Step(raftpb::Message m);

  // Membership: applies a committed change, returns the resulting configuration.
  raftpb::ConfState ApplyConfChange(const raftpb::ConfChange& cc);

  // Ready support (RawNode).
  raftpb::HardState hard_state() const;
  SoftState soft_state() const { return {lead_, state_}; }
  bool HasUnsentReadRound() const;
  void FlushReadIndex();  // starts one heartbeat round for every queued read request
  std::vector<raftpb::Message> TakeMessages() { return std::move(msgs_); }
  std::vector<ReadState> TakeReadStates() { return std::move(read_states_); }
  bool HasMessagesOrReads() const { return !msgs_.empty() || !read_states_.empty(); }
  // The driver made the log durable through (index, term), installed 'snapshot_index' (0: none)
  // and applied through 'applied_index' (0: nothing new).
  void OnPersisted(uint64_t index, uint64_t term, uint64_t snapshot_index);
  void OnApplied(uint64_t applied_index, uint64_t applied_bytes);

  const RaftLog& log() const { return log_; }
  const ProgressTracker& tracker() const { return trk_; }
  uint64_t id() const { return id_; }
  uint64_t term() const { return term_; }
  uint64_t lead_transferee() const { return lead_transferee_; }
  StateType state() const { return state_; }

 private:
  explicit Raft(const Config& config);

  enum class CampaignType { kPreElection, kElection, kTransfer };

  // Roles (raft.cc).
  void BecomeFollower(uint64_t term, uint64_t lead);
  void BecomeCandidate();
  void BecomePreCandidate();
  void BecomeLeader();
  void Reset(uint64_t term);
  void ResetRandomizedElectionTimeout();
  bool PastElectionTimeout() const;
  bool Promotable() const;
  void TickElection();
  void TickHeartbeat();
  void Hup(CampaignType t);
  void Campaign(CampaignType t);
  VoteResult Poll(uint64_t id, bool granted);
  void HandleVoteRequest(const raftpb::Message& m);
  void Send(raftpb::Message m);
  void SwitchToConfig(TrackerConfig cfg, ProgressMap prs);
  bool HasUnappliedConfChanges() const;
  void Log(const std::string& what) const;

  // Leader (raft_leader.cc).
  Status StepLeader(raftpb::Message& m);
  Status HandlePropose(raftpb::Message& m);
  void HandleAppendResponse(const raftpb::Message& m, Progress& pr);
  void HandleHeartbeatResponse(const raftpb::Message& m, Progress& pr);
  void HandleTransferLeader(const raftpb::Message& m, Progress& pr);
  void HandleReadIndexRequest(const raftpb::Message& m);
  void ReleasePendingReadIndexMessages();
  void RespondToRead(uint64_t index, const ReadRequest& req);
  bool AppendEntries(std::vector<raftpb::Entry> entries);
  bool MaybeSendAppend(uint64_t to, bool send_if_empty);
  void SendHeartbeat(uint64_t to, const std::string& ctx);
  void BroadcastAppend();
  void BroadcastHeartbeat();
  bool MaybeCommit();
  bool CommittedEntryInCurrentTerm() const;
  void AbortLeaderTransfer() { lead_transferee_ = 0; }
  void SendTimeoutNow(uint64_t to);
  void MaybeAutoLeaveJoint();

  // Follower and candidates (raft_follower.cc).
  Status StepFollower(raftpb::Message& m);
  Status StepCandidate(raftpb::Message& m);
  void HandleAppendEntries(const raftpb::Message& m);
  void HandleHeartbeat(const raftpb::Message& m);
  void HandleSnapshot(const raftpb::Message& m);
  bool Restore(const raftpb::Snapshot& s);

  uint64_t id_;
  uint64_t term_ = 0;
  uint64_t vote_ = 0;
  uint64_t lead_ = 0;
  StateType state_ = StateType::kFollower;
  bool is_learner_ = false;

  RaftLog log_;
  ProgressTracker trk_;
  ReadOnly read_only_;
  std::vector<raftpb::Message> pending_read_index_msgs_;  // until the term's first commit
  std::vector<raftpb::Message> msgs_;
  std::vector<ReadState> read_states_;

  uint64_t lead_transferee_ = 0;
  uint64_t pending_conf_index_ = 0;  // the leader has a conf change up to here not yet applied
  uint64_t uncommitted_size_ = 0;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  uint64_t ticks_ = 0;  // every tick since start (monotonic; paces probes)
  int randomized_election_timeout_ = 0;
  const int election_timeout_;
  const int heartbeat_timeout_;
  const uint64_t max_msg_size_;
  const uint64_t max_uncommitted_size_;
  const bool check_quorum_;
  const bool pre_vote_;
  const bool step_down_on_removal_;
  std::mt19937_64 rng_;
  std::function<void(std::string_view)> logger_;
};

// Whether a message type is a response (those from unknown peers are dropped).
bool IsResponseMsg(raftpb::MessageType t);
// Whether a message type is only ever generated locally.
bool IsLocalMsg(raftpb::MessageType t);
// One-line description of a message, for traces and scenario scripts.
std::string DescribeMessage(const raftpb::Message& m);
std::string DescribeEntry(const raftpb::Entry& e);

}  // namespace kvd::raft
