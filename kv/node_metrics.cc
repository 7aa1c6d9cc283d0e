// Prometheus text exposition of a node's counters and per-shard Raft state.
#include <sstream>

#include "kv/node_impl.h"

namespace kvd::kv {

std::string CoreImpl::MetricsText() const {
  std::ostringstream out;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n"
        << name << " " << v << "\n";
  };
  const Counters& c = counters;
  counter("kvd_driver_rounds_total", "Driver rounds that processed at least one Ready.", c.rounds);
  counter("kvd_fsyncs_total", "Synced raft log writes (one per round, all shards).", c.fsyncs);
  out << "# HELP kvd_fsync_seconds_total Time spent in synced raft log writes.\n"
      << "# TYPE kvd_fsync_seconds_total counter\n"
      << "kvd_fsync_seconds_total " << static_cast<double>(c.fsync_micros) / 1e6 << "\n";
  counter("kvd_persisted_entries_total", "Log entries persisted.", c.persisted_entries);
  counter("kvd_proposals_total", "Writes proposed to Raft.", c.proposals);
  counter("kvd_writes_ok_total", "Writes applied and acknowledged.", c.writes_ok);
  counter("kvd_writes_failed_total", "Writes certainly not applied (or precondition failed).",
          c.writes_failed);
  counter("kvd_writes_unknown_total", "Writes answered with an unknown outcome.", c.writes_unknown);
  counter("kvd_reads_linearizable_total", "Linearizable reads started.", c.reads_linearizable);
  counter("kvd_reads_stale_total", "Stale reads served.", c.reads_stale);
  counter("kvd_reads_failed_total", "Reads that failed (no leader, timeout).", c.reads_failed);
  counter("kvd_applied_entries_total", "Entries applied to the state machine.", c.applied_entries);
  counter("kvd_raft_messages_sent_total", "Raft messages handed to the transport.",
          c.messages_sent);
  counter("kvd_peer_frames_dropped_total", "Peer frames dropped (queue full, peer down).",
          c.frames_dropped);
  counter("kvd_snapshots_sent_total", "Snapshots streamed to followers.", c.snapshots_sent);
  counter("kvd_snapshots_installed_total", "Snapshots installed from a leader.",
          c.snapshots_installed);
  counter("kvd_log_compactions_total", "Raft log compactions.", c.compactions);
  counter("kvd_leader_changes_total", "Leader changes observed, all shards.", c.leader_changes);
  counter("kvd_forwarded_requests_total", "Requests forwarded to a node hosting the key's shard.",
          c.forwarded);
  counter("kvd_leader_transfers_total", "Leaderships handed to a shard's preferred replica.",
          c.leader_transfers);
  counter("kvd_directory_changes_total", "Directory versions applied from the meta shard.",
          c.directory_changes);
  counter("kvd_overloaded_total", "Requests shed with 429.", c.overloaded);
  counter("kvd_quiesces_total", "Times an idle shard replica stopped ticking.", c.quiesces);
  counter("kvd_lock_grants_total", "Lock acquires granted to this node's clients.", c.lock_grants);
  counter("kvd_lock_held_total", "Lock acquires refused (held; wait ran out).", c.lock_held);
  counter("kvd_fenced_total", "Writes, keepalives and releases refused by a fence (409 fenced).",
          c.fenced);
  counter("kvd_lock_ticks_total", "LockTicks proposed as a leader (a lease or wait ran out).",
          c.lock_ticks);
  counter("kvd_txn_commits_single_shard_total",
          "Single-shard transactions this node coordinated that committed.", c.txn_single);
  counter("kvd_txn_commits_cross_shard_total",
          "Cross-shard transactions this node coordinated that reached the commit point.",
          c.txn_cross);
  counter("kvd_txn_read_only_total",
          "Read-only transactions over several shards this node answered (read twice, no intents).",
          c.txn_read_only);
  counter("kvd_txn_failed_total",
          "Transactions answered with a clean failure (conflict, fenced, unavailable): aborted.",
          c.txn_failed);
  counter("kvd_txn_conflicts_total",
          "Transaction attempts that met another transaction's intents (each is retried).",
          c.txn_conflicts);
  counter("kvd_txn_unknown_total", "Transactions answered 504 (outcome unknown).", c.txn_unknown);
  counter("kvd_txn_latency_microseconds_total",
          "Summed latency of committed transactions (divide by the commit counters).",
          c.txn_micros);
  counter("kvd_txn_recoveries_total",
          "Transactions of a dead or slow coordinator that this node's recovery finished.",
          c.txn_recoveries);
  counter("kvd_txn_recovery_microseconds_total",
          "Summed time recovery took, from starting to finish a transaction to forgetting it.",
          c.txn_recovery_micros);
  out << "# HELP kvd_quiesced_replicas Shard replicas not ticking now (idle groups).\n"
      << "# TYPE kvd_quiesced_replicas gauge\nkvd_quiesced_replicas " << c.quiesced_groups << "\n";
  ClusterStatus st;
  {
    std::lock_guard<std::mutex> lock(status_mu);
    st = status_cache;
  }
  out << "# HELP kvd_shard_term Current Raft term.\n# TYPE kvd_shard_term gauge\n";
  for (const auto& s : st.shards)
    out << "kvd_shard_term{shard=\"" << s.id << "\"} " << s.term << "\n";
  out << "# HELP kvd_shard_is_leader Whether this node leads the shard.\n"
      << "# TYPE kvd_shard_is_leader gauge\n";
  for (const auto& s : st.shards) {
    out << "kvd_shard_is_leader{shard=\"" << s.id << "\"} " << (s.leader == cfg.node_id ? 1 : 0)
        << "\n";
  }
  out << "# HELP kvd_shard_commit_index Raft commit index.\n# TYPE kvd_shard_commit_index gauge\n";
  for (const auto& s : st.shards) {
    out << "kvd_shard_commit_index{shard=\"" << s.id << "\"} " << s.commit_index << "\n";
  }
  out << "# HELP kvd_shard_applied_index Applied index.\n# TYPE kvd_shard_applied_index gauge\n";
  for (const auto& s : st.shards) {
    out << "kvd_shard_applied_index{shard=\"" << s.id << "\"} " << s.applied_index << "\n";
  }
  return out.str();
}

}  // namespace kvd::kv
