// kvctl command bodies: one HttpClient call (or a page loop for scan), then output and exit code.
#include "cli/kvctl_commands.h"

#include <algorithm>
#include <ostream>
#include <vector>

namespace kvd::cli {
namespace {

using rpc::Result;
using rpc::Transport;

constexpr size_t kMaxScanPage = 1000;  // the server's default max_scan_limit

std::string Quoted(std::string_view key) { return "\"" + Printable(key) + "\""; }

std::string Num(const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : "null"; }

// "code: message" from the API error body, whichever parts exist.
std::string Detail(const Result& r) {
  std::string d = r.error_code;
  if (!r.error_message.empty()) d += (d.empty() ? "" : ": ") + Printable(r.error_message);
  return d.empty() ? "no details" : d;
}

}  // namespace

int ReportFailure(Session& s, const Result& r, std::string_view key, bool is_write) {
  std::ostream& err = s.env.err;
  const std::string what = key.empty() ? std::string() : " on " + Quoted(key);
  if (is_write && r.indeterminate && r.transport != Transport::kTimeout && r.status != 504) {
    // An earlier attempt's outcome was unknown; the last answer (a refusal, or no endpoint) speaks
    // only for itself (rpc/http_client.h).
    err << "kvctl: outcome unknown" << what << ": an attempt got no answer, then "
        << (r.transport == Transport::kOk ? std::to_string(r.status) + " (" + Detail(r) + ")"
                                          : r.transport_error)
        << "; the write may or may not have been applied\n";
    return kExitUnknownOutcome;
  }
  switch (r.transport) {
    case Transport::kConnectFailed:
      err << "kvctl: cannot reach any endpoint (" << r.transport_error
          << "); set --endpoints or KVCTL_ENDPOINTS\n";
      return kExitUnavailable;
    case Transport::kTimeout:
      if (is_write) {
        err << "kvctl: outcome unknown" << what << ": " << r.transport_error
            << "; the write may or may not have been applied (read the key to check, or retry "
               "with the same --idempotency-key)\n";
      } else {
        err << "kvctl: no answer" << what << ": " << r.transport_error
            << "; retry or raise --timeout\n";
      }
      return kExitUnknownOutcome;
    case Transport::kProtocolError:
      err << "kvctl: bad response: " << r.transport_error << "\n";
      return kExitError;
    case Transport::kOk:
      break;
  }
  switch (r.status) {
    case 404:
      err << "kvctl: "
          << (key.empty() ? "not found (" + Detail(r) + ")" : "key " + Quoted(key) + " not found")
          << "\n";
      return kExitNotFound;
    case 412:
      err << "kvctl: version mismatch" << what;
      if (r.current_version) err << " (current version " << *r.current_version << ")";
      err << "; nothing was changed\n";
      return kExitNotFound;
    case 409:
      err << "kvctl: conflict" << what << " (" << Detail(r) << "); nothing was changed\n";
      return kExitNotFound;
    case 429:
    case 503:
      err << "kvctl: cluster unavailable at " << r.endpoint << " (" << Detail(r) << ") after "
          << r.attempts << (r.attempts == 1 ? " attempt" : " attempts")
          << "; nothing was applied, retry later\n";
      return kExitUnavailable;
    case 504:
      if (is_write) {
        err << "kvctl: outcome unknown" << what << ": " << r.endpoint << " answered 504 ("
            << Detail(r) << "); the write may or may not have been applied\n";
      } else {
        err << "kvctl: read timed out" << what << " at " << r.endpoint << " (" << Detail(r)
            << "); retry\n";
      }
      return kExitUnknownOutcome;
    default:
      err << "kvctl: server error " << r.status << " from " << r.endpoint << " (" << Detail(r)
          << ")\n";
      return kExitError;
  }
}

int RunPut(Session& s, const PutCommand& cmd) {
  Result r = s.client.Put(cmd.key, cmd.value, cmd.if_version, cmd.idempotency, cmd.fence);
  if (!r.ok()) return ReportFailure(s, r, cmd.key, /*is_write=*/true);
  if (s.format == Format::kJson) {
    s.env.out << "{" << JsonBytesMember("key", cmd.key) << ", \"version\": " << Num(r.version)
              << ", \"revision\": " << Num(r.revision) << ", \"shard\": " << Num(r.shard) << "}\n";
  } else {
    s.env.out << "OK version=" << Num(r.version) << " revision=" << Num(r.revision) << "\n";
  }
  return kExitOk;
}

int RunGet(Session& s, const std::string& key) {
  Result r = s.client.Get(key, s.stale);
  if (!r.ok()) return ReportFailure(s, r, key, /*is_write=*/false);
  if (s.format == Format::kJson) {
    s.env.out << "{" << JsonBytesMember("key", key) << ", " << JsonBytesMember("value", r.body)
              << ", \"version\": " << Num(r.version) << ", \"revision\": " << Num(r.revision)
              << ", \"shard\": " << Num(r.shard) << "}\n";
  } else {
    s.env.out << r.body;  // the exact bytes, so `kvctl get k > file` round-trips
    if (s.env.out_is_terminal && (r.body.empty() || r.body.back() != '\n')) s.env.out << "\n";
  }
  return kExitOk;
}

int RunDelete(Session& s, const std::string& key, std::optional<uint64_t> if_version,
              std::optional<rpc::IdempotencyKey> idempotency,
              const std::optional<rpc::LockFence>& fence) {
  Result r = s.client.Delete(key, if_version, std::move(idempotency), fence);
  if (!r.ok()) return ReportFailure(s, r, key, /*is_write=*/true);
  if (r.deleted == false) {
    s.env.err << "kvctl: key " << Quoted(key) << " not found (nothing deleted)\n";
    return kExitNotFound;
  }
  if (s.format == Format::kJson) {
    s.env.out << "{" << JsonBytesMember("key", key)
              << ", \"deleted\": true, \"revision\": " << Num(r.revision) << "}\n";
  } else {
    s.env.out << "deleted revision=" << Num(r.revision) << "\n";
  }
  return kExitOk;
}

int RunScan(Session& s, const ScanCommand& cmd) {
  const bool json = s.format == Format::kJson;
  std::ostream& out = s.env.out;
  std::string after = cmd.after;
  size_t printed = 0;
  bool more = true;
  if (json) out << "{\"items\": [";
  while (more && (cmd.limit == 0 || printed < cmd.limit)) {
    size_t page = cmd.limit == 0 ? 0 : std::min(cmd.limit - printed, kMaxScanPage);
    rpc::ScanResult r = s.client.Scan(cmd.prefix, after, page, s.stale);
    if (!r.ok()) return ReportFailure(s, r, "", /*is_write=*/false);  // output stays partial
    if (r.more && (r.items.empty() || r.items.back().key <= after)) {
      s.env.err << "kvctl: bad response: scan page after " << Quoted(after)
                << " made no progress\n";
      return kExitError;
    }
    more = r.more;
    for (size_t i = 0; i < r.items.size(); ++i) {
      if (cmd.limit != 0 && printed == cmd.limit) {
        more = true;
        break;
      }
      const rpc::ScanItem& item = r.items[i];
      if (json) {
        out << (printed == 0 ? "\n  {" : ",\n  {") << JsonBytesMember("key", item.key) << ", "
            << JsonBytesMember("value", item.value) << ", \"version\": " << item.version
            << ", \"revision\": " << item.revision << "}";
      } else {
        out << Printable(item.key) << "\t" << Printable(item.value) << "\n";
      }
      after = item.key;
      ++printed;
    }
  }
  if (json) {
    out << (printed == 0 ? "" : "\n") << "], \"more\": " << (more ? "true" : "false") << "}\n";
  } else if (more) {
    s.env.err << "kvctl: more keys follow; continue with --after " << Quoted(after) << "\n";
  }
  return kExitOk;
}

int RunClusterStatus(Session& s) {
  rpc::ClusterStatusResult r = s.client.ClusterStatus();
  if (!r.ok()) return ReportFailure(s, r, "", /*is_write=*/false);
  std::ostream& out = s.env.out;
  if (s.format == Format::kJson) {
    out << r.body << (r.body.empty() || r.body.back() != '\n' ? "\n" : "");
    return kExitOk;
  }
  out << "node " << r.node_id << " (" << r.endpoint << ") answered; directory version "
      << r.directory_version << "\n\n";
  std::vector<std::vector<std::string>> nodes = {{"NODE", "HTTP", "PEER", "STATUS", "LEADS"}};
  for (const rpc::NodeStatus& n : r.nodes) {
    std::vector<uint64_t> leads;
    for (const rpc::ShardStatus& sh : r.shards) {
      if (sh.leader == n.id && n.id != 0) leads.push_back(sh.id);
    }
    nodes.push_back({std::to_string(n.id), n.http_address.empty() ? "-" : n.http_address,
                     n.peer_address.empty() ? "-" : n.peer_address, n.up ? "up" : "down",
                     JoinIds(leads, std::nullopt)});
  }
  PrintTable(out, nodes);
  out << "\n";
  std::vector<std::vector<std::string>> shards = {
      {"SHARD", "LEADER", "TERM", "COMMIT", "APPLIED", "REPLICAS (*leader)"}};
  for (const rpc::ShardStatus& sh : r.shards) {
    shards.push_back(
        {std::to_string(sh.id), sh.leader == 0 ? "none" : std::to_string(sh.leader),
         std::to_string(sh.term), std::to_string(sh.commit_index), std::to_string(sh.applied_index),
         JoinIds(sh.replicas, sh.leader == 0 ? std::nullopt : std::optional(sh.leader))});
  }
  PrintTable(out, shards);
  PrintDirectoryShards(s, r);
  return kExitOk;
}

}  // namespace kvd::cli
