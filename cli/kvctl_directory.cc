// kvctl's directory commands: `ring`, `locate`, and the directory part of `cluster status`. The
// ring is rebuilt here from the directory's shard ids and vnodes_per_shard (kv/ring.h), exactly as
// every node and the client library build it, so what kvctl prints is where keys really go.
#include <cinttypes>
#include <cstdio>
#include <map>
#include <ostream>
#include <set>
#include <vector>

#include "cli/kvctl_commands.h"
#include "kv/ring.h"

namespace kvd::cli {
namespace {

constexpr std::string_view kKnownHash = "xxh3-64";

std::string Hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016" PRIx64, v);
  return buf;
}

std::string Fixed(double v, const char* format) {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string Percent(double fraction) { return Fixed(fraction * 100, "%.2f%%"); }

std::string JsonIds(const std::vector<uint64_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
  return out + "]";
}

std::string LeaderText(uint64_t leader) { return leader == 0 ? "none" : std::to_string(leader); }

struct Loaded {
  rpc::DirectoryResult dir;
  std::optional<kv::Ring> ring;
};

// GET /v1/directory and its ring. On failure prints one line and returns the exit code.
int LoadDirectory(Session& s, Loaded& out) {
  std::ostream& err = s.env.err;
  out.dir = s.client.Directory();
  const rpc::DirectoryResult& d = out.dir;
  if (d.transport == rpc::Transport::kOk && d.status == 503) {
    err << "kvctl: the cluster's directory is not known yet at " << d.endpoint << " ("
        << d.error_code << (d.error_message.empty() ? "" : ": ") << Printable(d.error_message)
        << "); retry later\n";
    return kExitUnavailable;
  }
  if (d.transport == rpc::Transport::kOk && d.status == 404 && d.error_code == "no_route") {
    err << "kvctl: " << d.endpoint << " serves no directory (404 no_route on /v1/directory)\n";
    return kExitError;
  }
  if (!d.ok()) return ReportFailure(s, d, "", /*is_write=*/false);
  if (!d.hash.empty() && d.hash != kKnownHash) {
    err << "kvctl: the directory hashes keys with \"" << Printable(d.hash)
        << "\", which this kvctl does not know (it knows " << kKnownHash << ")\n";
    return kExitError;
  }
  std::vector<uint64_t> ids;
  for (const rpc::DirectoryShard& shard : d.shards) ids.push_back(shard.id);
  std::string why;
  out.ring = kv::Ring::Build(std::move(ids), d.vnodes_per_shard, &why);
  if (!out.ring) {
    err << "kvctl: bad response: directory version " << d.version << " from " << d.endpoint
        << " makes no ring (" << why << ")\n";
    return kExitError;
  }
  return kExitOk;
}

struct ShardRow {
  const rpc::DirectoryShard* shard;
  uint64_t first_point;
  double hash_share;
  std::optional<double> key_share;  // none when the directory counts no keys at all
};

// The shards in ring order (by the position of each one's first point).
std::vector<ShardRow> RingOrder(const Loaded& l) {
  const std::map<uint64_t, double> shares = l.ring->HashShares();
  uint64_t total_keys = 0;
  for (const rpc::DirectoryShard& shard : l.dir.shards) total_keys += shard.keys;
  std::vector<ShardRow> rows;
  std::set<uint64_t> seen;
  for (const kv::Ring::Point& p : l.ring->points()) {
    if (!seen.insert(p.shard).second) continue;
    const rpc::DirectoryShard* shard = l.dir.FindShard(p.shard);
    std::optional<double> key_share;
    if (total_keys > 0) key_share = static_cast<double>(shard->keys) / total_keys;
    rows.push_back({shard, p.position, shares.at(p.shard), key_share});
  }
  return rows;
}

struct Arc {
  uint64_t start;  // inclusive; the first arc wraps past 2^64-1 (start > end)
  uint64_t end;    // inclusive: the point's position
  uint64_t shard;
};

// Each point owns the hashes after the previous point up to its own position. A point at the same
// position as the one before it owns nothing (kv/ring.h, ties) and has no arc.
std::vector<Arc> Arcs(const kv::Ring& ring) {
  const std::vector<kv::Ring::Point>& points = ring.points();
  std::vector<Arc> arcs;
  for (size_t i = 0; i < points.size(); ++i) {
    const uint64_t previous = points[i == 0 ? points.size() - 1 : i - 1].position;
    if (i > 0 && previous == points[i].position) continue;
    arcs.push_back({previous + 1, points[i].position, points[i].shard});
  }
  return arcs;
}

}  // namespace

int RunRing(Session& s, const RingCommand& cmd) {
  Loaded l;
  if (int code = LoadDirectory(s, l); code != kExitOk) return code;
  const std::vector<ShardRow> rows = RingOrder(l);
  const double n = static_cast<double>(rows.size());
  double max_hash = 0, max_keys = 0;
  for (const ShardRow& row : rows) {
    max_hash = std::max(max_hash, row.hash_share);
    if (row.key_share) max_keys = std::max(max_keys, *row.key_share);
  }
  const bool counted = !rows.empty() && rows.front().key_share.has_value();
  std::vector<Arc> arcs;
  if (cmd.points) arcs = Arcs(*l.ring);
  const size_t shown = cmd.max_points == 0 ? arcs.size() : std::min(arcs.size(), cmd.max_points);
  std::ostream& out = s.env.out;

  if (s.format == Format::kJson) {
    out << "{\"version\": " << l.dir.version << ", \"vnodes_per_shard\": " << l.dir.vnodes_per_shard
        << ", \"shards\": [";
    for (size_t i = 0; i < rows.size(); ++i) {
      const ShardRow& row = rows[i];
      out << (i ? ",\n  " : "\n  ") << "{\"id\": " << row.shard->id << ", \"first_point\": \""
          << Hex64(row.first_point) << "\", \"hash_share\": " << Fixed(row.hash_share, "%.6f")
          << ", \"keys\": " << row.shard->keys
          << ", \"key_share\": " << (row.key_share ? Fixed(*row.key_share, "%.6f") : "null")
          << ", \"leader\": " << row.shard->leader
          << ", \"replicas\": " << JsonIds(row.shard->replicas) << "}";
    }
    out << "\n], \"imbalance\": {\"hash_share\": " << Fixed(max_hash * n, "%.4f")
        << ", \"keys\": " << (counted ? Fixed(max_keys * n, "%.4f") : "null") << "}";
    if (cmd.points) {
      out << ", \"arcs\": [";
      for (size_t i = 0; i < shown; ++i) {
        out << (i ? ",\n  " : "\n  ") << "{\"start\": \"" << Hex64(arcs[i].start)
            << "\", \"end\": \"" << Hex64(arcs[i].end) << "\", \"shard\": " << arcs[i].shard << "}";
      }
      out << (shown ? "\n]" : "]") << ", \"arcs_total\": " << arcs.size();
    }
    out << "}\n";
    return kExitOk;
  }

  std::vector<std::vector<std::string>> table = {
      {"SHARD", "FIRST POINT", "HASH SHARE", "KEYS", "KEY SHARE", "LEADER", "REPLICAS (*leader)"}};
  for (const ShardRow& row : rows) {
    const uint64_t leader = row.shard->leader;
    table.push_back(
        {std::to_string(row.shard->id), Hex64(row.first_point), Percent(row.hash_share),
         std::to_string(row.shard->keys), row.key_share ? Percent(*row.key_share) : "-",
         LeaderText(leader),
         JoinIds(row.shard->replicas, leader == 0 ? std::nullopt : std::optional(leader))});
  }
  PrintTable(out, table);
  out << rows.size() << " shards x " << l.dir.vnodes_per_shard
      << " vnodes = " << l.ring->points().size() << " points; imbalance (max/mean): hash share "
      << Fixed(max_hash * n, "%.2f") << ", keys " << (counted ? Fixed(max_keys * n, "%.2f") : "-")
      << "; directory version " << l.dir.version << "\n";
  if (cmd.points) {
    std::vector<std::vector<std::string>> arc_table = {{"START", "END", "SHARD"}};
    for (size_t i = 0; i < shown; ++i) {
      arc_table.push_back(
          {Hex64(arcs[i].start), Hex64(arcs[i].end), std::to_string(arcs[i].shard)});
    }
    out << "\n";
    PrintTable(out, arc_table);
    if (shown < arcs.size()) {
      out << "(first " << shown << " of " << arcs.size() << " arcs; --max-points 0 lists all)\n";
    }
  }
  return kExitOk;
}

int RunLocate(Session& s, const std::string& key) {
  Loaded l;
  if (int code = LoadDirectory(s, l); code != kExitOk) return code;
  const std::string_view part = kv::HashPart(key);
  const bool tagged = part.size() != key.size();
  const uint64_t hash = kv::HashKey(key);
  const rpc::DirectoryShard* shard = l.dir.FindShard(l.ring->ShardForHash(hash));
  const rpc::NodeStatus* leader = l.dir.FindNode(shard->leader);
  const std::string address = leader == nullptr ? "" : leader->http_address;
  std::ostream& out = s.env.out;
  if (s.format == Format::kJson) {
    out << "{" << JsonBytesMember("key", key) << ", " << JsonBytesMember("hash_part", part)
        << ", \"hash\": \"" << Hex64(hash) << "\", \"shard\": " << shard->id
        << ", \"replicas\": " << JsonIds(shard->replicas) << ", \"leader\": " << shard->leader
        << ", " << JsonBytesMember("leader_http_address", address)
        << ", \"directory_version\": " << l.dir.version << "}\n";
    return kExitOk;
  }
  std::string leader_text = LeaderText(shard->leader);
  if (shard->leader != 0)
    leader_text += " (" + (address.empty() ? "address unknown" : address) + ")";
  const uint64_t marked = shard->leader;
  PrintTable(out, {{"key:", Printable(key)},
                   {"hash part:", Printable(part) + (tagged ? " ({tag})" : " (whole key)")},
                   {"hash:", Hex64(hash)},
                   {"shard:", std::to_string(shard->id)},
                   {"replicas:",
                    JoinIds(shard->replicas, marked == 0 ? std::nullopt : std::optional(marked))},
                   {"leader:", leader_text},
                   {"directory:", "version " + std::to_string(l.dir.version)}});
  return kExitOk;
}

void PrintDirectoryShards(Session& s, const rpc::ClusterStatusResult& r) {
  std::ostream& out = s.env.out;
  rpc::DirectoryResult d = s.client.Directory();
  out << "\n";
  if (!d.ok()) {
    std::string why = d.transport != rpc::Transport::kOk ? d.transport_error
                      : d.status == 503                  ? std::string("not known yet")
                                        : std::to_string(d.status) + " " + d.error_code;
    out << "directory: unavailable (" << Printable(why) << ")\n";
    return;
  }
  out << "directory version " << d.version << ": " << d.shards.size() << " shards, "
      << d.vnodes_per_shard << " vnodes per shard, replication " << d.replication
      << "; TERM as node " << r.node_id << " knows it\n";
  std::vector<std::vector<std::string>> table = {
      {"SHARD", "LEADER", "TERM", "KEYS", "REPLICAS (*leader)"}};
  for (const rpc::DirectoryShard& shard : d.shards) {
    std::string term = "-";
    for (const rpc::ShardStatus& own : r.shards) {
      if (own.id == shard.id) term = std::to_string(own.term);
    }
    const uint64_t leader = shard.leader;
    table.push_back({std::to_string(shard.id), LeaderText(leader), term, std::to_string(shard.keys),
                     JoinIds(shard.replicas, leader == 0 ? std::nullopt : std::optional(leader))});
  }
  PrintTable(out, table);
}

}  // namespace kvd::cli
