// InteractionEnv: network commands (deliver, drop, partition, heal).
#include <optional>

#include "raft/raft.h"
#include "tests/scenario/env_args.h"
#include "tests/scenario/interaction_env.h"

namespace kvd::scenario {

using datadriven::TestData;

std::string InteractionEnv::CmdDeliverMsgs(const TestData& td) {
  const auto ids = Positional(td);
  const std::string type = StrArg(td, "type", "");
  const int count = static_cast<int>(U64Arg(td, "count", 0));
  for (uint64_t id : ids) {
    std::optional<Indent> indent;
    if (ids.size() > 1) {
      Line("> " + std::to_string(id) + " receiving messages");
      indent.emplace(this);
    }
    if (DeliverTo(id, type, count > 0 ? count : -1) == 0) Line("no messages");
  }
  return "";
}

std::string InteractionEnv::CmdDropMsgs(const TestData& td) {
  const uint64_t from = U64Arg(td, "from", 0), to = U64Arg(td, "to", 0);
  const std::string type = StrArg(td, "type", "");
  std::vector<raftpb::Message> kept;
  for (auto& m : network_) {
    std::string name = raftpb::MessageType_Name(m.type()).substr(4);
    if ((from == 0 || m.from() == from) && (to == 0 || m.to() == to) &&
        (type.empty() || name == type)) {
      Line("dropped: " + DescribeMsg(m));
    } else {
      kept.push_back(std::move(m));
    }
  }
  if (kept.size() == network_.size()) Line("no messages");
  network_ = std::move(kept);
  return "";
}

std::string InteractionEnv::CmdPartition(const TestData& td) {
  if (td.cmd == "heal") {
    // Messages sent into the partition are lost, not merely delayed.
    std::vector<raftpb::Message> kept;
    for (auto& m : network_) {
      if (LinkCut(m.from(), m.to())) {
        Line("dropped: " + DescribeMsg(m));
      } else {
        kept.push_back(std::move(m));
      }
    }
    network_ = std::move(kept);
    cut_.clear();
    Line("healed: all links up");
    return "";
  }
  if (td.cmd == "isolate") {
    const uint64_t id = FirstId(td);
    for (const auto& [peer, n] : nodes_) {
      if (peer == id) continue;
      cut_.insert({id, peer});
      cut_.insert({peer, id});
    }
    Line("isolated " + std::to_string(id));
    return "";
  }
  // partition (1) (2 3): every link between different groups is cut.
  std::vector<std::vector<uint64_t>> groups;
  for (const auto& a : td.args) {
    if (!a.key.empty()) return "partition takes groups like (1) (2 3)";
    groups.emplace_back();
    for (const auto& v : a.vals) groups.back().push_back(ToU64(v));
  }
  std::string desc;
  for (size_t g = 0; g < groups.size(); ++g) {
    desc += " (";
    for (size_t i = 0; i < groups[g].size(); ++i) {
      desc += (i ? " " : "") + std::to_string(groups[g][i]);
      for (size_t h = 0; h < groups.size(); ++h) {
        if (h == g) continue;
        for (uint64_t other : groups[h]) cut_.insert({groups[g][i], other});
      }
    }
    desc += ")";
  }
  Line("partitioned:" + desc);
  return "";
}

}  // namespace kvd::scenario
