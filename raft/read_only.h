// ReadOnly: the leader's batched ReadIndex protocol (Raft thesis §6.4).
//
// Read requests queue up; Flush() starts one heartbeat round for all of them, recording the
// commit index at that moment. Followers echo the round id in their heartbeat responses; an ack
// for round r also confirms every earlier round (it was sent after them). Once a quorum has acked
// a round, it and every earlier round are released: their requests may be served at the
// recorded index once it is applied.
// Single-threaded; owned by Raft. Bounded by the caller: the driver limits outstanding reads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "raft/quorum.h"

namespace kvd::raft {

struct ReadRequest {
  uint64_t from = 0;        // node that asked (the leader itself for local requests)
  std::string request_ctx;  // opaque to Raft
};

class ReadOnly {
 public:
  void Queue(ReadRequest request) { queued_.push_back(std::move(request)); }
  bool HasQueued() const { return !queued_.empty(); }

  // Starts a round for every queued request at 'commit_index', acked by 'self'. Returns the
  // round id to send in heartbeats, or 0 if nothing was queued.
  uint64_t Flush(uint64_t commit_index, uint64_t self);

  // Records that 'from' acked round 'round_id'. Returns the requests released by this ack, each
  // with the index at which it may be served.
  std::vector<std::pair<uint64_t, ReadRequest>> Ack(uint64_t round_id, uint64_t from,
                                                    const JointConfig& voters);

  // Id of the newest round still waiting, or 0: heartbeats carry it so a lost ack is retried.
  uint64_t LatestPendingRound() const { return rounds_.empty() ? 0 : rounds_.rbegin()->first; }
  size_t PendingCount() const;

  // Leadership lost: every pending request is dropped (clients time out and retry).
  void Reset();

  static std::string EncodeRoundId(uint64_t id);
  static uint64_t DecodeRoundId(const std::string& ctx);  // 0 if malformed

 private:
  struct Round {
    uint64_t index = 0;
    std::vector<ReadRequest> requests;
    std::set<uint64_t> acks;
  };
  std::vector<ReadRequest> queued_;
  std::map<uint64_t, Round> rounds_;  // by round id, oldest first
  uint64_t next_round_id_ = 1;
};

}  // namespace kvd::raft
