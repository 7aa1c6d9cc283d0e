// kv::Node lifecycle, request entry points and status (the driver loop is in node_driver.cc).
#include "kv/node.h"

#include <filesystem>
#include <random>

#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

raft::Status Invalid(const std::string& why) {
  return raft::Status::Error(raft::Code::kInvalidArgument, why);
}

// Gives a shard its initial membership the first time the node starts: an empty log whose
// snapshot point (index 0) carries the configuration. Every member bootstraps identically.
raft::Status Bootstrap(RaftLogStore& store, ShardLog& log, const std::vector<NodeInfo>& members) {
  raftpb::SnapshotMetadata meta;
  for (const auto& m : members) meta.mutable_conf_state()->add_voters(m.id);
  leveldb::WriteBatch batch;
  log.StageSnapshot(meta, &batch);
  raft::Status s = store.Write(&batch, /*sync=*/true);
  if (s.ok()) log.Committed();
  return s;
}

}  // namespace

uint64_t ShardForKey(const std::vector<uint64_t>& shards, const std::string& key) {
  // A single data shard until the consistent-hash directory lands.
  (void)key;
  return shards.front();
}

std::string RequestContext(uint64_t request_id) {
  std::string s;
  for (int i = 7; i >= 0; --i) s.push_back(static_cast<char>((request_id >> (8 * i)) & 0xff));
  return s;
}

uint64_t RequestIdFromContext(const std::string& ctx) {
  if (ctx.size() != 8) return 0;
  uint64_t id = 0;
  for (unsigned char c : ctx) id = (id << 8) | c;
  return id;
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Node::~Node() { Stop(); }

uint64_t Node::id() const { return impl_->cfg.node_id; }

raft::Status Node::Open(NodeConfig cfg, std::unique_ptr<Node>* out) {
  if (cfg.node_id == 0) return Invalid("node id must be positive");
  if (cfg.shards.size() != 1) return Invalid("exactly one data shard is supported for now");
  bool member = false;
  for (const auto& m : cfg.members) member = member || m.id == cfg.node_id;
  if (!member) return Invalid("node id is not in the initial cluster");
  if (cfg.data_dir.empty()) return Invalid("data directory is required");
  std::error_code ec;
  std::filesystem::create_directories(cfg.data_dir, ec);
  if (ec) return Invalid("cannot create data directory " + cfg.data_dir + ": " + ec.message());

  auto impl = std::make_unique<Impl>();
  impl->cfg = cfg;
  raft::Status s = RaftLogStore::Open(cfg.data_dir + "/raftdb", cfg.env, &impl->raftdb);
  if (!s.ok()) return s;
  s = KvStore::Open(cfg.data_dir + "/kvdb", cfg.env, &impl->kvdb, cfg.session_ttl_ms);
  if (!s.ok()) return s;

  uint64_t seed = cfg.random_seed;
  if (seed == 0) {
    seed = cfg.node_id * 0x9E3779B97F4A7C15ull ^
           static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  for (uint64_t shard : cfg.shards) {
    auto r = std::make_unique<Replica>();
    r->shard = shard;
    r->log = impl->raftdb->Shard(shard);
    r->sm = impl->kvdb->Shard(shard);
    raftpb::HardState hs;
    raftpb::ConfState cs;
    s = r->log->InitialState(&hs, &cs);
    if (!s.ok()) return s;
    if (cs.voters().empty() && cs.voters_outgoing().empty()) {
      s = Bootstrap(*impl->raftdb, *r->log, cfg.members);
      if (!s.ok()) return s;
    }
    raft::Config rc;
    rc.id = cfg.node_id;
    rc.election_tick = cfg.election_ticks;
    rc.heartbeat_tick = cfg.heartbeat_ticks;
    rc.storage = r->log;
    // Entries after the compaction point are handed out again on restart: the state machine
    // skips those it already holds, and membership changes are re-applied to the Raft core.
    rc.applied = r->log->snapshot_metadata().index();
    rc.random_seed = seed + shard;
    s = raft::RawNode::Create(rc, &r->raw);
    if (!s.ok()) return s;
    r->soft = r->raw->GetStatus().soft_state;
    r->last_compacted = r->log->snapshot_metadata().index();
    r->applied_index = r->sm->applied().index();
    impl->replicas.emplace(shard, std::move(r));
  }
  impl->RefreshStatus();
  out->reset(new Node(std::move(impl)));
  return raft::Status::Ok();
}

void Node::Start(Transport* transport) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  KVD_CHECK_MSG(!impl_->started, "node started twice");
  impl_->started = true;
  impl_->transport = transport;
  impl_->driver = std::thread([impl = impl_.get()] { impl->Run(); });
}

void Node::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->started || impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->driver.join();
}

