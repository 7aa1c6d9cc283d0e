#include "rpc/client_json.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <initializer_list>

namespace kvd::rpc {
namespace {

namespace json = boost::json;

std::optional<uint64_t> AsU64(const json::value& v) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<uint64_t>(v.get_int64());
  if (v.is_double() && v.get_double() >= 0) return static_cast<uint64_t>(v.get_double());
  if (v.is_string()) {
    const json::string& s = v.get_string();
    uint64_t out = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      out = out * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!s.empty()) return out;
  }
  return std::nullopt;
}

// The first of `names` present in `o`, or nullptr.
const json::value* Field(const json::object& o, std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    if (const json::value* v = o.if_contains(name)) return v;
  }
  return nullptr;
}

std::optional<uint64_t> U64(const json::object& o, std::initializer_list<std::string_view> names) {
  const json::value* v = Field(o, names);
  if (v == nullptr) return std::nullopt;
  if (v->is_object()) return U64(v->get_object(), {"id"});  // {"leader": {"id": 2, ...}}
  return AsU64(*v);
}

std::vector<uint64_t> Ids(const json::object& o, std::string_view name) {
  std::vector<uint64_t> out;
  if (const json::value* a = o.if_contains(name); a != nullptr && a->is_array()) {
    for (const json::value& v : a->get_array()) {
      std::optional<uint64_t> id =
          v.is_object() ? U64(v.get_object(), {"id", "node_id"}) : AsU64(v);
      if (id) out.push_back(*id);
    }
  }
  return out;
}

double Double(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return 0;
  if (v->is_double()) return v->get_double();
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  return 0;
}

std::string Str(const json::object& o, std::initializer_list<std::string_view> names) {
  const json::value* v = Field(o, names);
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->get_string());
}

std::optional<json::value> Parse(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return std::nullopt;
  return v;
}

// "value" as text, or "value_base64" decoded.
bool Bytes(const json::object& o, std::string_view name, std::string& out, bool* was_base64) {
  if (const json::value* v = o.if_contains(name); v != nullptr && v->is_string()) {
    out = std::string(v->get_string());
    return true;
  }
  std::string b64 = std::string(name) + "_base64";
  if (const json::value* v = o.if_contains(b64); v != nullptr && v->is_string()) {
    if (was_base64 != nullptr) *was_base64 = true;
    return Base64Decode(std::string_view(v->get_string()), out);
  }
  return false;
}

NodeStatus ParseNode(const json::object& o) {
  NodeStatus n;
  n.id = U64(o, {"id", "node_id"}).value_or(0);
  n.http_address = Str(o, {"http_address", "http_addr", "http"});
  n.peer_address = Str(o, {"peer_address", "peer_addr", "peer", "address"});
  if (const json::value* a = o.if_contains("addresses"); a != nullptr && a->is_object()) {
    if (n.http_address.empty()) n.http_address = Str(a->get_object(), {"http"});
    if (n.peer_address.empty()) n.peer_address = Str(a->get_object(), {"peer", "raft"});
  }
  if (const json::value* up = o.if_contains("up"); up != nullptr && up->is_bool()) {
    n.up = up->get_bool();
  } else {
    n.up = Str(o, {"status", "state"}) == "up";
  }
  return n;
}

ShardStatus ParseShard(const json::object& o) {
  ShardStatus s;
  s.id = U64(o, {"id", "shard_id", "shard"}).value_or(0);
  s.leader = U64(o, {"leader", "leader_id"}).value_or(0);
  s.term = U64(o, {"term"}).value_or(0);
  s.commit_index = U64(o, {"commit_index", "commit", "committed"}).value_or(0);
  s.applied_index = U64(o, {"applied_index", "applied"}).value_or(0);
  s.role = Str(o, {"role"});
  s.replicas = Ids(o, "replicas");
  return s;
}

DirectoryShard ParseDirectoryShard(const json::object& o) {
  DirectoryShard s;
  s.id = U64(o, {"id"}).value_or(0);
  s.replicas = Ids(o, "replicas");
  s.leader = U64(o, {"leader"}).value_or(0);
  s.leader_term = U64(o, {"leader_term"}).value_or(0);
  s.keys = U64(o, {"keys"}).value_or(0);
  s.hash_share = Double(o, "hash_share");
  return s;
}

