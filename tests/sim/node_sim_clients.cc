// NodeSim: the clients, their history, and the checks made as writes are applied and acked.
#include <algorithm>
#include <cstdio>

#include "tests/sim/node_sim_impl.h"

namespace kvd::sim::node_sim {

SimNode* NodeSim::PickNode(uint64_t hint) {
  if (hint != 0 && nodes_.at(hint)->up() && rng_.Chance(0.8)) return nodes_.at(hint).get();
  std::vector<uint64_t> up = UpNodes();
  if (up.empty()) return nullptr;
  return nodes_.at(up[rng_.Below(up.size())]).get();
}

void NodeSim::Issue(Client& c) {
  if (clients_stop_ || failed()) return;
  const int64_t idle_end = p_.idle_from_ms + p_.idle_ms;
  if (p_.idle_ms > 0 && q_.now() >= p_.idle_from_ms && q_.now() < idle_end) {
    const uint64_t cid = c.id;
    q_.After(idle_end - q_.now(), [this, cid] {
      Client& cl = clients_[cid - 1];
      if (!cl.busy) Issue(cl);
    });
    return;
  }
  const std::string key = "k" + std::to_string(rng_.Below(static_cast<uint64_t>(p_.keys)));
  lincheck::Operation op;
  op.process = static_cast<int64_t>(c.id);
  op.key = key;
  op.call = ++clock_;
  op.outcome = lincheck::Outcome::kUnknown;
  c.busy = true;
  c.attempts = 0;
  c.maybe_applied = false;
  c.is_write = !rng_.Chance(p_.read_share);
  if (c.is_write) {
    c.seq++;
    op.type = lincheck::OpType::kWrite;
    op.value = "c" + std::to_string(c.id) + "s" + std::to_string(c.seq);
  } else {
    op.type = lincheck::OpType::kRead;
  }
  c.hist = history_.size();
  history_.push_back(op);
  dropped_.push_back(false);
  if (c.is_write) return SubmitWrite(c);
  SimNode* n = PickNode(c.hint);
  const uint64_t token = next_token_++;
  c.token = token;
  const uint64_t cid = c.id;
  q_.After(kClientTimeoutMs, [this, cid, token] { ClientTimeout(cid, token); });
  if (n == nullptr) return;
  kv::ReadRequest req;
  req.key = key;
  c.hint = n->id;
  OnNode(*n, [&](kv::NodeCore& core) {
    core.Read(req, [this, cid, token](kv::ReadResponse r) { ReadDone(cid, token, r); });
  });
}

void NodeSim::SubmitWrite(Client& c) {
  const lincheck::Operation& op = history_[c.hist];
  SimNode* n = PickNode(c.hint);
  const uint64_t token = next_token_++;
  c.token = token;
  c.attempts++;
  const uint64_t cid = c.id;
  q_.After(kClientTimeoutMs, [this, cid, token] { ClientTimeout(cid, token); });
  if (n == nullptr) return;
  kv::WriteRequest req;
  req.key = op.key;
  req.value = *op.value;
  req.client_id = "c" + std::to_string(c.id);
  req.seq = c.seq;
  c.hint = n->id;
  Trace("write", n->id, c.id, c.seq);
  OnNode(*n, [&](kv::NodeCore& core) {
    core.Write(req, [this, cid, token](kv::WriteResponse r) { WriteDone(cid, token, r); });
  });
}

void NodeSim::WriteDone(uint64_t cid, uint64_t token, const kv::WriteResponse& r) {
  Client& c = clients_[cid - 1];
  if (!c.busy || c.token != token) return;
  c.token = 0;  // this attempt is answered; its timeout is moot
  switch (r.code) {
    case kv::ErrorCode::kOk:
      CheckAck(c, r);
      result_.writes_acked++;
      if (!faults_on_) acked_after_heal_ = true;
      return Finish(c, lincheck::Outcome::kOk);
    case kv::ErrorCode::kUnavailable:
    case kv::ErrorCode::kOverloaded:
      // Certainly not applied by this attempt; an earlier unknown one may still apply.
      if (!c.maybe_applied) return Finish(c, lincheck::Outcome::kFail);
      break;
    case kv::ErrorCode::kTimeout:
      c.maybe_applied = true;
      break;
    default:
      Fail("client c" + std::to_string(cid) + " seq " + std::to_string(c.seq) +
           ": unexpected write answer: " + r.message);
      return;
  }
  if (c.attempts >= kMaxWriteAttempts) return Finish(c, lincheck::Outcome::kUnknown);
  q_.After(rng_.Range(1, 50), [this, cid] {
    Client& cl = clients_[cid - 1];
    if (cl.busy && cl.token == 0) SubmitWrite(cl);
  });
}

void NodeSim::ReadDone(uint64_t cid, uint64_t token, const kv::ReadResponse& r) {
  Client& c = clients_[cid - 1];
  if (!c.busy || c.token != token) return;
  c.token = 0;
  lincheck::Operation& op = history_[c.hist];
  if (r.code == kv::ErrorCode::kOk || r.code == kv::ErrorCode::kNotFound) {
    if (r.code == kv::ErrorCode::kOk) op.result = r.record->value();
    result_.reads_ok++;
    return Finish(c, lincheck::Outcome::kOk);
  }
  dropped_[c.hist] = true;  // a failed read took no effect and tells nothing
  Finish(c, lincheck::Outcome::kFail);
}

void NodeSim::ClientTimeout(uint64_t cid, uint64_t token) {
  Client& c = clients_[cid - 1];
  if (!c.busy || c.token != token) return;
  c.token = 0;
  if (!c.is_write) {
    dropped_[c.hist] = true;
    return Finish(c, lincheck::Outcome::kFail);
  }
  // The node may have crashed with the request, or it is slow: the outcome is unknown; retry
  // with the same seq to learn it.
  c.maybe_applied = true;
  if (c.attempts >= kMaxWriteAttempts) return Finish(c, lincheck::Outcome::kUnknown);
  SubmitWrite(c);
}

void NodeSim::Finish(Client& c, lincheck::Outcome outcome) {
  lincheck::Operation& op = history_[c.hist];
  op.outcome = outcome;
  op.ret = ++clock_;
  if (outcome == lincheck::Outcome::kUnknown) result_.unknown++;
  c.busy = false;
  c.token = 0;
  Trace("done", c.hint, c.id, static_cast<uint64_t>(outcome));
  if (!faults_on_ && acked_after_heal_) clients_stop_ = true;
  const uint64_t cid = c.id;
  q_.After(rng_.Range(0, 20), [this, cid] {
    Client& cl = clients_[cid - 1];
    if (!cl.busy) Issue(cl);
  });
}

void NodeSim::OnApply(uint64_t node, uint64_t shard, uint64_t index, const kvpb::Command& cmd,
                      const kvpb::Result& r) {
  AppliedRecord rec;
  rec.client = cmd.client_id();
  rec.seq = cmd.seq();
  rec.key = cmd.put().key();
  rec.value = cmd.put().value();
  rec.result = r.SerializeAsString();
  if (!rec.key.empty() && owner_ == nullptr) {
    return Fail("n" + std::to_string(node) + " applied a write before any directory was committed");
  }
  if (!rec.key.empty() && owner_->ShardFor(rec.key) != shard) {
    return Fail("n" + std::to_string(node) + " applied a write of key '" + rec.key + "' in shard " +
                std::to_string(shard) + ", which does not own it (shard " +
                std::to_string(owner_->ShardFor(rec.key)) + " does)");
  }
  const Slot slot{shard, index};
  auto [it, inserted] = applied_.emplace(slot, rec);
  if (!inserted && !(it->second == rec)) {
    return Fail("n" + std::to_string(node) + " applied at shard " + std::to_string(shard) +
                " index " + std::to_string(index) +
                " a command or outcome other replicas did not (" + rec.client + "/" +
                std::to_string(rec.seq) + " vs " + it->second.client + "/" +
                std::to_string(it->second.seq) + ")");
  }
  // Executed here: not a retry answered from the session (its revision is the first one's), nor
  // a stale duplicate refused because the client had moved on (RESULT_INVALID).
  if (rec.client.empty() || r.revision() != index || r.code() == kvpb::RESULT_INVALID) return;
  auto [ex, fresh] = executed_.emplace(std::make_pair(rec.client, rec.seq), slot);
  if (!fresh && ex->second != slot) {
    Fail(rec.client + " seq " + std::to_string(rec.seq) + " executed twice: at " +
         std::to_string(ex->second.first) + "/" + std::to_string(ex->second.second) + " and " +
         std::to_string(shard) + "/" + std::to_string(index));
  }
}

void NodeSim::CheckAck(const Client& c, const kv::WriteResponse& r) {
  const std::string client = "c" + std::to_string(c.id);
  const std::string who = client + " seq " + std::to_string(c.seq);
  auto it = applied_.find(Slot{r.shard, r.revision});
  if (it == applied_.end()) {
    return Fail(who + " acknowledged at shard " + std::to_string(r.shard) + " revision " +
                std::to_string(r.revision) + ", which no replica applied");
  }
  kvpb::Result applied;
  applied.ParseFromString(it->second.result);
  if (it->second.client != client || it->second.seq != c.seq || applied.version() != r.version ||
      it->second.value != *history_[c.hist].value) {
    return Fail(who + " acknowledged with version " + std::to_string(r.version) + " revision " +
                std::to_string(r.revision) + ", but the entry applied there is " +
                it->second.client + " seq " + std::to_string(it->second.seq) + " version " +
                std::to_string(applied.version()));
  }
  const std::string ack =
      std::to_string(r.version) + "@" + std::to_string(r.shard) + "/" + std::to_string(r.revision);
  auto [prev, fresh] = acked_.emplace(std::make_pair(client, c.seq), ack);
  if (!fresh && prev->second != ack) {
    Fail(who + " acknowledged twice with different outcomes: " + prev->second + " and " + ack);
  }
}

}  // namespace kvd::sim::node_sim
