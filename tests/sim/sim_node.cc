#include "tests/sim/sim_node.h"

#include "raft/check.h"

namespace kvd::sim {

namespace {

uint64_t MixSeed(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::string ReadContext(uint64_t client, uint64_t op) {
  return "r" + std::to_string(client) + "/" + std::to_string(op);
}

SimNode::SimNode(uint64_t id, const NodeOptions& options, NodeHost& host)
    : id_(id), options_(options), host_(host) {}

SimNode::~SimNode() = default;

void SimNode::Bootstrap(const raftpb::ConfState& conf) {
  raftpb::Snapshot snap;
  snap.set_data(KvStateMachine().Serialize());
  *snap.mutable_metadata()->mutable_conf_state() = conf;
  snap.mutable_metadata()->set_index(1);
  snap.mutable_metadata()->set_term(1);
  raft::Status s = storage_.ApplySnapshot(snap);
  KVD_CHECK_MSG(s.ok(), "bootstrap: " << s.ToString());
  raftpb::HardState hs;
  hs.set_term(1);
  hs.set_commit(1);
  storage_.SetHardState(hs);
}

void SimNode::Start() {
  KVD_CHECK(!up_);
  up_ = true;
  busy_ = false;
  soft_ = raft::SoftState{};
  raftpb::Snapshot snap;
  raft::Status s = storage_.Snapshot(&snap);
  KVD_CHECK_MSG(s.ok(), "storage snapshot: " << s.ToString());
  sm_ = KvStateMachine();
  if (!snap.data().empty() && !sm_.Restore(snap.data())) {
    host_.invariants().Fail("n" + std::to_string(id_) + ": stored snapshot does not decode");
  }
  applied_ = snap.metadata().index();
  last_snapshot_index_ = applied_;
  snapshot_due_ = false;
  conf_state_ = snap.metadata().conf_state();
  const raftpb::HardState& hs = storage_.hard_state();
  term_ = last_term_ = hs.term();
  last_commit_ = hs.commit();
  commit_checked_ = applied_;
  host_.invariants().ObserveCommit(hs.term(), hs.commit(), *this, &commit_checked_);

  raft::Config config;
  config.id = id_;
  config.election_tick = options_.election_tick;
  config.heartbeat_tick = options_.heartbeat_tick;
  config.storage = &storage_;
  config.applied = applied_;
  config.max_size_per_msg = options_.max_size_per_msg;
  config.max_inflight_msgs = options_.max_inflight_msgs;
  config.random_seed = MixSeed(MixSeed(options_.seed, id_), incarnation_);
  s = raft::RawNode::Create(config, &raw_);
  host_.trace().Record("start", id_, incarnation_, hs.term(), hs.commit(), applied_);
  if (!s.ok()) {
    host_.invariants().Fail("n" + std::to_string(id_) + ": RawNode::Create: " + s.ToString());
    up_ = false;
    return;
  }
  Pump();
}

void SimNode::Crash() {
  KVD_CHECK(up_);
  host_.trace().Record("crash", id_, incarnation_, pending_ready_.has_value() ? 1 : 0,
                       inbox_.size());
  ++incarnation_;  // in-flight fsync events of the old incarnation are ignored
  up_ = false;
  busy_ = false;
  raw_.reset();
  pending_ready_.reset();
  deferred_.clear();
  inbox_.clear();
  sm_ = KvStateMachine();
  applied_ = 0;
  auto writes = std::move(pending_writes_);
  auto reads = std::move(pending_reads_);
  pending_writes_.clear();
  pending_reads_.clear();
  OpResult lost;
  lost.status = OpResult::Status::kLost;
  for (auto& [key, done] : writes) done(lost);
  for (auto& [key, read] : reads) read.done(lost);
}

void SimNode::Enqueue(std::function<void()> input, const char* what) {
  if (inbox_.size() >= options_.max_inbox) {
    host_.trace().Record("inbox-full", id_, inbox_.size(), 0, 0, 0, what);
    return;
  }
  inbox_.push_back(std::move(input));
  Pump();
}

void SimNode::Tick() {
  if (!up_) return;
  host_.trace().Tick(id_);
  Enqueue([this] { raw_->Tick(); }, "tick");
}

void SimNode::Deliver(raftpb::Message m) {
  if (!up_) return;
  Enqueue(
      [this, m = std::move(m)]() mutable {
        raft::Status s = raw_->Step(std::move(m));
        if (!s.ok()) {
          if (s.code() == raft::Code::kStepLocalMsg) {
            host_.invariants().Fail("n" + std::to_string(id_) + ": Step: " + s.ToString());
          }
          host_.trace().Record("step-error", id_, static_cast<uint64_t>(s.code()));
        }
      },
      "message");
}

void SimNode::Propose(uint64_t client, uint64_t op, std::string data, OpDone done) {
  OpResult dropped;
  dropped.status = OpResult::Status::kDropped;
  if (!up_ || inbox_.size() >= options_.max_inbox) {
    done(dropped);
    return;
  }
  Enqueue(
      [this, client, op, data = std::move(data), done = std::move(done), dropped]() mutable {
        raft::Status s = raw_->Propose(std::move(data));
        host_.trace().Record("propose", id_, client, op, static_cast<uint64_t>(s.code()));
        if (!s.ok()) {
          done(dropped);
          return;
        }
        pending_writes_[{client, op}] = std::move(done);
      },
      "propose");
}

void SimNode::Read(uint64_t client, uint64_t op, std::string key, OpDone done) {
  if (!up_ || inbox_.size() >= options_.max_inbox) {
    done(OpResult{});  // kLost: a read that was never asked is simply unknown
    return;
  }
  Enqueue(
      [this, client, op, key = std::move(key), done = std::move(done)]() mutable {
        std::string ctx = ReadContext(client, op);
        raft::Status s = raw_->ReadIndex(ctx);
        host_.trace().Record("read-index", id_, client, op, static_cast<uint64_t>(s.code()));
        if (!s.ok()) {
          done(OpResult{});  // refused: the read is simply unknown
          return;
        }
        pending_reads_[ctx] = PendingRead{std::move(key), std::move(done)};
      },
      "read");
}

void SimNode::CancelClientOp(uint64_t client, uint64_t op) {
  pending_writes_.erase({client, op});
  pending_reads_.erase(ReadContext(client, op));
}

void SimNode::ProposeConfChange(raftpb::ConfChange cc) {
  if (!up_) return;
  Enqueue(
      [this, cc = std::move(cc)] {
        raft::Status s = raw_->ProposeConfChange(cc);
        host_.trace().Record("propose-conf", id_, static_cast<uint64_t>(s.code()),
                             cc.changes_size(), 0, 0, cc.ShortDebugString());
      },
      "conf-change");
}

void SimNode::TransferLeader(uint64_t transferee) {
  if (!up_) return;
  Enqueue(
      [this, transferee] {
        raft::Status s = raw_->TransferLeader(transferee);
        host_.trace().Record("transfer", id_, transferee, static_cast<uint64_t>(s.code()));
      },
      "transfer");
}

void SimNode::ReportSnapshot(uint64_t to, bool failed) {
  if (!up_) return;
  Enqueue([this, to, failed] { raw_->ReportSnapshot(to, failed); }, "report-snapshot");
}

void SimNode::ReportUnreachable(uint64_t to) {
  if (!up_) return;
  Enqueue([this, to] { raw_->ReportUnreachable(to); }, "report-unreachable");
}

void SimNode::Pump() {
  if (pumping_) return;
  pumping_ = true;
  while (up_ && !busy_) {
    if (raw_->HasReady()) {
      HandleReady();
      continue;
    }
    if (inbox_.empty()) break;
    std::function<void()> input = std::move(inbox_.front());
    inbox_.pop_front();
    input();
  }
  pumping_ = false;
}

}  // namespace kvd::sim
