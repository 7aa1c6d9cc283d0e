#include "rpc/client_directory.h"

#include <algorithm>
#include <utility>

namespace kvd::rpc {
namespace {

std::vector<uint64_t> ShardIds(const DirectoryResult& d) {
  std::vector<uint64_t> ids;
  for (const DirectoryShard& s : d.shards) ids.push_back(s.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

bool DirectoryCache::Install(const DirectoryResult& d, std::string* error) {
  auto fail = [&](std::string why) {
    if (error != nullptr) *error = std::move(why);
    return false;
  };
  if (d.version == 0) return fail("the directory has no version");
  if (directory_ && d.version < directory_->version) {
    return fail("older than the cached directory (version " + std::to_string(directory_->version) +
                ")");
  }
  if (!d.hash.empty() && d.hash != kHash) return fail("unknown key hash '" + d.hash + "'");
  std::vector<uint64_t> ids = ShardIds(d);
  std::optional<kv::Ring> ring = ring_;
  if (!ring || ring->shards() != ids || ring->vnodes_per_shard() != d.vnodes_per_shard) {
    std::string why;
    ring = kv::Ring::Build(std::move(ids), d.vnodes_per_shard, &why);
    if (!ring) return fail("cannot build the ring: " + why);
  }

  DirectoryResult next = d;
  static_cast<Result&>(next) = Result();  // keep the directory, not the response that carried it
  if (directory_ && directory_->version == next.version) {
    for (DirectoryShard& shard : next.shards) {
      const DirectoryShard* cached = directory_->FindShard(shard.id);
      if (cached != nullptr && cached->leader_term > shard.leader_term) {
        shard.leader = cached->leader;
        shard.leader_term = cached->leader_term;
      }
    }
  }
  directory_ = std::move(next);
  ring_ = std::move(ring);
  return true;
}

void DirectoryCache::Observe(const Result& r, const std::vector<std::string>& route) {
  if (r.directory_version && *r.directory_version > version()) needs_refresh_ = true;
  if (!route.empty() && r.endpoint != route.front()) needs_refresh_ = true;
  if (r.transport == Transport::kConnectFailed || r.transport == Transport::kTimeout) {
    needs_refresh_ = true;
  }
  if (r.transport == Transport::kOk && r.status == 503) needs_refresh_ = true;
}

bool DirectoryCache::OneShard(const std::vector<std::string>& keys) const {
  if (!ring_ || keys.empty()) return false;
  const uint64_t shard = ring_->ShardFor(keys.front());
  return std::all_of(keys.begin(), keys.end(),
                     [&](const std::string& key) { return ring_->ShardFor(key) == shard; });
}

std::vector<std::string> DirectoryCache::RouteFor(std::string_view key) const {
  std::vector<std::string> route;
  if (!directory_ || !ring_) return route;
  const DirectoryShard* shard = directory_->FindShard(ring_->ShardFor(key));
  if (shard == nullptr) return route;
  auto add = [&](uint64_t node_id) {
    const NodeStatus* node = directory_->FindNode(node_id);
    if (node == nullptr || node->http_address.empty()) return;
    if (std::find(route.begin(), route.end(), node->http_address) != route.end()) return;
    route.push_back(node->http_address);
  };
  if (shard->leader != 0) add(shard->leader);
  for (uint64_t replica : shard->replicas) add(replica);
  return route;
}

}  // namespace kvd::rpc
