#include "tests/sim/workload.h"

#include <algorithm>

namespace kvd::sim {

using lincheck::OpType;
using lincheck::Outcome;

Workload::Workload(const WorkloadOptions& options, Rng& rng, ClientHost& host)
    : options_(options), rng_(rng), host_(host) {
  for (int i = 0; i < options_.clients; ++i) {
    Client c;
    c.id = static_cast<uint64_t>(i) + 1;
    clients_.push_back(c);
  }
}

void Workload::Start() {
  for (const Client& c : clients_) {
    uint64_t id = c.id;
    host_.After(rng_.Range(0, options_.think_max), [this, id] { Issue(id); });
  }
}

std::optional<std::string> Workload::PickExpected(const std::string& key) {
  const std::vector<std::string>& recent = recent_values_[key];
  if (recent.empty() || rng_.Chance(0.1)) return std::nullopt;
  // Favour the latest value, so that some compare-and-sets succeed.
  if (rng_.Chance(0.6)) return recent.back();
  return recent[rng_.Below(recent.size())];
}

void Workload::Issue(uint64_t client) {
  Client& c = clients_[client - 1];
  if (stopped_ || c.busy) return;
  SimNode* node = host_.PickNode(c.hint);
  if (node == nullptr) {
    host_.After(options_.think_max + 1, [this, client] { Issue(client); });
    return;
  }
  lincheck::Operation op;
  op.process = static_cast<int64_t>(c.id);
  op.key = "k" + std::to_string(rng_.Below(static_cast<uint64_t>(options_.keys)));
  double dice = rng_.Real();
  op.type = dice < options_.read_share                        ? OpType::kRead
            : dice < options_.read_share + options_.cas_share ? OpType::kCas
                                                              : OpType::kWrite;
  op.outcome = Outcome::kUnknown;
  op.call = ++clock_;
  c.busy = true;
  c.op = c.next_op++;
  c.node = node->id();
  c.history_index = history_.size();
  refused_.push_back(false);
  uint64_t op_id = c.op;
  OpDone done = [this, client, op_id](const OpResult& r) { Complete(client, op_id, r); };
  if (op.type == OpType::kRead) {
    history_.push_back(op);
    host_.trace().Record("client-read", node->id(), client, op_id, 0, 0, op.key);
    node->Read(client, op_id, op.key, std::move(done));
  } else {
    Command cmd;
    cmd.client = client;
    cmd.op = op_id;
    cmd.key = op.key;
    cmd.value = "c" + std::to_string(client) + "." + std::to_string(op_id);
    op.value = cmd.value;
    if (op.type == OpType::kCas) {
      cmd.kind = Command::Kind::kCas;
      cmd.expected = PickExpected(op.key);
      op.expected = cmd.expected;
    }
    std::vector<std::string>& recent = recent_values_[op.key];
    recent.push_back(cmd.value);
    if (recent.size() > 4) recent.erase(recent.begin());
    history_.push_back(op);
    host_.trace().Record(op.type == OpType::kCas ? "client-cas" : "client-write", node->id(),
                         client, op_id, 0, 0, op.key);
    node->Propose(client, op_id, EncodeCommand(cmd), std::move(done));
  }
  host_.After(options_.timeout, [this, client, op_id] { TimeOut(client, op_id); });
}

void Workload::Finish(Client& c, Outcome outcome, bool back_off) {
  lincheck::Operation& op = history_[c.history_index];
  op.outcome = outcome;
  op.ret = ++clock_;
  c.busy = false;
  host_.trace().Record("client-ret", c.node, c.id, c.op, static_cast<uint64_t>(outcome), 0,
                       lincheck::FormatOperation(op));
  uint64_t client = c.id;
  // After a refusal or a timeout, wait about an election timeout before trying again.
  int64_t pause = back_off ? rng_.Range(50, 150) : rng_.Range(1, options_.think_max);
  host_.After(pause, [this, client] { Issue(client); });
}

void Workload::Complete(uint64_t client, uint64_t op_id, const OpResult& r) {
  Client& c = clients_[client - 1];
  if (!c.busy || c.op != op_id) return;  // already timed out
  lincheck::Operation& op = history_[c.history_index];
  switch (r.status) {
    case OpResult::Status::kOk:
      c.hint = c.node;
      if (op.type == OpType::kRead) {
        op.result = r.value;
        Finish(c, Outcome::kOk, false);
        return;
      }
      max_acked_index_ = std::max(max_acked_index_, r.index);
      last_acked_write_call_ = std::max(last_acked_write_call_, op.call);
      Finish(c, op.type == OpType::kCas && !r.cas_ok ? Outcome::kFail : Outcome::kOk, false);
      return;
    case OpResult::Status::kDropped:
      c.hint = 0;
      // A refused proposal was never appended: it certainly did not happen.
      refused_[c.history_index] = true;
      Finish(c, op.type == OpType::kRead ? Outcome::kUnknown : Outcome::kFail, true);
      return;
    case OpResult::Status::kLost:
      c.hint = 0;
      Finish(c, Outcome::kUnknown, true);
      return;
  }
}

void Workload::TimeOut(uint64_t client, uint64_t op_id) {
  Client& c = clients_[client - 1];
  if (!c.busy || c.op != op_id) return;
  if (SimNode* node = host_.FindNode(c.node)) node->CancelClientOp(client, op_id);
  c.hint = 0;
  Finish(c, Outcome::kUnknown, true);
}

std::vector<lincheck::Operation> Workload::CheckableHistory() const {
  std::vector<lincheck::Operation> out;
  out.reserve(history_.size());
  for (size_t i = 0; i < history_.size(); ++i) {
    if (!refused_[i]) out.push_back(history_[i]);
  }
  return out;
}

std::string Workload::Summary() const {
  int ok = 0, fail = 0, unknown = 0;
  for (const lincheck::Operation& op : history_) {
    if (op.outcome == Outcome::kOk) ++ok;
    if (op.outcome == Outcome::kFail) ++fail;
    if (op.outcome == Outcome::kUnknown) ++unknown;
  }
  return std::to_string(history_.size()) + " ops (" + std::to_string(ok) + " ok, " +
         std::to_string(fail) + " fail, " + std::to_string(unknown) + " unknown)";
}

}  // namespace kvd::sim
