// Invariants: the safety properties of Raft (§5.2-§5.4, figure 3), checked while the simulation
// runs. The simulated drivers report what they observe at every step; the first violation is
// recorded and ends the seed. Checks are incremental, so they can run after every event.
//
// End-to-end properties:
//   Election safety      at most one leader per term over the whole run: from soft states
//                        (a node observed as leader) and from leader-only messages (App,
//                        Heartbeat, Snap, TimeoutNow name their sender as leader of their term).
//   Log matching         an (index, term) pair names one entry everywhere, and the entry before
//                        it has the same term everywhere (so whole prefixes match, by induction).
//   Committed prefix     every node's log agrees with the term recorded for each committed index.
//   Leader completeness  a leader of term T holds every entry known committed in a term < T.
//   State machine safety no two replicas apply different entries at one index, and snapshots
//                        of the same index carry the same state.
// Protocol rules (checked only when protocol_checks is set):
//   Single vote          a voter grants at most one (non-pre) vote per term, across restarts,
//                        and only once that vote is durable; no message carries a term that
//                        is not durable yet (pre-votes aside).
//   Durable acks         an append acknowledgement covers only entries already durable.
//   Commit rule          a leader advances its commit index only to an entry of its own term.
//
// Ownership: holds only its own bookkeeping; the NodeLogView passed to a call is borrowed for
// that call. Thread-safety: none.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "proto/raft.pb.h"

namespace kvd::sim {

enum class LogLookup { kFound, kCompacted, kMissing };

// A read-only view of one node's current log (durable entries overlaid with the entries of the
// Ready being persisted).
class NodeLogView {
 public:
  virtual ~NodeLogView() = default;
  virtual uint64_t id() const = 0;
  virtual LogLookup TermAt(uint64_t index, uint64_t* term) const = 0;
};

uint64_t EntryHash(const raftpb::Entry& e);

class Invariants {
 public:
  // protocol_checks: also check the protocol rules above.
  explicit Invariants(bool protocol_checks = true) : protocol_checks_(protocol_checks) {}

  bool failed() const { return !failure_.empty(); }
  const std::string& failure() const { return failure_; }
  void Fail(const std::string& what);

  // 'node' is leader of 'term' (its soft state said so at a GetReady).
  void ObserveLeader(uint64_t node, uint64_t term, const NodeLogView& log);
  // A message a node sent; leader-only types and vote grants are checked here.
  // durable_term/vote/last_index describe the sender's durable storage at the time of sending.
  void ObserveSend(const raftpb::Message& m, uint64_t durable_term, uint64_t durable_vote,
                   uint64_t durable_last_index);
  // A node's in-memory hard state says entries <= commit are committed, at term 'term'.
  // *checked is the node's watermark of entries already compared; it is advanced.
  void ObserveCommit(uint64_t term, uint64_t commit, const NodeLogView& log, uint64_t* checked);
  // A leader of 'term' (leader since its previous GetReady) advanced its commit index to 'commit':
  // §5.4.2, a leader commits by counting replicas only entries of its own term.
  void ObserveLeaderCommitAdvance(uint64_t term, uint64_t commit, const NodeLogView& log);
  // 'entries' were made durable on 'log''s node, after the durable entry at index
  // entries.front().index - 1 whose term is prev_term (prev_known false if it was compacted).
  void ObservePersisted(const NodeLogView& log, const std::vector<raftpb::Entry>& entries,
                        bool prev_known, uint64_t prev_term);
  void ObserveApplied(uint64_t node, const raftpb::Entry& e);
  // A snapshot of the state machine at (index, term) was created or installed on 'node'.
  void ObserveSnapshot(uint64_t node, uint64_t index, uint64_t term, const std::string& data);

  // Summary for reports.
  uint64_t max_committed() const { return committed_terms_.size(); }
  uint64_t leaders_elected() const { return leader_of_term_.size(); }

 private:
  void ObserveLeaderOfTerm(uint64_t node, uint64_t term, const char* how);
  // Term recorded for committed index i (1-based), 0 if none.
  uint64_t CommittedTerm(uint64_t i) const {
    return i >= 1 && i <= committed_terms_.size() ? committed_terms_[i - 1] : 0;
  }

  struct LogEntryId {
    uint64_t hash;
    uint64_t prev_term;
    bool prev_known;
  };
  struct PairHash {
    size_t operator()(const std::pair<uint64_t, uint64_t>& p) const {
      return std::hash<uint64_t>()(p.first * 0x9e3779b97f4a7c15ULL ^ p.second);
    }
  };

  const bool protocol_checks_;
  std::string failure_;
  std::map<uint64_t, uint64_t> leader_of_term_;                // term -> leader
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> vote_of_;  // (voter, term) -> candidate
  std::map<uint64_t, uint64_t> max_commit_at_term_;            // term -> max commit seen in it
  std::vector<uint64_t> committed_terms_;                      // [i-1] = term of committed i
  std::unordered_map<std::pair<uint64_t, uint64_t>, LogEntryId, PairHash> log_ids_;
  std::unordered_map<uint64_t, uint64_t> applied_hash_;  // index -> entry hash
  std::unordered_map<uint64_t, std::pair<uint64_t, uint64_t>> snapshot_hash_;  // index -> term,hash
};

}  // namespace kvd::sim
