// Progress: the leader's view of one follower's log (Raft §5.3 nextIndex/matchIndex) and the
// flow-control state machine that decides when to send it entries:
//   kProbe:     one MsgApp at a time until the follower's position is found; one whose answer
//               is missing is re-sent at most once per heartbeat interval;
//   kReplicate: optimistic pipelining, bounded by Inflights;
//   kSnapshot:  a snapshot is in flight; nothing else is sent until it is reported.
// Single-threaded; owned by ProgressTracker.
#pragma once

#include <cstdint>

#include "raft/inflights.h"

namespace kvd::raft {

enum class ProgressState { kProbe, kReplicate, kSnapshot };
const char* ProgressStateName(ProgressState s);

struct Progress {
  Progress(uint64_t next_index, int max_inflight, uint64_t max_inflight_bytes, bool learner)
      : next(next_index), inflights(max_inflight, max_inflight_bytes), is_learner(learner) {}

  uint64_t match = 0;
  uint64_t next = 1;
  ProgressState state = ProgressState::kProbe;
  uint64_t pending_snapshot = 0;     // index of the snapshot in flight (kSnapshot)
  bool recent_active = false;        // heard from within the last election timeout (CheckQuorum)
  bool msg_app_flow_paused = false;  // kProbe: one message is already in flight
  uint64_t probe_sent_tick = 0;      // kProbe: the leader's tick when it was sent
  Inflights inflights;
  bool is_learner = false;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(uint64_t snapshot_index);

  // Records that entries up to 'last_index' (count entries, 'bytes' bytes) were sent.
  void SentEntries(int count, uint64_t bytes, uint64_t last_index);
  // The follower acknowledged 'index'. Returns false if the acknowledgement is stale.
  bool MaybeUpdate(uint64_t index);
  // The follower rejected an append at 'rejected'; 'match_hint' is where to probe next.
  // Returns false if the rejection is stale.
  bool MaybeDecrTo(uint64_t rejected, uint64_t match_hint);
  bool IsPaused() const;

 private:
  void ResetState(ProgressState state);
};

}  // namespace kvd::raft