// A small count as an int; 0 when absent or out of range.
int SmallInt(const json::object& o, std::string_view name) {
  std::optional<uint64_t> v = U64(o, {name});
  return v && *v <= 1'000'000 ? static_cast<int>(*v) : 0;
}

int64_t I64(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v->get_uint64());
  }
  return 0;
}

std::optional<LockHolder> ParseHolder(const json::object& o) {
  const json::value* h = o.if_contains("holder");
  if (h == nullptr || !h->is_object()) return std::nullopt;
  const json::object& ho = h->get_object();
  LockHolder holder;
  holder.owner = Str(ho, {"owner"});
  holder.token = U64(ho, {"token"}).value_or(0);
  holder.ttl_ms = I64(ho, "ttl_ms");
  holder.expires_in_ms = I64(ho, "expires_in_ms");
  return holder;
}

bool ParseLockInfo(const json::object& o, LockInfo& info) {
  if (!Bytes(o, "name", info.name, nullptr)) return false;
  info.shard = U64(o, {"shard"}).value_or(0);
  info.last_token = U64(o, {"last_token"}).value_or(0);
  info.holder = ParseHolder(o);
  if (const json::value* w = o.if_contains("waiters"); w != nullptr && w->is_array()) {
    for (const json::value& v : w->get_array()) {
      if (!v.is_object()) continue;
      const json::object& wo = v.get_object();
      info.waiters.push_back({Str(wo, {"owner"}), I64(wo, "ttl_ms"), I64(wo, "wait_left_ms")});
    }
  }
  return true;
}

}  // namespace

void ApplyLockBody(std::string_view body, LockResult& r) {
  std::optional<json::value> v = Parse(body);
  if (!v || !v->is_object()) return;
  const json::object& o = v->get_object();
  r.token = U64(o, {"token"}).value_or(r.token);
  if (o.contains("ttl_ms")) r.ttl_ms = I64(o, "ttl_ms");
  if (const json::value* rel = o.if_contains("released"); rel != nullptr && rel->is_bool()) {
    r.released = rel->get_bool();
  }
  r.holder = ParseHolder(o);
  if (const json::value* e = o.if_contains("error"); !r.holder && e != nullptr && e->is_object()) {
    r.holder = ParseHolder(e->get_object());
  }
}

bool ParseLockInfoBody(std::string_view body, LockInfoResult& r) {
  std::optional<json::value> v = Parse(body);
  if (!v || !v->is_object()) return false;
  return ParseLockInfo(v->get_object(), r.lock);
}

bool ParseLockListBody(std::string_view body, LockListResult& r) {
  std::optional<json::value> v = Parse(body);
  if (!v || !v->is_object()) return false;
  const json::object& o = v->get_object();
  const json::value* locks = o.if_contains("locks");
  if (locks == nullptr || !locks->is_array()) return false;
  for (const json::value& item : locks->get_array()) {
    LockInfo info;
    if (!item.is_object() || !ParseLockInfo(item.get_object(), info)) return false;
    r.locks.push_back(std::move(info));
  }
  if (const json::value* more = o.if_contains("more"); more != nullptr && more->is_bool()) {
    r.more = more->get_bool();
  }
  if (!Bytes(o, "next_after", r.next_after, nullptr) && r.more && !r.locks.empty()) {
    r.next_after = r.locks.back().name;  // a server that does not say
  }
  return true;
}

std::string AcquireRequestJson(std::string_view owner, int64_t ttl_ms, int64_t wait_ms) {
  return json::serialize(json::object{{"owner", json::string_view(owner.data(), owner.size())},
                                      {"ttl_ms", ttl_ms},
                                      {"wait_ms", wait_ms}});
}

