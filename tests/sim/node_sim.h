// NodeSim: the production node (kv::NodeCore: its driver round, RaftLogStore, the kvdb state
// machine) under deterministic simulation. One seed is one run:
//
//   - 3 or 5 nodes, each a NodeCore over LevelDB databases on its own FaultEnv (a crash drops
//     every unsynced write, independently per database file), background compactions held and
//     run by the simulator at fixed points, so LevelDB's timing is part of the schedule;
//   - simulated time (both of the core's clocks) and a simulated transport (kv::Transport) that
//     drops, duplicates, delays, reorders and partitions frames;
//   - clients writing unique values with Idempotency sessions (client id, seq) and retrying an
//     unknown outcome with the same seq, and reading linearizably, through any node;
//   - faults: crashes between events and at every CrashPoint of a round (after the snapshot
//     install, after the log write, after apply, after compaction's kvdb sync, after the
//     compaction, right after a restart), leader kills, partitions (isolating the leader, random
//     splits), lossy and slow links.
//
// Checks on every seed (the first failure ends it):
//   - the client history is linearizable (kvd_lincheck, register per key);
//   - every acknowledgement's version and revision are those of the entry applied at that
//     revision of its shard, on every replica that applied it; replicas agree on every applied
//     entry; every write was applied by the shard that owns its key;
//   - each (client, seq) is executed at most once, and every acknowledgement of it (retries
//     included) carries the first outcome;
//   - after healing, every node restarts, all replicas of a shard converge on the same applied
//     index and the same data, and a final linearizable read of every key is part of the checked
//     history;
//   - every restart succeeds, and no KVD_CHECK fails (the libraries are built to throw);
//   - locks (in half the seeds, node_sim_locks.cc): no two workers believe they hold the lock
//     at once, and the guarded key's accepted fenced writes respect the tokens;
//   - transactions (bank workers in a share of the multi-shard seeds, node_sim_txn.cc): whole-bank
//     reads see the initial total, no acknowledged transfer is lost or applied in part, no
//     refused one applied, no read dirty, and after healing nothing is left in doubt.
//
// Everything random comes from one Rng seeded with the seed, so a seed replays exactly; a
// failure reports the replay command. Ownership: a NodeSim owns its nodes, stores (under a
// per-run directory, removed at the end) and clients. Thread-safety: none; one run per object.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace kvd::sim {

struct NodeSimOptions {
  uint64_t seed = 1;
  int nodes = 3;
  int shards = 0;  // data shards; 0: drawn from the seed (1, 2, 4 or 8)
  // Bank workers (node_sim_txn.cc). -1: drawn (2 or 3 in half the multi-shard runs); N > 0: N in
  // every run but the figure-8 ones, with 2 shards where 1 was drawn (unless 'shards' says).
  int txn_workers = -1;
  bool trace = false;  // print every event to stderr
  std::string binary = "kvd_node_sim";
  std::string dir;              // where the stores live; empty: /dev/shm (or the temp dir)
  int64_t fault_ms = 3000;      // simulated time with faults, then heal
  int64_t converge_ms = 20000;  // bound on the heal phase
};

struct NodeSimResult {
  bool ok = true;
  std::string failure;  // the first violation
  std::string summary;  // counts, for reports
  uint64_t trace_hash = 0;
  uint64_t crashes = 0, crash_points_hit = 0, restarts = 0;
  uint64_t quiesces = 0;  // idle groups that stopped ticking, on the nodes up at the end
  uint64_t writes_acked = 0, reads_ok = 0, unknown = 0;
  // Lock workload: grants acknowledged, fenced writes accepted, fenced writes refused (of those,
  // by workers that stalled past their lease).
  uint64_t locks_granted = 0, fenced_writes_ok = 0, fenced_refused = 0, stale_writes_fenced = 0;
  // Bank transactions: answered ok (of those spanning shards, and whole-bank reads), transfers
  // acknowledged, transfers applied (on the final chains, unknown outcomes included), outcomes
  // unknown; cross-shard commit points applied; crashes at the three transaction crash points;
  // pending records aborted past their deadline; decided ones finished by recovery.
  uint64_t txns_ok = 0, txns_cross = 0, txn_reads_all = 0, txn_plain_reads = 0, transfers_ok = 0;
  uint64_t transfers_applied = 0, txns_unknown = 0, txn_commit_points = 0;
  uint64_t txn_expired = 0, txn_recoveries = 0;
  std::map<std::string, uint64_t> txn_crashes;  // by crash point name
};

NodeSimResult RunNodeSimulation(const NodeSimOptions& options);
std::string NodeSimReplayCommand(const NodeSimOptions& options);

}  // namespace kvd::sim
