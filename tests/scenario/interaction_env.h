// InteractionEnv: a deterministic multi-node harness for Raft scenario scripts (etcd-io/raft's
// rafttest.InteractionEnv, reimplemented). Each node is a RawNode over a MemoryStorage and a
// trivial state machine (the list of applied commands); messages travel through one global,
// ordered network queue and are delivered only when a script says so. No clocks, no threads:
// time is ticks, every node's election-timeout generator is seeded with its id.
//
// The driver (ProcessReady) follows raw_node.h's contract exactly: persist snapshot, entries and
// hard state to the MemoryStorage; then put the messages on the network; then apply the snapshot
// and committed entries (ApplyConfChange for conf-change entries); then Advance().
//
// Every command returns its trace: Readys, delivered or dropped messages, role changes and the
// core's log lines. Output is deterministic so it can be compared with golden files.
// Not thread-safe; one test owns one environment.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "proto/raft.pb.h"
#include "raft/memory_storage.h"
#include "raft/raw_node.h"
#include "tests/scenario/datadriven.h"

namespace kvd::scenario {

class InteractionEnv {
 public:
  InteractionEnv() = default;
  InteractionEnv(const InteractionEnv&) = delete;
  InteractionEnv& operator=(const InteractionEnv&) = delete;

  // Runs one script command and returns its output ("ok" when it has nothing to say).
  std::string Handle(const datadriven::TestData& td);

 private:
  struct Node {
    raft::Config cfg;
    std::unique_ptr<raft::MemoryStorage> storage;
    std::unique_ptr<raft::RawNode> raw;  // null while crashed
    // State machine: the commands applied so far and the membership history, so that a snapshot
    // at any applied index carries the right data and ConfState.
    std::vector<std::pair<uint64_t, std::string>> applied_cmds;  // (index, data)
    std::vector<std::pair<uint64_t, raftpb::ConfState>> confs;   // (index, config from then on)
    uint64_t applied = 0;
    std::string last_role;  // role line last reported, to print only changes
  };

  // Commands (env_commands.cc). Each writes to out_ and returns an error text or "".
  std::string Dispatch(const datadriven::TestData& td);
  std::string CmdAddNodes(const datadriven::TestData& td);
  std::string CmdProposeConfChange(const datadriven::TestData& td);
  std::string CmdDeliverMsgs(const datadriven::TestData& td);
  std::string CmdDropMsgs(const datadriven::TestData& td);
  std::string CmdPartition(const datadriven::TestData& td);
  std::string CmdCompact(const datadriven::TestData& td);

  // Driver and network (interaction_env.cc).
  Node& Get(uint64_t id);
  raft::RawNode& Live(uint64_t id);  // aborts the command if the node is crashed
  void StartNode(uint64_t id);       // (re)creates the RawNode from its storage
  bool ProcessReady(uint64_t id);    // false if the node had no Ready
  int DeliverTo(uint64_t id, const std::string& type_filter, int max_count);
  void Stabilize(const std::vector<uint64_t>& ids);
  bool LinkCut(uint64_t from, uint64_t to) const;
  void ApplyEntry(Node& n, const raftpb::Entry& e);
  static void RestoreStateMachine(Node& n, const raftpb::Snapshot& snap);
  // Prints role / term / leader changes since the last call, after 'header' if there are any.
  void NoteRoles(const std::string& header = "");

  // Printing (env_print.cc).
  void PrintReady(const raft::Ready& rd);
  void PrintStatus(uint64_t id);
  void PrintLog(uint64_t id);
  void PrintState(uint64_t id);
  static std::string RoleLine(const raft::NodeStatus& st);
  // raft::DescribeMessage, plus the entries of a forwarded proposal.
  static std::string DescribeMsg(const raftpb::Message& m);
  static std::string DescribeConf(const raftpb::ConfState& cs);

  void Line(const std::string& text);  // one output line at the current indent
  struct Indent {
    explicit Indent(InteractionEnv* e) : env(e) { env->indent_ += 2; }
    ~Indent() { env->indent_ -= 2; }
    InteractionEnv* env;
  };

  std::map<uint64_t, Node> nodes_;
  std::vector<raftpb::Message> network_;         // sent, not yet delivered; in send order
  std::set<std::pair<uint64_t, uint64_t>> cut_;  // directed links that drop messages
  std::ostringstream out_;
  int indent_ = 0;
};

// Thrown (and caught in Handle) when a command cannot run, e.g. it names a crashed node. Only
// used inside the test harness; never crosses into the core.
struct CommandError {
  std::string what;
};

}  // namespace kvd::scenario
