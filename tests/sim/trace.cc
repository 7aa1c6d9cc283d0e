#include "tests/sim/trace.h"

#include <cstdio>

namespace kvd::sim {

namespace {

uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::string_view MessageTypeName(raftpb::MessageType t) {
  switch (t) {
    case raftpb::MSG_HUP:
      return "Hup";
    case raftpb::MSG_BEAT:
      return "Beat";
    case raftpb::MSG_PROP:
      return "Prop";
    case raftpb::MSG_APP:
      return "App";
    case raftpb::MSG_APP_RESP:
      return "AppResp";
    case raftpb::MSG_VOTE:
      return "Vote";
    case raftpb::MSG_VOTE_RESP:
      return "VoteResp";
    case raftpb::MSG_SNAP:
      return "Snap";
    case raftpb::MSG_HEARTBEAT:
      return "Heartbeat";
    case raftpb::MSG_HEARTBEAT_RESP:
      return "HeartbeatResp";
    case raftpb::MSG_UNREACHABLE:
      return "Unreachable";
    case raftpb::MSG_SNAP_STATUS:
      return "SnapStatus";
    case raftpb::MSG_CHECK_QUORUM:
      return "CheckQuorum";
    case raftpb::MSG_TRANSFER_LEADER:
      return "TransferLeader";
    case raftpb::MSG_TIMEOUT_NOW:
      return "TimeoutNow";
    case raftpb::MSG_READ_INDEX:
      return "ReadIndex";
    case raftpb::MSG_READ_INDEX_RESP:
      return "ReadIndexResp";
    case raftpb::MSG_PRE_VOTE:
      return "PreVote";
    case raftpb::MSG_PRE_VOTE_RESP:
      return "PreVoteResp";
    default:
      return "?";
  }
}

void Trace::Mix(uint64_t v) { hash_ = Mix64(hash_ ^ v); }

void Trace::MixString(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  Mix(h ^ s.size());
}

void Trace::Emit(const std::string& line) {
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "%8lld ", static_cast<long long>(now_));
  *out_ << prefix << line << '\n';
}

void Trace::Record(std::string_view kind, uint64_t node, uint64_t a, uint64_t b, uint64_t c,
                   uint64_t d, std::string_view detail) {
  ++records_;
  Mix(static_cast<uint64_t>(now_));
  MixString(kind);
  Mix(node);
  Mix(a);
  Mix(b);
  Mix(c);
  Mix(d);
  if (!detail.empty()) MixString(detail);
  if (out_ == nullptr) return;
  std::string line = std::string(kind) + " n" + std::to_string(node) + " " + std::to_string(a) +
                     " " + std::to_string(b) + " " + std::to_string(c) + " " + std::to_string(d);
  if (!detail.empty()) line += " " + std::string(detail);
  Emit(line);
}

void Trace::Message(std::string_view kind, const raftpb::Message& m) {
  ++records_;
  Mix(static_cast<uint64_t>(now_));
  MixString(kind);
  Mix(static_cast<uint64_t>(m.type()));
  Mix(m.from());
  Mix(m.to());
  Mix(m.term());
  Mix(m.log_term());
  Mix(m.index());
  Mix(m.commit());
  Mix(static_cast<uint64_t>(m.entries_size()));
  Mix(m.reject() ? 1 : 0);
  Mix(m.reject_hint());
  Mix(m.snapshot().metadata().index());
  if (out_ == nullptr) return;
  std::string line =
      std::string(kind) + " " + std::string(MessageTypeName(m.type())) + " " +
      std::to_string(m.from()) + "->" + std::to_string(m.to()) +
      " term=" + std::to_string(m.term()) + " log_term=" + std::to_string(m.log_term()) +
      " index=" + std::to_string(m.index()) + " commit=" + std::to_string(m.commit()) +
      " entries=" + std::to_string(m.entries_size());
  if (m.entries_size() > 0) {
    line += "[" + std::to_string(m.entries(0).index()) + "]";
  }
  if (m.reject()) line += " reject hint=" + std::to_string(m.reject_hint());
  if (m.type() == raftpb::MSG_SNAP)
    line += " snap=" + std::to_string(m.snapshot().metadata().index());
  Emit(line);
}

void Trace::Tick(uint64_t node) {
  ++records_;
  Mix(static_cast<uint64_t>(now_));
  Mix(0x7469636bULL);  // "tick"
  Mix(node);
  if (out_ != nullptr && verbose_) Emit("tick n" + std::to_string(node));
}

}  // namespace kvd::sim
