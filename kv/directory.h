// Directory: a node's routing view, the meta shard's kvpb::DirectoryRecord (replica sets, leader
// hints, key counts, version) together with the consistent-hash ring built from it (kv/ring.h).
//
// The meta shard (kMetaShard, a Raft group of its own) is the only writer: its first leader
// commits the initial directory (InitialDirectory, from the cluster's configuration) and shard
// leaders report themselves (kvpb::ShardReport); every node hosts a replica of it (a voter on
// the first kMaxMetaVoters nodes, a learner elsewhere), so every node applies every version.
// A Directory is immutable: the node swaps in a new one when the record changes, sharing the
// ring when the shard ids and vnodes are unchanged. Thread-safety: const, any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kv/ring.h"
#include "proto/kv.pb.h"

namespace kvd::kv {

inline constexpr size_t kMaxMetaVoters = 5;

struct Directory {
  kvpb::DirectoryRecord record;
  std::shared_ptr<const Ring> ring;

  uint64_t version() const { return record.version(); }
  uint64_t ShardFor(std::string_view key) const { return ring->ShardFor(key); }
  // The shard's entry, or null if the directory has no such data shard.
  const kvpb::DirectoryShard* Find(uint64_t shard) const;
  bool HasReplica(uint64_t shard, uint64_t node) const;
};

// Builds the routing view of 'record', reusing previous->ring when it has the same shards and
// vnodes (previous may be null). Null, with *error set, if the record cannot make a ring.
std::shared_ptr<const Directory> BuildDirectory(kvpb::DirectoryRecord record,
                                                const Directory* previous, std::string* error);

// The meta shard's voters: the first kMaxMetaVoters node ids in ascending order. The other nodes
// host it as learners.
std::vector<uint64_t> MetaVoters(std::vector<uint64_t> nodes);

// The directory a new cluster starts with: data shards placed by PlaceShards (kv/placement.h),
// no leader hints, version 0 (the meta shard makes it version 1 when it applies it).
kvpb::DirectoryRecord InitialDirectory(const std::vector<uint64_t>& nodes,
                                       const std::vector<uint64_t>& shards, int replication,
                                       int vnodes_per_shard);

}  // namespace kvd::kv
