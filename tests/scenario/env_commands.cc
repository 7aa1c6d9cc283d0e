// InteractionEnv: the script commands. tests/scenario/README.md is the command reference.
#include <algorithm>
#include <optional>

#include "raft/raft.h"
#include "tests/scenario/env_args.h"
#include "tests/scenario/interaction_env.h"

namespace kvd::scenario {
namespace {

using datadriven::TestData;

raftpb::ConfChange ParseConfChange(const TestData& td) {
  raftpb::ConfChange cc;
  const std::string transition = StrArg(td, "transition", "auto");
  if (transition == "implicit") {
    cc.set_transition(raftpb::TRANSITION_JOINT_IMPLICIT);
  } else if (transition == "explicit") {
    cc.set_transition(raftpb::TRANSITION_JOINT_EXPLICIT);
  } else if (transition != "auto") {
    throw CommandError{"transition: auto, implicit or explicit"};
  }
  for (size_t i = 1; i < td.args.size(); ++i) {
    const std::string& k = td.args[i].key;
    if (k == "transition") continue;
    if (k.size() < 2 || !IsNumber(k.substr(1))) throw CommandError{"bad change '" + k + "'"};
    raftpb::ConfChangeSingle* c = cc.add_changes();
    c->set_node_id(ToU64(k.substr(1)));
    switch (k[0]) {
      case 'v':
        c->set_type(raftpb::CONF_ADD_NODE);
        break;
      case 'l':
        c->set_type(raftpb::CONF_ADD_LEARNER_NODE);
        break;
      case 'r':
        c->set_type(raftpb::CONF_REMOVE_NODE);
        break;
      default:
        throw CommandError{"change must be v<id>, l<id> or r<id>"};
    }
  }
  return cc;
}

}  // namespace

std::string InteractionEnv::Dispatch(const TestData& td) {
  const std::string& c = td.cmd;
  auto report = [this](const raft::Status& s) {
    if (!s.ok()) Line("error: " + s.ToString());
    NoteRoles();
  };
  if (c == "add-nodes") return CmdAddNodes(td);
  if (c == "campaign") {
    report(Live(FirstId(td)).Campaign());
  } else if (c == "tick" || c == "tick-election" || c == "tick-heartbeat") {
    const uint64_t id = FirstId(td);
    const Node& n = Get(id);
    const auto pos = Positional(td);
    uint64_t count = pos.size() > 1 ? pos[1] : 1;
    if (c == "tick-election") count = n.cfg.election_tick;
    if (c == "tick-heartbeat") count = n.cfg.heartbeat_tick;
    for (uint64_t i = 1; i <= count; ++i) {
      Live(id).Tick();
      NoteRoles("tick " + std::to_string(i) + ":");
    }
  } else if (c == "tick-all") {
    // Every live node ticks once per round, in id order: time passes for everyone alike.
    for (uint64_t i = 1; i <= FirstId(td); ++i) {
      for (auto& [id, n] : nodes_) {
        if (n.raw) n.raw->Tick();
      }
      NoteRoles("tick " + std::to_string(i) + ":");
    }
  } else if (c == "propose") {
    if (td.args.size() != 2) throw CommandError{"propose ID DATA"};
    report(Live(FirstId(td)).Propose(td.args[1].key));
  } else if (c == "propose-conf-change") {
    return CmdProposeConfChange(td);
  } else if (c == "process-ready") {
    const auto ids = Positional(td);
    for (uint64_t id : ids) {
      std::optional<Indent> indent;
      if (ids.size() > 1) {
        Line("> " + std::to_string(id) + " handling Ready");
        indent.emplace(this);
      }
      ProcessReady(id);
    }
  } else if (c == "deliver-msgs") {
    return CmdDeliverMsgs(td);
  } else if (c == "drop-msgs") {
    return CmdDropMsgs(td);
  } else if (c == "print-msgs") {
    for (const auto& m : network_) Line(DescribeMsg(m));
    if (network_.empty()) Line("no messages");
  } else if (c == "stabilize") {
    auto ids = Positional(td);
    if (ids.empty()) {
      for (const auto& [id, n] : nodes_) ids.push_back(id);
    }
    Stabilize(ids);
  } else if (c == "partition" || c == "isolate" || c == "heal") {
    return CmdPartition(td);
  } else if (c == "crash") {
    const uint64_t id = FirstId(td);
    Live(id);
    Node& n = Get(id);
    n.raw.reset();
    n.last_role.clear();
    Line("INFO " + std::to_string(id) + " crashed (its storage survives)");
  } else if (c == "restart") {
    const uint64_t id = FirstId(td);
    if (Get(id).raw) throw CommandError{"node " + std::to_string(id) + " is running"};
    StartNode(id);
    NoteRoles();
  } else if (c == "raft-log") {
    PrintLog(FirstId(td));
  } else if (c == "status") {
    PrintStatus(FirstId(td));
  } else if (c == "state") {
    auto ids = Positional(td);
    if (ids.empty()) {
      for (const auto& [id, n] : nodes_) ids.push_back(id);
    }
    for (uint64_t id : ids) PrintState(id);
  } else if (c == "read-index") {
    if (td.args.size() != 2) throw CommandError{"read-index ID CTX"};
    report(Live(FirstId(td)).ReadIndex(td.args[1].key));
  } else if (c == "transfer-leadership") {
    report(Live(U64Arg(td, "from", 0)).TransferLeader(U64Arg(td, "to", 0)));
  } else if (c == "compact") {
    return CmdCompact(td);
  } else if (c == "report-unreachable") {
    const auto ids = Positional(td);
    if (ids.size() != 2) throw CommandError{"report-unreachable ID PEER"};
    Live(ids[0]).ReportUnreachable(ids[1]);
    NoteRoles();
  } else if (c == "report-snapshot") {
    const auto ids = Positional(td);
    if (ids.size() != 2) throw CommandError{"report-snapshot ID PEER [failed]"};
    Live(ids[0]).ReportSnapshot(ids[1], BoolArg(td, "failed", false));
    NoteRoles();
  } else {
    return "unknown command " + c;
  }
  return "";
}

std::string InteractionEnv::CmdAddNodes(const TestData& td) {
  const uint64_t count = FirstId(td);
  const std::vector<uint64_t> voters = IdsArg(td, "voters");
  const std::vector<uint64_t> learners = IdsArg(td, "learners");
  const uint64_t index = U64Arg(td, "index", voters.empty() ? 0 : 1);
  uint64_t next_id = nodes_.empty() ? 1 : nodes_.rbegin()->first + 1;
  for (uint64_t k = 0; k < count; ++k) {
    const uint64_t id = next_id++;
    Node n;
    n.storage = std::make_unique<raft::MemoryStorage>();
    raftpb::Snapshot snap;
    if (!voters.empty()) {
      // Bootstrap: a snapshot at 'index' naming the initial members (term 1 unless at 0).
      snap.mutable_metadata()->set_index(index);
      snap.mutable_metadata()->set_term(index > 0 ? 1 : 0);
      auto* cs = snap.mutable_metadata()->mutable_conf_state();
      for (uint64_t v : voters) cs->add_voters(v);
      for (uint64_t l : learners) cs->add_learners(l);
      raft::Status s = n.storage->ApplySnapshot(snap);
      if (!s.ok()) return "bootstrap snapshot: " + s.ToString();
    }
    n.cfg.id = id;
    n.cfg.random_seed = id;
    n.cfg.election_tick = static_cast<int>(U64Arg(td, "election", 10));
    n.cfg.heartbeat_tick = static_cast<int>(U64Arg(td, "heartbeat", 1));
    n.cfg.pre_vote = BoolArg(td, "prevote", true);
    n.cfg.check_quorum = BoolArg(td, "checkquorum", true);
    n.cfg.step_down_on_removal = BoolArg(td, "step-down-on-removal", true);
    n.cfg.max_size_per_msg = U64Arg(td, "max-msg-size", n.cfg.max_size_per_msg);
    n.cfg.max_inflight_msgs = static_cast<int>(U64Arg(td, "max-inflight", 256));
    nodes_.emplace(id, std::move(n));
    StartNode(id);
    Line("added " + std::to_string(id) + ": " + DescribeConf(snap.metadata().conf_state()) +
         " at " + std::to_string(snap.metadata().term()) + "/" +
         std::to_string(snap.metadata().index()) +
         " prevote=" + (Get(id).cfg.pre_vote ? "true" : "false") +
         " checkquorum=" + (Get(id).cfg.check_quorum ? "true" : "false"));
  }
  NoteRoles();
  return "";
}

std::string InteractionEnv::CmdProposeConfChange(const TestData& td) {
  const raftpb::ConfChange cc = ParseConfChange(td);
  raft::Status s = Live(FirstId(td)).ProposeConfChange(cc);
  if (!s.ok()) Line("error: " + s.ToString());
  NoteRoles();
  return "";
}

std::string InteractionEnv::CmdCompact(const TestData& td) {
  const auto pos = Positional(td);
  if (pos.size() != 2) return "compact ID INDEX";
  Node& n = Get(pos[0]);
  const uint64_t index = pos[1];
  if (index > n.applied) return "cannot compact past applied index " + std::to_string(n.applied);
  // The snapshot holds the state machine as of 'index': its commands and membership.
  std::string data;
  for (const auto& [i, cmd] : n.applied_cmds) {
    if (i <= index) data += (data.empty() ? "" : ",") + cmd;
  }
  raftpb::ConfState conf;
  for (const auto& [i, cs] : n.confs) {
    if (i <= index) conf = cs;
  }
  raft::Status s = n.storage->CreateSnapshot(index, conf, data);
  if (s.ok()) s = n.storage->Compact(index);
  if (!s.ok()) return s.ToString();
  PrintLog(pos[0]);
  return "";
}

}  // namespace kvd::scenario
