// InteractionEnv: nodes, the driver loop and the network (see interaction_env.h).
#include "tests/scenario/interaction_env.h"

#include "raft/raft.h"

namespace kvd::scenario {
namespace {

constexpr int kMaxStabilizeRounds = 1000;

std::string MessageTypeName(raftpb::MessageType t) {
  std::string name = raftpb::MessageType_Name(t);
  return name.rfind("MSG_", 0) == 0 ? name.substr(4) : name;
}

}  // namespace

std::string InteractionEnv::Handle(const datadriven::TestData& td) {
  out_.str("");
  out_.clear();
  indent_ = 0;
  std::string err;
  try {
    err = Dispatch(td);
  } catch (const CommandError& e) {
    err = e.what;
  }
  indent_ = 0;
  if (!err.empty()) Line("error: " + err);
  const std::string out = out_.str();
  return out.empty() ? "ok\n" : out;
}

void InteractionEnv::Line(const std::string& text) {
  out_ << std::string(indent_, ' ') << text << "\n";
}

InteractionEnv::Node& InteractionEnv::Get(uint64_t id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) throw CommandError{"no node " + std::to_string(id)};
  return it->second;
}

raft::RawNode& InteractionEnv::Live(uint64_t id) {
  Node& n = Get(id);
  if (!n.raw) throw CommandError{"node " + std::to_string(id) + " is crashed"};
  return *n.raw;
}

void InteractionEnv::StartNode(uint64_t id) {
  Node& n = Get(id);
  n.cfg.storage = n.storage.get();
  n.cfg.logger = [this](std::string_view what) { Line("log: " + std::string(what)); };
  raft::Status s = raft::RawNode::Create(n.cfg, &n.raw);
  if (!s.ok()) throw CommandError{"creating node " + std::to_string(id) + ": " + s.ToString()};
  // A restarted state machine starts over from the durable snapshot; the log replays the rest.
  raftpb::Snapshot snap;
  if (!n.storage->Snapshot(&snap).ok()) throw CommandError{"snapshot unreadable"};
  n.confs.clear();
  RestoreStateMachine(n, snap);
}

void InteractionEnv::RestoreStateMachine(Node& n, const raftpb::Snapshot& snap) {
  // Snapshot data is the comma-separated list of the commands applied up to its index.
  const uint64_t index = snap.metadata().index();
  n.applied_cmds.clear();
  std::string cmd;
  for (char c : snap.data() + ",") {
    if (c != ',') {
      cmd += c;
    } else if (!cmd.empty()) {
      n.applied_cmds.emplace_back(index, cmd);
      cmd.clear();
    }
  }
  n.confs.emplace_back(index, snap.metadata().conf_state());
  n.applied = index;
}

bool InteractionEnv::ProcessReady(uint64_t id) {
  Node& n = Get(id);
  raft::RawNode& rn = Live(id);
  if (!rn.HasReady()) {
    Line("<no Ready>");
    return false;
  }
  raft::Ready rd = rn.GetReady();
  PrintReady(rd);
  // 1. Persist: snapshot, entries, hard state.
  if (rd.snapshot) {
    raft::Status s = n.storage->ApplySnapshot(*rd.snapshot);
    if (!s.ok()) throw CommandError{"persisting snapshot: " + s.ToString()};
  }
  raft::Status s = n.storage->Append(rd.entries);
  if (!s.ok()) throw CommandError{"persisting entries: " + s.ToString()};
  if (rd.hard_state) n.storage->SetHardState(*rd.hard_state);
  // 2. Send.
  for (auto& m : rd.messages) network_.push_back(m);
  // 3. Apply: the snapshot first, then committed entries in order.
  if (rd.snapshot) RestoreStateMachine(n, *rd.snapshot);
  for (const auto& e : rd.committed_entries) ApplyEntry(n, e);
  // 4. Advance.
  rn.Advance(rd);
  NoteRoles();
  return true;
}

void InteractionEnv::ApplyEntry(Node& n, const raftpb::Entry& e) {
  if (e.index() != n.applied + 1) {
    throw CommandError{"applying " + std::to_string(e.index()) + " after " +
                       std::to_string(n.applied)};
  }
  n.applied = e.index();
  if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
    raftpb::ConfChange cc;
    if (!cc.ParseFromString(e.data())) throw CommandError{"unparsable conf change"};
    const raftpb::ConfState cs = n.raw->ApplyConfChange(cc);
    n.confs.emplace_back(e.index(), cs);
    Line("applied " + raft::DescribeEntry(e) + ": " + DescribeConf(cs));
  } else if (!e.data().empty()) {
    n.applied_cmds.emplace_back(e.index(), e.data());
  }
}

bool InteractionEnv::LinkCut(uint64_t from, uint64_t to) const {
  return cut_.count({from, to}) > 0;
}

int InteractionEnv::DeliverTo(uint64_t id, const std::string& type_filter, int max_count) {
  std::vector<raftpb::Message> batch, kept;
  for (auto& m : network_) {
    const bool wanted = m.to() == id &&
                        (type_filter.empty() || MessageTypeName(m.type()) == type_filter) &&
                        (max_count < 0 || static_cast<int>(batch.size()) < max_count);
    (wanted ? batch : kept).push_back(std::move(m));
  }
  network_ = std::move(kept);
  Node& n = Get(id);
  for (auto& m : batch) {
    const std::string desc = DescribeMsg(m);
    if (LinkCut(m.from(), m.to())) {
      Line(desc + " DROPPED (partition)");
      continue;
    }
    if (!n.raw) {
      Line(desc + " DROPPED (node down)");
      continue;
    }
    Line(desc);
    Indent indent(this);
    raft::Status s = n.raw->Step(std::move(m));
    if (!s.ok()) Line("step: " + s.ToString());
    NoteRoles();
  }
  return static_cast<int>(batch.size());
}

void InteractionEnv::Stabilize(const std::vector<uint64_t>& ids) {
  for (int round = 0; round < kMaxStabilizeRounds; ++round) {
    bool done = true;
    for (uint64_t id : ids) {
      Node& n = Get(id);
      if (!n.raw || !n.raw->HasReady()) continue;
      done = false;
      Line("> " + std::to_string(id) + " handling Ready");
      Indent indent(this);
      ProcessReady(id);
    }
    for (uint64_t id : ids) {
      bool pending = false;
      for (const auto& m : network_) pending = pending || m.to() == id;
      if (!pending) continue;
      done = false;
      Line("> " + std::to_string(id) + " receiving messages");
      Indent indent(this);
      DeliverTo(id, "", -1);
    }
    if (done) return;
  }
  throw CommandError{"did not stabilize"};
}

void InteractionEnv::NoteRoles(const std::string& header) {
  bool first = true;
  for (auto& [id, n] : nodes_) {
    if (!n.raw) continue;
    const std::string role = RoleLine(n.raw->GetStatus());
    if (role == n.last_role) continue;
    n.last_role = role;
    if (first && !header.empty()) Line(header);
    first = false;
    Line("INFO " + role);
  }
}

}  // namespace kvd::scenario
