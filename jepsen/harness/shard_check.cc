// Copyright (c) kvd authors.

#include "jepsen/harness/shard_check.h"

namespace kvd::jepsen {

std::optional<kv::Ring> RingOf(const rpc::DirectoryResult& directory, std::string* error) {
  std::vector<uint64_t> ids;
  for (const auto& s : directory.shards) ids.push_back(s.id);
  if (ids.empty()) {
    *error = "the directory lists no data shard";
    return std::nullopt;
  }
  return kv::Ring::Build(std::move(ids), directory.vnodes_per_shard, error);
}

std::string LayoutOf(const rpc::DirectoryResult& directory) {
  std::string ids;
  for (const auto& s : directory.shards) ids += (ids.empty() ? "" : ",") + std::to_string(s.id);
  return "vnodes " + std::to_string(directory.vnodes_per_shard) + ", " +
         std::to_string(directory.shards.size()) + " shards (" + ids + ")";
}

uint64_t LeaderTermSum(const rpc::DirectoryResult& directory) {
  uint64_t sum = 0;
  for (const auto& s : directory.shards) sum += s.leader_term;
  return sum;
}

ShardCheckResult CheckShards(const std::vector<HistoryOp>& ops, const kv::Ring& ring) {
  ShardCheckResult result;
  for (const HistoryOp& op : ops) {
    if (op.outcome != lincheck::Outcome::kOk || op.shard == 0 || op.f == "scan") continue;
    result.answers_checked++;
    result.touched.insert(op.shard);
    const uint64_t owner = ring.ShardFor(op.key);
    if (op.shard == owner) continue;
    if (result.misrouted++ < 5) {
      result.examples.push_back(op.f + " " + op.key + " through " + op.endpoint +
                                " answered by shard " + std::to_string(op.shard) +
                                ", the directory assigns shard " + std::to_string(owner));
    }
  }
  return result;
}

}  // namespace kvd::jepsen
