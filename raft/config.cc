#include "raft/config.h"

namespace kvd::raft {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kCompacted:
      return "compacted";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kSnapOutOfDate:
      return "snapshot_out_of_date";
    case Code::kSnapshotTemporarilyUnavailable:
      return "snapshot_temporarily_unavailable";
    case Code::kProposalDropped:
      return "proposal_dropped";
    case Code::kStepLocalMsg:
      return "step_local_message";
    case Code::kStepPeerNotFound:
      return "step_peer_not_found";
    case Code::kInvalidArgument:
      return "invalid_argument";
  }
  return "unknown";
}

Status Config::Validate() const {
  auto invalid = [](const char* why) { return Status::Error(Code::kInvalidArgument, why); };
  if (id == 0) return invalid("id must not be 0");
  if (heartbeat_tick <= 0) return invalid("heartbeat_tick must be positive");
  if (election_tick <= heartbeat_tick) return invalid("election_tick must exceed heartbeat_tick");
  if (storage == nullptr) return invalid("storage is required");
  if (max_inflight_msgs <= 0) return invalid("max_inflight_msgs must be positive");
  if (max_inflight_bytes != 0 && max_inflight_bytes < max_size_per_msg) {
    return invalid("max_inflight_bytes must be 0 or at least max_size_per_msg");
  }
  return Status::Ok();
}

}  // namespace kvd::raft
