// Copyright (c) kvd authors.
//
// Shard ownership: which shard must answer for a key, and whether the answers did. The oracle is
// the ring of the directory the cluster committed (GET /v1/directory: its shard ids and
// vnodes_per_shard, rebuilt with kv/ring.h as a smart client does). Keys never move between
// shards in a run (the directory's layout is fixed when the cluster starts; only leader hints
// change), so every answer's X-Kv-Shard must be the shard the ring assigns to its key: an answer
// from another shard means a node served the key from a replica group that does not own it, and
// reads routed correctly will not see what it wrote.
//
// Pure functions; thread-safe.

#ifndef KVD_JEPSEN_HARNESS_SHARD_CHECK_H_
#define KVD_JEPSEN_HARNESS_SHARD_CHECK_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "jepsen/harness/history.h"
#include "kv/ring.h"
#include "rpc/http_client.h"

namespace kvd::jepsen {

// The directory's ring; nullopt with *error set if it lists no shard or cannot make a ring.
std::optional<kv::Ring> RingOf(const rpc::DirectoryResult& directory, std::string* error);

// "vnodes 100, 16 shards (1..16)": what decides key ownership, to compare nodes' directories.
std::string LayoutOf(const rpc::DirectoryResult& directory);

// The sum of the data shards' leader terms in the directory: grows with every election that a
// new leader reported to the meta shard.
uint64_t LeaderTermSum(const rpc::DirectoryResult& directory);

struct ShardCheckResult {
  size_t answers_checked = 0;         // ok answers that named a shard
  std::set<uint64_t> touched;         // the shards they named
  size_t misrouted = 0;               // answers naming a shard the ring does not assign
  std::vector<std::string> examples;  // the first few, readable
};

// Checks every ok answer of a key operation (read, write, cas, add) that carries X-Kv-Shard.
ShardCheckResult CheckShards(const std::vector<HistoryOp>& ops, const kv::Ring& ring);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_SHARD_CHECK_H_
