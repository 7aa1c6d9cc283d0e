// Human-readable renderings of messages and entries for traces and scenario scripts. Output is
// deterministic (it is hashed and diffed by tests).
#include <sstream>

#include "raft/raft.h"

namespace kvd::raft {

const char* StateName(StateType s) {
  switch (s) {
    case StateType::kFollower:
      return "follower";
    case StateType::kCandidate:
      return "candidate";
    case StateType::kLeader:
      return "leader";
    case StateType::kPreCandidate:
      return "pre-candidate";
  }
  return "?";
}

std::string DescribeEntry(const raftpb::Entry& e) {
  std::ostringstream os;
  os << e.term() << "/" << e.index();
  if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
    raftpb::ConfChange cc;
    os << " conf[";
    if (cc.ParseFromString(e.data())) {
      if (cc.changes().empty()) os << "leave-joint";
      for (int i = 0; i < cc.changes_size(); ++i) {
        const auto& c = cc.changes(i);
        if (i) os << " ";
        os << (c.type() == raftpb::CONF_ADD_NODE           ? "v"
               : c.type() == raftpb::CONF_ADD_LEARNER_NODE ? "l"
                                                           : "r")
           << c.node_id();
      }
    }
    os << "]";
  } else if (!e.data().empty()) {
    os << " " << e.data();
  } else {
    os << " noop";
  }
  return os.str();
}

std::string DescribeMessage(const raftpb::Message& m) {
  std::string type = raftpb::MessageType_Name(m.type());
  if (type.rfind("MSG_", 0) == 0) type = type.substr(4);
  std::ostringstream os;
  os << m.from() << "->" << m.to() << " " << type << " term=" << m.term();
  switch (m.type()) {
    case raftpb::MSG_APP:
      os << " prev=" << m.log_term() << "/" << m.index() << " commit=" << m.commit() << " [";
      for (int i = 0; i < m.entries_size(); ++i)
        os << (i ? ", " : "") << DescribeEntry(m.entries(i));
      os << "]";
      break;
    case raftpb::MSG_APP_RESP:
      os << " index=" << m.index();
      if (m.reject()) os << " reject hint=" << m.log_term() << "/" << m.reject_hint();
      break;
    case raftpb::MSG_VOTE:
    case raftpb::MSG_PRE_VOTE:
      os << " last=" << m.log_term() << "/" << m.index();
      break;
    case raftpb::MSG_VOTE_RESP:
    case raftpb::MSG_PRE_VOTE_RESP:
      os << (m.reject() ? " rejected" : " granted");
      break;
    case raftpb::MSG_HEARTBEAT:
      os << " commit=" << m.commit();
      break;
    case raftpb::MSG_SNAP:
      os << " snapshot=" << m.snapshot().metadata().term() << "/"
         << m.snapshot().metadata().index();
      break;
    case raftpb::MSG_READ_INDEX_RESP:
      os << " index=" << m.index();
      break;
    default:
      break;
  }
  if (!m.context().empty() && m.type() != raftpb::MSG_HEARTBEAT &&
      m.type() != raftpb::MSG_HEARTBEAT_RESP) {
    os << " ctx=" << m.context();
  } else if (!m.context().empty()) {
    os << " round=" << ReadOnly::DecodeRoundId(m.context());
  }
  return os.str();
}

}  // namespace kvd::raft
