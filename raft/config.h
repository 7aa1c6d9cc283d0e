// Config: everything a Raft replica needs to start. All nondeterminism is injected here: the
// seed of the election-timeout generator and the (optional) logger. Time is counted in ticks.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "raft/log_reader.h"
#include "raft/status.h"

namespace kvd::raft {

struct Config {
  uint64_t id = 0;  // this replica's node id; never 0

  // A follower that hears nothing from a leader for a random time in
  // [election_tick, 2*election_tick) ticks starts an election. Must exceed heartbeat_tick.
  int election_tick = 10;
  int heartbeat_tick = 1;  // the leader sends heartbeats every heartbeat_tick ticks

  // Durable state; borrowed, must outlive the RawNode. Read-only to the core.
  const LogReader* storage = nullptr;

  // The last index already applied to the state machine, on restart. Entries at or below it are
  // never handed out for applying again.
  uint64_t applied = 0;

  uint64_t max_size_per_msg = 1 << 20;              // bytes of entries per MsgApp
  uint64_t max_committed_size_per_ready = 1 << 24;  // bytes of committed entries per Ready
  uint64_t max_uncommitted_entries_size = 64
                                          << 20;  // leader drops proposals past this; 0 = no limit
  int max_inflight_msgs = 256;                    // unacknowledged MsgApps per follower
  uint64_t max_inflight_bytes = 0;                // bytes of them; 0 = no limit

  bool check_quorum = true;  // a leader not hearing a quorum for an election timeout steps down
  bool pre_vote = true;      // a trial election first, so a rejoining node does not bump terms
  bool step_down_on_removal = true;  // a leader removed from the membership steps down

  uint64_t random_seed = 0;  // seeds the election-timeout generator

  // Optional diagnostics sink; never used for decisions.
  std::function<void(std::string_view)> logger;

  Status Validate() const;
};

}  // namespace kvd::raft
