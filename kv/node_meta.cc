// The directory's upkeep (node_impl.h): loading what the meta shard applied, committing the
// initial directory, shard leaders reporting themselves, and handing each shard's leadership to
// its preferred replica so that leaders spread evenly over the nodes.
#include <algorithm>

#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

// Placement and ring of two records: what decides which node hosts and which shard owns a key.
bool SameLayout(const kvpb::DirectoryRecord& a, const kvpb::DirectoryRecord& b) {
  if (a.vnodes_per_shard() != b.vnodes_per_shard() || a.shards_size() != b.shards_size()) {
    return false;
  }
  for (int i = 0; i < a.shards_size(); ++i) {
    if (a.shards(i).id() != b.shards(i).id()) return false;
    if (!std::equal(a.shards(i).replicas().begin(), a.shards(i).replicas().end(),
                    b.shards(i).replicas().begin(), b.shards(i).replicas().end())) {
      return false;
    }
  }
  return true;
}

}  // namespace

void CoreImpl::LoadDirectory() {
  std::optional<kvpb::DirectoryRecord> record;
  raft::Status s = replicas.at(kMetaShard)->sm->Directory(&record);
  KVD_CHECK_MSG(s.ok(), "reading the directory: " << s.ToString());
  if (!record) return;  // not committed yet: requests wait (kUnavailable) until it is
  if (!RouteByCommittedDirectory()) record->set_vnodes_per_shard(cfg.vnodes_per_shard);
  const std::shared_ptr<const Directory> current = Dir();
  if (current->version() == record->version()) return;
  std::string error;
  std::shared_ptr<const Directory> next = BuildDirectory(*record, current.get(), &error);
  KVD_CHECK_MSG(next != nullptr, "the meta shard holds a directory without a ring: " << error);
  if (current->version() == 0 && !SameLayout(current->record, next->record) && cfg.log) {
    // This node's flags built the provisional directory; the cluster's differs.
    cfg.log(
        "ERROR: this node's --nodes/--shards/--replication/--vnodes disagree with the "
        "cluster's directory; it routes by the cluster's directory, but hosts the replicas "
        "its own flags place");
  }
  counters.directory_changes++;
  std::lock_guard<std::mutex> lock(dir_mu);
  directory = std::move(next);
}

void CoreImpl::MaintainDirectory(Replica& r) {
  if (r.soft.state != raft::StateType::kLeader) return;
  const std::shared_ptr<const Directory> dir = Dir();
  const uint64_t settle = static_cast<uint64_t>(cfg.election_ticks);
  if (r.shard == kMetaShard) {
    // The first meta leader commits the directory every node computed from its flags; the
    // first one committed wins (DirectoryInit applies only to a meta shard without one).
    if (dir->version() != 0 || (r.last_report_tick != 0 && ticks - r.last_report_tick < settle)) {
      return;
    }
    r.last_report_tick = ticks;
    kvpb::Command cmd;
    cmd.set_format(kCommandFormat);
    *cmd.mutable_directory_init()->mutable_directory() = dir->record;
    (void)r.raw->Propose(EncodeCommand(cmd));  // retried at a later tick if lost
    return;
  }
  if (dir->version() == 0) return;
  const kvpb::DirectoryShard* entry = dir->Find(r.shard);
  if (entry == nullptr) return;
  const uint64_t term = r.log->hard_state().term();
  const uint64_t keys = r.sm->applied().key_count();
  // A new leader reports at once (and again every election timeout until the meta shard has
  // it); a key count that changed is refreshed at most every ten election timeouts.
  const bool stale_hint = entry->leader() != cfg.node_id || entry->leader_term() != term;
  const bool stale_keys = entry->keys() != keys && ticks - r.last_report_tick >= 10 * settle;
  if ((stale_hint && (r.last_report_tick == 0 || ticks - r.last_report_tick >= settle)) ||
      stale_keys) {
    r.last_report_tick = ticks;
    kvpb::Command cmd;
    cmd.set_format(kCommandFormat);
    kvpb::ShardReport* rep = cmd.mutable_shard_report();
    rep->set_shard(r.shard);
    rep->set_leader(cfg.node_id);
    rep->set_term(term);
    rep->set_keys(keys);
    (void)replicas.at(kMetaShard)->raw->Propose(EncodeCommand(cmd));  // forwarded to its leader
  }
  // Leader balancing: hand the shard to its preferred replica once that one is caught up.
  if (!cfg.balance_leaders || entry->replicas_size() == 0) return;
  const uint64_t preferred = entry->replicas(0);
  if (preferred == cfg.node_id || ticks - r.leader_since_tick < settle ||
      (r.last_transfer_tick != 0 && ticks - r.last_transfer_tick < 2 * settle) ||
      (transport != nullptr && !transport->Reachable(preferred))) {
    return;
  }
  const raft::NodeStatus st = r.raw->GetStatus();
  auto it = st.progress.find(preferred);
  if (st.lead_transferee != 0 || it == st.progress.end() || !it->second.recent_active ||
      it->second.match != st.last_index) {
    return;
  }
  r.last_transfer_tick = ticks;
  if (r.raw->TransferLeader(preferred).ok()) counters.leader_transfers++;
}

DirectoryView CoreImpl::DirectoryViewNow() const {
  const std::shared_ptr<const Directory> dir = Dir();
  DirectoryView v;
  v.version = dir->version();
  v.vnodes_per_shard = static_cast<int>(dir->record.vnodes_per_shard());
  v.replication = static_cast<int>(dir->record.replication());
  v.meta_shard = kMetaShard;
  v.meta_voters.assign(dir->record.meta_voters().begin(), dir->record.meta_voters().end());
  v.nodes = cfg.members;
  for (auto& n : v.nodes) {
    n.up = n.id == cfg.node_id || transport == nullptr || transport->Reachable(n.id);
  }
  const std::map<uint64_t, double> shares = dir->ring->HashShares();
  std::map<uint64_t, uint64_t> live_leaders;  // what this node's own replicas know now
  {
    std::lock_guard<std::mutex> lock(status_mu);
    for (const auto& s : status_cache.shards) {
      if (s.leader != 0) live_leaders[s.id] = s.leader;
    }
  }
  for (const auto& s : dir->record.shards()) {
    DirectoryShard ds;
    ds.id = s.id();
    ds.replicas.assign(s.replicas().begin(), s.replicas().end());
    auto live = live_leaders.find(s.id());
    ds.leader = live != live_leaders.end() ? live->second : s.leader();
    ds.leader_term = s.leader_term();
    ds.keys = s.keys();
    auto it = shares.find(s.id());
    ds.hash_share = it == shares.end() ? 0 : it->second;
    v.shards.push_back(std::move(ds));
  }
  return v;
}

}  // namespace kvd::kv
