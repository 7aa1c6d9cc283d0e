// NodeConfig: what a kv::Node or kv::NodeCore is built from.
#pragma once

#include <leveldb/env.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kv/service.h"

namespace kvd::kv {

// Places in a driver round where the simulator may crash the node (node_core.h).
enum class CrashPoint {
  kAfterSnapshotInstall,  // kvdb holds and has synced an incoming snapshot; raftdb does not yet
  kAfterLogWrite,         // the round's raftdb batch is durable; nothing applied or answered
  kAfterApply,            // committed entries applied to kvdb (not synced) and answered
  kAfterCompactionSync,   // kvdb synced for a compaction; raftdb not yet compacted
  kAfterCompaction,       // raftdb compacted
  kAfterBoot,             // the node recovered its stores and recorded this boot
  kOpenFailed,            // Open failed after opening a store, which it closes next (not a crash: a
                          // simulator holding LevelDB's background work must release it here)
  // A cross-shard transaction's coordinator (kv/node_txn.cc), at each step of two-phase commit:
  kTxnAfterRecord,          // the record (PENDING) is written; no prepare proposed yet
  kTxnAfterPrepare,         // one participant voted yes; others may not have
  kTxnAfterDecideProposed,  // every participant voted yes and the decision is proposed, not
                            // known to be applied
  kTxnAfterCommit,          // the record is COMMITTED; the client not answered, no intent resolved
};
const char* CrashPointName(CrashPoint p);

struct NodeConfig {
  uint64_t node_id = 0;
  std::vector<NodeInfo> members;  // the initial cluster
  // Data shard ids (positive, distinct). Each is a Raft group on 'replication' of the members,
  // placed by PlaceShards (kv/placement.h); the meta shard (kMetaShard) holding the directory is
  // hosted by every member. Every node of a cluster must be given the same members, shards,
  // replication and vnodes_per_shard: the first directory the meta shard commits wins.
  std::vector<uint64_t> shards = {1};
  int replication = 3;          // clamped to the number of members
  int vnodes_per_shard = 100;   // points per shard on the consistent-hash ring
  bool balance_leaders = true;  // a leader hands a shard to its preferred replica when caught up
  bool quiesce = true;          // idle groups stop ticking (kv/node_quiesce.cc)
  std::string data_dir;         // holds raftdb/ and kvdb/
  leveldb::Env* env = nullptr;  // borrowed; null = leveldb::Env::Default()

  int tick_ms = 100;
  int election_ticks = 10;  // election timeout: 1-2 s at 100 ms ticks
  int heartbeat_ticks = 1;
  int64_t request_timeout_ms = 5000;
  // A cross-shard transaction's record may be aborted by recovery once its shard clock is this far
  // past its creation (the coordinator has to reach the commit point before then).
  int64_t txn_ttl_ms = 3000;
  size_t max_pending_requests = 20000;
  size_t max_inbox = 8192;         // queued inbound frames and requests
  uint64_t compact_every = 10000;  // entries applied between log compactions
  size_t snapshot_chunk_bytes = 1 << 20;
  int64_t session_ttl_ms = 10 * 60 * 1000;
  uint64_t max_size_per_msg = 1 << 20;  // bytes of entries per MsgApp
  int max_inflight_msgs = 256;          // unacknowledged MsgApps per follower
  uint64_t random_seed = 0;             // 0: derived from the node id and the clock
  // One line per change of a replica's role or leader (e.g. "shard 1: follower, term 3, leader
  // n2"), called on the driver thread; may be empty.
  std::function<void(std::string_view line)> log;

  // Clocks; empty = the real ones. monotonic_ms drives request deadlines; wall_ms is what a
  // leader stamps on the commands it proposes (session expiry).
  std::function<int64_t()> monotonic_ms;
  std::function<int64_t()> wall_ms;
  // Called at each CrashPoint of a round; the simulator throws from it to crash the node there.
  std::function<void(CrashPoint)> crash_point;
  // Called for every command entry this replica applies, with its outcome (the simulator checks
  // acknowledgements and exactly-once against it); may be empty.
  std::function<void(uint64_t shard, uint64_t index, const kvpb::Command& command,
                     const kvpb::Result& result)>
      on_apply;
};

}  // namespace kvd::kv