namespace {

// Queues an input unless the node is stopping or the inbox is full. Returns false if dropped.
bool Enqueue(Node::Impl& impl, Input in) {
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    if (impl.stopping || impl.inbox.size() >= impl.cfg.max_inbox) return false;
    impl.inbox.push_back(std::move(in));
  }
  impl.cv.notify_one();
  return true;
}

}  // namespace

void Node::Deliver(kvpb::PeerBatch batch) {
  if (!Enqueue(*impl_, std::move(batch))) impl_->counters.frames_dropped++;
}

void Node::Write(WriteRequest req, std::function<void(WriteResponse)> done) {
  if (req.key.empty()) {
    done(WriteError(ErrorCode::kInvalidArgument, "empty key"));
    return;
  }
  auto shared_done = std::make_shared<std::function<void(WriteResponse)>>(std::move(done));
  if (!Enqueue(*impl_, WriteInput{std::move(req), [shared_done](WriteResponse r) {
                                    (*shared_done)(std::move(r));
                                  }})) {
    impl_->counters.overloaded++;
    (*shared_done)(WriteError(ErrorCode::kOverloaded, "node is overloaded or stopping"));
  }
}

namespace {

// Serves a stale read from this replica's state, on the calling thread.
ReadResponse StaleGet(Node::Impl& impl, const ReadRequest& req) {
  const uint64_t shard = ShardForKey(impl.cfg.shards, req.key);
  ReadResponse resp;
  resp.shard = shard;
  resp.applied_index = impl.replicas.at(shard)->applied_index;
  raft::Status s = impl.kvdb->Shard(shard)->Get(req.key, &resp.record);
  if (!s.ok()) {
    resp.code = ErrorCode::kUnavailable;
    resp.message = s.ToString();
  } else if (!resp.record) {
    resp.code = ErrorCode::kNotFound;
  }
  return resp;
}

}  // namespace

void Node::Read(ReadRequest req, std::function<void(ReadResponse)> done) {
  if (ServeFromLocalState(req.stale)) {
    impl_->counters.reads_stale++;
    done(StaleGet(*impl_, req));
    return;
  }
  PendingRead read;
  read.shard = ShardForKey(impl_->cfg.shards, req.key);
  read.get = std::move(req);
  read.get_done = std::move(done);
  auto fallback = read.get_done;
  if (!Enqueue(*impl_, ReadInput{std::move(read)})) {
    impl_->counters.overloaded++;
    fallback(ReadError(ErrorCode::kOverloaded, "node is overloaded or stopping"));
  }
}

void Node::Scan(ScanRequest req, std::function<void(ScanResponse)> done) {
  const uint64_t shard = impl_->cfg.shards.front();
  if (ServeFromLocalState(req.stale)) {
    ScanResponse resp;
    std::vector<ScanItem> items;
    raft::Status s =
        impl_->kvdb->Shard(shard)->Scan(req.prefix, req.after, req.limit, &items, &resp.more);
    if (!s.ok()) resp = ScanError(ErrorCode::kUnavailable, s.ToString());
    for (auto& item : items) resp.items.emplace_back(std::move(item.key), std::move(item.record));
    done(std::move(resp));
    return;
  }
  PendingRead read;
  read.shard = shard;
  read.is_scan = true;
  read.scan = std::move(req);
  read.scan_done = std::move(done);
  auto fallback = read.scan_done;
  if (!Enqueue(*impl_, ReadInput{std::move(read)})) {
    impl_->counters.overloaded++;
    fallback(ScanError(ErrorCode::kOverloaded, "node is overloaded or stopping"));
  }
}

ClusterStatus Node::Status() const {
  std::lock_guard<std::mutex> lock(impl_->status_mu);
  ClusterStatus st = impl_->status_cache;
  for (auto& n : st.nodes) {
    n.up = n.id == impl_->cfg.node_id || !impl_->transport.load() ||
           impl_->transport.load()->Reachable(n.id);
  }
  return st;
}

bool Node::IsReady() const {
  std::lock_guard<std::mutex> lock(impl_->status_mu);
  return impl_->ready_cache;
}

std::string Node::Metrics() const { return impl_->MetricsText(); }

}  // namespace kvd::kv
