// Directory: building the routing view from the meta shard's record (directory.h).
#include "kv/directory.h"

#include <algorithm>

#include "kv/placement.h"

namespace kvd::kv {

const kvpb::DirectoryShard* Directory::Find(uint64_t shard) const {
  const auto& shards = record.shards();
  auto it =
      std::lower_bound(shards.begin(), shards.end(), shard,
                       [](const kvpb::DirectoryShard& s, uint64_t id) { return s.id() < id; });
  return it != shards.end() && it->id() == shard ? &*it : nullptr;
}

bool Directory::HasReplica(uint64_t shard, uint64_t node) const {
  const kvpb::DirectoryShard* s = Find(shard);
  return s != nullptr &&
         std::find(s->replicas().begin(), s->replicas().end(), node) != s->replicas().end();
}

std::shared_ptr<const Directory> BuildDirectory(kvpb::DirectoryRecord record,
                                                const Directory* previous, std::string* error) {
  std::sort(record.mutable_shards()->begin(), record.mutable_shards()->end(),
            [](const auto& a, const auto& b) { return a.id() < b.id(); });
  std::vector<uint64_t> ids;
  for (const auto& s : record.shards()) ids.push_back(s.id());
  auto dir = std::make_shared<Directory>();
  const int vnodes = static_cast<int>(record.vnodes_per_shard());
  if (previous != nullptr && previous->ring != nullptr && previous->ring->shards() == ids &&
      previous->ring->vnodes_per_shard() == vnodes) {
    dir->ring = previous->ring;
  } else {
    std::optional<Ring> ring = Ring::Build(ids, vnodes, error);
    if (!ring) return nullptr;
    dir->ring = std::make_shared<const Ring>(std::move(*ring));
  }
  dir->record = std::move(record);
  return dir;
}

std::vector<uint64_t> MetaVoters(std::vector<uint64_t> nodes) {
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  if (nodes.size() > kMaxMetaVoters) nodes.resize(kMaxMetaVoters);
  return nodes;
}

kvpb::DirectoryRecord InitialDirectory(const std::vector<uint64_t>& nodes,
                                       const std::vector<uint64_t>& shards, int replication,
                                       int vnodes_per_shard) {
  kvpb::DirectoryRecord d;
  d.set_vnodes_per_shard(static_cast<uint32_t>(vnodes_per_shard));
  const std::vector<ShardPlacement> placement = PlaceShards(nodes, shards, replication);
  d.set_replication(placement.empty() ? 0 : static_cast<uint32_t>(placement[0].replicas.size()));
  for (uint64_t v : MetaVoters(nodes)) d.add_meta_voters(v);
  for (const ShardPlacement& p : placement) {
    kvpb::DirectoryShard* s = d.add_shards();
    s->set_id(p.shard);
    for (uint64_t n : p.replicas) s->add_replicas(n);
  }
  std::sort(d.mutable_shards()->begin(), d.mutable_shards()->end(),
            [](const auto& a, const auto& b) { return a.id() < b.id(); });
  return d;
}

}  // namespace kvd::kv
