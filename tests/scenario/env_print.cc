// InteractionEnv: human-readable renderings of Readys, statuses, logs and state machines.
#include "raft/raft.h"
#include "tests/scenario/interaction_env.h"

namespace kvd::scenario {
namespace {

std::string IdList(const google::protobuf::RepeatedField<uint64_t>& ids) {
  std::string s = "(";
  for (int i = 0; i < ids.size(); ++i) s += (i ? " " : "") + std::to_string(ids[i]);
  return s + ")";
}

std::string DescribeHardState(const raftpb::HardState& hs) {
  return "term=" + std::to_string(hs.term()) + " vote=" + std::to_string(hs.vote()) +
         " commit=" + std::to_string(hs.commit());
}

}  // namespace

std::string InteractionEnv::DescribeMsg(const raftpb::Message& m) {
  std::string s = raft::DescribeMessage(m);
  if (m.type() == raftpb::MSG_PROP) {
    s += " [";
    for (int i = 0; i < m.entries_size(); ++i) {
      s += (i ? ", " : "") + raft::DescribeEntry(m.entries(i));
    }
    s += "]";
  }
  return s;
}

std::string InteractionEnv::DescribeConf(const raftpb::ConfState& cs) {
  std::string s = "voters=" + IdList(cs.voters());
  if (!cs.voters_outgoing().empty()) s += "&&" + IdList(cs.voters_outgoing());
  if (!cs.learners().empty()) s += " learners=" + IdList(cs.learners());
  if (!cs.learners_next().empty()) s += " learners_next=" + IdList(cs.learners_next());
  if (cs.auto_leave()) s += " autoleave";
  return s;
}

std::string InteractionEnv::RoleLine(const raft::NodeStatus& st) {
  std::string s = std::to_string(st.id) + " is " + raft::StateName(st.soft_state.state) +
                  " at term " + std::to_string(st.hard_state.term());
  if (st.soft_state.state != raft::StateType::kLeader) {
    s += st.soft_state.lead ? ", leader " + std::to_string(st.soft_state.lead) : ", no leader";
  }
  return s;
}

void InteractionEnv::PrintReady(const raft::Ready& rd) {
  Line(std::string("Ready must_sync=") + (rd.must_sync ? "true" : "false") + ":");
  if (rd.soft_state) {
    Line("soft: state=" + std::string(raft::StateName(rd.soft_state->state)) +
         " lead=" + std::to_string(rd.soft_state->lead));
  }
  if (rd.hard_state) Line("hard: " + DescribeHardState(*rd.hard_state));
  if (rd.snapshot) {
    const auto& meta = rd.snapshot->metadata();
    Line("snapshot: " + std::to_string(meta.term()) + "/" + std::to_string(meta.index()) + " " +
         DescribeConf(meta.conf_state()) + " data=[" + rd.snapshot->data() + "]");
  }
  auto list = [&](const char* title, const std::vector<raftpb::Entry>& entries) {
    if (entries.empty()) return;
    Line(title);
    for (const auto& e : entries) Line("  " + raft::DescribeEntry(e));
  };
  list("entries:", rd.entries);
  list("committed:", rd.committed_entries);
  if (!rd.messages.empty()) Line("messages:");
  for (const auto& m : rd.messages) Line("  " + DescribeMsg(m));
  if (!rd.read_states.empty()) Line("read-states:");
  for (const auto& r : rd.read_states) {
    Line("  index=" + std::to_string(r.index) + " ctx=" + r.request_ctx);
  }
}

void InteractionEnv::PrintStatus(uint64_t id) {
  const raft::NodeStatus st = Live(id).GetStatus();
  Line(RoleLine(st));
  Line("hard: " + DescribeHardState(st.hard_state) + " applied=" + std::to_string(st.applied) +
       " log=[" + std::to_string(st.first_index) + "," + std::to_string(st.last_index) + "]" +
       (st.lead_transferee ? " transferee=" + std::to_string(st.lead_transferee) : ""));
  Line("config: " + DescribeConf(st.config));
  for (const auto& [peer, pr] : st.progress) {
    std::string s = std::to_string(peer) + ": " + pr.state + " match=" + std::to_string(pr.match) +
                    " next=" + std::to_string(pr.next);
    if (pr.is_learner) s += " learner";
    if (pr.recent_active) s += " active";
    if (pr.inflight) s += " inflight=" + std::to_string(pr.inflight);
    Line(s);
  }
}

void InteractionEnv::PrintLog(uint64_t id) {
  const raft::MemoryStorage& storage = *Get(id).storage;
  raftpb::Snapshot snap;
  if (storage.Snapshot(&snap).ok() && snap.metadata().index() > 0) {
    Line("snapshot " + std::to_string(snap.metadata().term()) + "/" +
         std::to_string(snap.metadata().index()) + " " +
         DescribeConf(snap.metadata().conf_state()));
  }
  std::vector<raftpb::Entry> entries;
  if (storage.LastIndex() >= storage.FirstIndex()) {
    raft::Status s =
        storage.Entries(storage.FirstIndex(), storage.LastIndex() + 1, UINT64_MAX, &entries);
    if (!s.ok()) throw CommandError{"reading log: " + s.ToString()};
  }
  if (entries.empty() && snap.metadata().index() == 0) Line("log is empty");
  for (const auto& e : entries) Line(raft::DescribeEntry(e));
}

void InteractionEnv::PrintState(uint64_t id) {
  const Node& n = Get(id);
  std::string cmds;
  for (const auto& [index, data] : n.applied_cmds) cmds += (cmds.empty() ? "" : " ") + data;
  Line(std::to_string(id) + ": applied=" + std::to_string(n.applied) + " cmds=[" + cmds + "] " +
       DescribeConf(n.confs.back().second));
}

}  // namespace kvd::scenario
