// PlaceShards: which nodes hold the replicas of each shard, and which replica should lead.
//
// The placement is a pure, deterministic function of its inputs, so every node computes the same
// one. It spreads load evenly over N nodes for S shards with R replicas each:
//   - a shard's R replicas are R distinct nodes;
//   - every node holds floor(S*R/N) or ceil(S*R/N) replicas;
//   - every node is the preferred leader (replicas[0]) of floor(S/N) or ceil(S/N) shards.
//
// How: number the nodes 0..N-1 in ascending id order and the shards 0..S-1 in the order given.
// Lay the S*R replica slots out in one row and deal them to the nodes round-robin: shard i gets the
// R consecutive nodes starting at node (i*R mod N). Dealing round-robin makes the replica counts
// even, and R consecutive nodes (R <= N) are distinct. The leader is one of those R nodes, chosen
// so that each block of N consecutive shards has exactly one leader per node. With g = gcd(R, N)
// and p = i mod N, the starts (p*R mod N) are the multiples of g, each shared by the g shards
// p, p + N/g, p + 2N/g, ... of the block; the k-th of them (k = p / (N/g), so k < g <= R) leads on
// the node k places after its start, and start + k covers every node once per block (at most
// once in the last, partial block). The replicas are listed from the leader onward around those R
// consecutive nodes.
//
// A full rotation (shard i on nodes i..i+R-1) is simpler but not even: with N=9, R=5 and S=4 the
// nodes 3 and 4 hold 4 replicas while node 8 holds none.
//
// Moving a node or shard in or out reshuffles most of the placement; callers that need minimal
// movement must diff against the current placement (not done here).
#pragma once

#include <cstdint>
#include <vector>

namespace kvd::kv {

struct ShardPlacement {
  uint64_t shard;
  std::vector<uint64_t> replicas;  // distinct node ids; replicas[0] is the preferred leader
  bool operator==(const ShardPlacement&) const = default;
};

// One entry per element of `shard_ids`, in the same order. `node_ids` should be sorted ascending
// and distinct; it is sorted and deduplicated here, so the result does not depend on the order in
// which the caller lists the nodes. `replication` is clamped to [1, number of nodes]. With no
// nodes, returns an empty vector.
std::vector<ShardPlacement> PlaceShards(const std::vector<uint64_t>& node_ids,
                                        const std::vector<uint64_t>& shard_ids, int replication);

}  // namespace kvd::kv
