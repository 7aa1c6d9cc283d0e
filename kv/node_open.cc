// NodeCore::Open: opening the stores, bootstrapping each hosted shard's membership, reconciling
// raftdb with a kvdb a crash left ahead of it, and creating every replica's RawNode.
#include <algorithm>
#include <chrono>
#include <filesystem>

#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

raft::Status Invalid(const std::string& why) {
  return raft::Status::Error(raft::Code::kInvalidArgument, why);
}

// Gives a shard its initial membership the first time the node starts: an empty log whose
// snapshot point (index 0) carries the configuration. Every member bootstraps identically.
raft::Status Bootstrap(RaftLogStore& store, ShardLog& log, const raftpb::ConfState& conf) {
  raftpb::SnapshotMetadata meta;
  *meta.mutable_conf_state() = conf;
  leveldb::WriteBatch batch;
  log.StageSnapshot(meta, &batch);
  raft::Status s = store.Write(&batch, /*sync=*/true);
  if (s.ok()) log.Committed();
  return s;
}

// kvdb may be ahead of raftdb after a crash: a follower syncs an installed snapshot into kvdb
// before its raftdb batch, and a power loss can undo a log write that kvdb's later sync kept.
// Everything kvdb applied was committed, so the log is brought up to it before Raft starts:
// the commit index covers it, and a log that lacks the applied entry (or holds another one at
// its index) restarts from a snapshot point there. Otherwise a later compaction would leave the
// commit index below the log (Raft refuses to start), or a conflicting entry would abort it.
raft::Status ReconcileWithStateMachine(RaftLogStore& store, ShardLog& log,
                                       const kvpb::AppliedState& applied) {
  const uint64_t a = applied.index();
  if (a == 0) return raft::Status::Ok();
  leveldb::WriteBatch batch;
  bool changed = false;
  uint64_t term_at_a = 0;
  const bool log_has_a = log.Term(a, &term_at_a).ok() && term_at_a == applied.term();
  if (a > log.snapshot_metadata().index() && !log_has_a) {
    raftpb::SnapshotMetadata meta;
    meta.set_index(a);
    meta.set_term(applied.term());
    const bool has_conf =
        applied.conf_state().voters_size() > 0 || applied.conf_state().voters_outgoing_size() > 0;
    *meta.mutable_conf_state() =
        has_conf ? applied.conf_state() : log.snapshot_metadata().conf_state();
    log.StageSnapshot(meta, &batch);
    changed = true;
  }
  raftpb::HardState hs = log.hard_state();
  if (hs.commit() < a) {
    hs.set_commit(a);
    if (hs.term() < applied.term()) {
      hs.set_term(applied.term());
      hs.set_vote(0);
    }
    log.StageHardState(hs, &batch);
    changed = true;
  }
  if (!changed) return raft::Status::Ok();
  raft::Status s = store.Write(&batch, /*sync=*/true);
  if (s.ok()) log.Committed();
  return s;
}

}  // namespace