void ApplyJsonBody(std::string_view body, Result& r) {
  std::optional<json::value> v = Parse(body);
  if (!v || !v->is_object()) return;
  const json::object& o = v->get_object();
  const json::value* ind = o.if_contains("indeterminate");
  if (const json::value* e = o.if_contains("error"); e != nullptr && e->is_object()) {
    const json::object& error = e->get_object();
    r.error_code = Str(error, {"code"});
    r.error_message = Str(error, {"message"});
    if (!r.current_version) r.current_version = U64(error, {"current_version"});
    if (ind == nullptr) ind = error.if_contains("indeterminate");
  } else if (e != nullptr && e->is_string()) {
    r.error_message = std::string(e->get_string());
  }
  if (!r.current_version) r.current_version = U64(o, {"current_version"});
  // A 504 body may say a read was not "indeterminate"; without a body a 504 stays unknown.
  if (ind != nullptr && ind->is_bool() && r.status == 504) r.indeterminate = ind->get_bool();
  if (!r.version) r.version = U64(o, {"version"});
  if (!r.revision) r.revision = U64(o, {"revision"});
  if (const json::value* d = o.if_contains("deleted"); d != nullptr && d->is_bool()) {
    r.deleted = d->get_bool();
  }
}

bool ParseScanBody(std::string_view body, ScanResult& r) {
  std::optional<json::value> v = Parse(body);
  if (!v || !v->is_object()) return false;
  const json::object& o = v->get_object();
  const json::value* items = o.if_contains("items");
  if (items == nullptr || !items->is_array()) return false;
  for (const json::value& item : items->get_array()) {
    if (!item.is_object()) return false;
    const json::object& io = item.get_object();
    ScanItem s;
    if (!Bytes(io, "key", s.key, nullptr)) return false;
    if (!Bytes(io, "value", s.value, &s.value_was_base64)) return false;
    s.version = U64(io, {"version"}).value_or(0);
    s.revision = U64(io, {"revision"}).value_or(0);
    r.items.push_back(std::move(s));
  }
  if (const json::value* more = o.if_contains("more"); more != nullptr && more->is_bool()) {
    r.more = more->get_bool();
  }
  return true;
}

bool ParseClusterBody(std::string_view body, ClusterStatusResult& r) {
  std::optional<json::value> v = Parse(body);
  if (!v || !v->is_object()) return false;
  const json::object& o = v->get_object();
  r.node_id = U64(o, {"node_id", "node", "self"}).value_or(0);
  r.directory_version = U64(o, {"directory_version", "directory"}).value_or(0);
  if (const json::value* dir = o.if_contains("directory"); dir != nullptr && dir->is_object()) {
    r.directory_version = U64(dir->get_object(), {"version"}).value_or(r.directory_version);
  }
  if (const json::value* nodes = o.if_contains("nodes"); nodes != nullptr && nodes->is_array()) {
    for (const json::value& n : nodes->get_array()) {
      if (n.is_object()) r.nodes.push_back(ParseNode(n.get_object()));
    }
  }
  if (const json::value* shards = o.if_contains("shards");
      shards != nullptr && shards->is_array()) {
    for (const json::value& s : shards->get_array()) {
      if (s.is_object()) r.shards.push_back(ParseShard(s.get_object()));
    }
  }
  return true;
}

bool ParseDirectoryBody(std::string_view body, DirectoryResult& r) {
  std::optional<json::value> v = Parse(body);
  if (!v || !v->is_object()) return false;
  const json::object& o = v->get_object();
  std::optional<uint64_t> version = U64(o, {"version"});
  const json::value* shards = o.if_contains("shards");
  if (!version || shards == nullptr || !shards->is_array()) return false;
  r.version = *version;
  r.vnodes_per_shard = SmallInt(o, "vnodes_per_shard");
  r.replication = SmallInt(o, "replication");
  r.hash = Str(o, {"hash"});
  if (const json::value* meta = o.if_contains("meta"); meta != nullptr && meta->is_object()) {
    r.meta_shard = U64(meta->get_object(), {"shard"}).value_or(0);
    r.meta_voters = Ids(meta->get_object(), "voters");
  }
  if (const json::value* nodes = o.if_contains("nodes"); nodes != nullptr && nodes->is_array()) {
    for (const json::value& n : nodes->get_array()) {
      if (n.is_object()) r.nodes.push_back(ParseNode(n.get_object()));
    }
  }
  for (const json::value& s : shards->get_array()) {
    if (s.is_object()) r.shards.push_back(ParseDirectoryShard(s.get_object()));
  }
  return true;
}

}  // namespace kvd::rpc
