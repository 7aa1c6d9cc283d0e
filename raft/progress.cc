#include "raft/progress.h"

#include <algorithm>

#include "raft/check.h"

namespace kvd::raft {

const char* ProgressStateName(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "?";
}

void Progress::ResetState(ProgressState s) {
  msg_app_flow_paused = false;
  pending_snapshot = 0;
  state = s;
  inflights.Reset();
}

void Progress::BecomeProbe() {
  // After a snapshot, resume right after it (or after match if that is further).
  if (state == ProgressState::kSnapshot) {
    const uint64_t pending = pending_snapshot;
    ResetState(ProgressState::kProbe);
    next = std::max(match + 1, pending + 1);
  } else {
    ResetState(ProgressState::kProbe);
    next = match + 1;
  }
}

void Progress::BecomeReplicate() {
  ResetState(ProgressState::kReplicate);
  next = match + 1;
}

void Progress::BecomeSnapshot(uint64_t snapshot_index) {
  ResetState(ProgressState::kSnapshot);
  pending_snapshot = snapshot_index;
}

void Progress::SentEntries(int count, uint64_t bytes, uint64_t last_index) {
  switch (state) {
    case ProgressState::kReplicate:
      if (count > 0) {
        next = last_index + 1;
        inflights.Add(last_index, bytes);
      }
      break;
    case ProgressState::kProbe:
      if (count > 0) msg_app_flow_paused = true;
      break;
    case ProgressState::kSnapshot:
      KVD_CHECK_MSG(false, "sending entries while a snapshot is in flight");
  }
}

bool Progress::MaybeUpdate(uint64_t index) {
  bool updated = false;
  if (match < index) {
    match = index;
    updated = true;
    msg_app_flow_paused = false;
  }
  next = std::max(next, index + 1);
  return updated;
}

bool Progress::MaybeDecrTo(uint64_t rejected, uint64_t match_hint) {
  if (state == ProgressState::kReplicate) {
    if (rejected <= match) return false;  // stale: already known to match beyond it
    next = match + 1;
    return true;
  }
  if (next - 1 != rejected) return false;  // stale: not a response to the latest probe
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  msg_app_flow_paused = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe:
      return msg_app_flow_paused;
    case ProgressState::kReplicate:
      return inflights.Full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

}  // namespace kvd::raft