raft::Status NodeCore::Open(NodeConfig cfg, Transport* transport, std::unique_ptr<NodeCore>* out) {
  if (cfg.node_id == 0) return Invalid("node id must be positive");
  std::vector<uint64_t> node_ids;
  for (const auto& m : cfg.members) node_ids.push_back(m.id);
  if (std::find(node_ids.begin(), node_ids.end(), cfg.node_id) == node_ids.end()) {
    return Invalid("node id is not in the initial cluster");
  }
  if (cfg.shards.empty()) return Invalid("at least one data shard is required");
  if (std::find(cfg.shards.begin(), cfg.shards.end(), kMetaShard) != cfg.shards.end()) {
    return Invalid("shard 0 is the meta shard; data shard ids start at 1");
  }
  if (cfg.replication < 1) return Invalid("replication must be at least 1");
  std::string ring_error;
  std::shared_ptr<const kv::Directory> provisional =
      BuildDirectory(InitialDirectory(node_ids, cfg.shards, cfg.replication, cfg.vnodes_per_shard),
                     nullptr, &ring_error);
  if (provisional == nullptr) return Invalid("bad shard layout: " + ring_error);
  if (cfg.data_dir.empty()) return Invalid("data directory is required");
  std::error_code ec;
  std::filesystem::create_directories(cfg.data_dir, ec);
  if (ec) return Invalid("cannot create data directory " + cfg.data_dir + ": " + ec.message());

  auto impl = std::make_unique<CoreImpl>();
  impl->cfg = cfg;
  impl->transport = transport;
  impl->directory = provisional;
  // A failure closes the stores opened so far: the hook hears of it first (node_config.h).
  auto failed = [&impl](raft::Status status) {
    impl->Crash(CrashPoint::kOpenFailed);
    return status;
  };
  raft::Status s = RaftLogStore::Open(cfg.data_dir + "/raftdb", cfg.env, &impl->raftdb);
  if (!s.ok()) return failed(s);
  s = KvStore::Open(cfg.data_dir + "/kvdb", cfg.env, &impl->kvdb, cfg.session_ttl_ms);
  if (!s.ok()) return failed(s);
  s = impl->raftdb->RecordBoot(&impl->boot);
  if (!s.ok()) return failed(s);
  KVD_CHECK_MSG(impl->boot < (uint64_t{1} << (64 - kRequestSeqBits)), "boot count exhausted");

  uint64_t seed = cfg.random_seed;
  if (seed == 0) {
    seed = cfg.node_id * 0x9E3779B97F4A7C15ull ^
           static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  // The replicas this node hosts: the meta shard everywhere, data shards where placed.
  std::map<uint64_t, raftpb::ConfState> hosted;
  {
    raftpb::ConfState meta_conf;
    const std::vector<uint64_t> voters = MetaVoters(node_ids);
    for (uint64_t n : node_ids) {
      if (std::find(voters.begin(), voters.end(), n) != voters.end()) {
        meta_conf.add_voters(n);
      } else {
        meta_conf.add_learners(n);
      }
    }
    hosted[kMetaShard] = meta_conf;
    for (const auto& sh : provisional->record.shards()) {
      if (!provisional->HasReplica(sh.id(), cfg.node_id)) continue;
      raftpb::ConfState conf;
      for (uint64_t n : sh.replicas()) conf.add_voters(n);
      hosted[sh.id()] = conf;
    }
  }
  for (const auto& [shard, initial_conf] : hosted) {
    auto r = std::make_unique<Replica>();
    r->shard = shard;
    r->log = impl->raftdb->Shard(shard);
    r->sm = impl->kvdb->Shard(shard);
    raftpb::HardState hs;
    raftpb::ConfState cs;
    s = r->log->InitialState(&hs, &cs);
    if (!s.ok()) return failed(s);
    if (cs.voters().empty() && cs.voters_outgoing().empty()) {
      s = Bootstrap(*impl->raftdb, *r->log, initial_conf);
      if (!s.ok()) return failed(s);
    }
    if (ReconcileOnOpen()) {
      s = ReconcileWithStateMachine(*impl->raftdb, *r->log, r->sm->applied());
      if (!s.ok()) return failed(s);
    }
    raft::Config rc;
    rc.id = cfg.node_id;
    rc.election_tick = cfg.election_ticks;
    rc.heartbeat_tick = cfg.heartbeat_ticks;
    rc.max_size_per_msg = cfg.max_size_per_msg;
    rc.max_inflight_msgs = cfg.max_inflight_msgs;
    rc.storage = r->log;
    // Entries after the compaction point are handed out again on restart: the state machine
    // skips those it already holds, and membership changes are re-applied to the Raft core.
    rc.applied = r->log->snapshot_metadata().index();
    rc.random_seed = seed + shard;
    s = raft::RawNode::Create(rc, &r->raw);
    if (!s.ok()) return failed(s);
    r->soft = r->raw->GetStatus().soft_state;
    r->last_compacted = r->log->snapshot_metadata().index();
    r->applied_index = r->sm->applied().index();
    impl->LoadLockEvents(*r);
    impl->LoadTxnState(*r);
    impl->replicas.emplace(shard, std::move(r));
  }
  impl->LoadDirectory();
  impl->RefreshStatus();
  impl->Crash(CrashPoint::kAfterBoot);
  out->reset(new NodeCore(std::move(impl)));
  return raft::Status::Ok();
}

}  // namespace kvd::kv
