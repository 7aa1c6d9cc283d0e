#include "rpc/http_json.h"

#include <algorithm>
#include <boost/json.hpp>
#include <initializer_list>

namespace kvd::rpc {
namespace json = boost::json;
namespace {

constexpr size_t kMaxMessageBytes = 1024;

std::string SanitizeMessage(std::string_view s) {
  s = s.substr(0, kMaxMessageBytes);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out.push_back('?');
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

void PutBytes(json::object& obj, std::string_view name, std::string_view bytes) {
  if (IsValidUtf8(bytes)) {
    obj[name] = json::string_view(bytes.data(), bytes.size());
  } else {
    obj[std::string(name) + "_base64"] = Base64Encode(bytes);
  }
}

json::object LockHolderJson(const kv::LockHolder& h) {
  return json::object{{"owner", SanitizeMessage(h.owner)},
                      {"token", h.token},
                      {"ttl_ms", h.ttl_ms},
                      {"expires_in_ms", h.expires_in_ms}};
}

json::object LockInfoObject(const kv::LockInfo& info) {
  json::object o;
  PutBytes(o, "name", info.name);
  o["shard"] = info.shard;
  o["last_token"] = info.last_token;
  if (info.holder) {
    o["holder"] = LockHolderJson(*info.holder);
  } else {
    o["holder"] = nullptr;
  }
  json::array waiters;
  for (const kv::LockWaiter& w : info.waiters) {
    waiters.push_back(json::object{{"owner", SanitizeMessage(w.owner)},
                                   {"ttl_ms", w.ttl_ms},
                                   {"wait_left_ms", w.wait_left_ms}});
  }
  o["waiters"] = std::move(waiters);
  return o;
}

}  // namespace

std::string ErrorJson(std::string_view code, std::string_view message,
                      const ErrorDetails& details) {
  json::object error;
  error["code"] = json::string_view(code.data(), code.size());
  error["message"] = SanitizeMessage(message);
  json::object body;
  auto add = [&](std::string_view name, json::value v) {
    error[name] = v;
    body[name] = std::move(v);
  };
  if (details.current_version) add("current_version", *details.current_version);
  if (details.indeterminate) add("indeterminate", *details.indeterminate);
  if (details.holder) add("holder", LockHolderJson(*details.holder));
  body["error"] = std::move(error);
  return json::serialize(body);
}

std::string PutResultJson(uint64_t version, uint64_t revision) {
  return json::serialize(json::object{{"version", version}, {"revision", revision}});
}

std::string DeleteResultJson(bool deleted, uint64_t revision) {
  return json::serialize(json::object{{"deleted", deleted}, {"revision", revision}});
}

std::string LockResultJson(uint64_t token, int64_t ttl_ms, uint64_t revision) {
  return json::serialize(
      json::object{{"token", token}, {"ttl_ms", ttl_ms}, {"revision", revision}});
}

std::string ReleaseResultJson(uint64_t revision) {
  return json::serialize(json::object{{"released", true}, {"revision", revision}});
}

std::string LockInfoJson(const kv::LockInfo& info) { return json::serialize(LockInfoObject(info)); }

std::string LockListJson(const kv::LockListResponse& list, size_t max_items) {
  json::array locks;
  for (const kv::LockInfo& info : list.locks) {
    if (locks.size() >= max_items) break;
    locks.push_back(LockInfoObject(info));
  }
  const bool cut = list.locks.size() > locks.size();
  const size_t kept = locks.size();
  json::object body;
  body["locks"] = std::move(locks);
  body["more"] = list.more || cut;
  // Where the next page starts: the last lock kept when the page was cut here, else the node's
  // word (a shard may have looked past the last lock listed, or listed none).
  if (cut && kept > 0) {
    PutBytes(body, "next_after", list.locks[kept - 1].name);
  } else if (list.more && !list.next_after.empty()) {
    PutBytes(body, "next_after", list.next_after);
  }
  return json::serialize(body);
}

namespace {

// The body as a JSON object whose fields are all in 'allowed'; nullptr (and *error) otherwise.
std::optional<json::object> BodyObject(std::string_view body,
                                       std::initializer_list<std::string_view> allowed,
                                       BodyError* error) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec || !v.is_object()) {
    *error = {"bad_json", ec ? "the body is not valid JSON: " + ec.message()
                             : std::string("the body must be a JSON object")};
    return std::nullopt;
  }
  for (const auto& field : v.get_object()) {
    if (std::find(allowed.begin(), allowed.end(), std::string_view(field.key())) == allowed.end()) {
      *error = {"invalid_argument",
                "unknown field in the body: " + SanitizeMessage(field.key()).substr(0, 64)};
      return std::nullopt;
    }
  }
  return std::move(v.get_object());
}

// An integer field in [min, max], or 'fallback' when absent; nullopt (and *error) otherwise.
std::optional<int64_t> IntField(const json::object& o, std::string_view name, int64_t fallback,
                                int64_t min, int64_t max, BodyError* error) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return fallback;
  std::optional<int64_t> n;
  if (v->is_int64()) n = v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    n = static_cast<int64_t>(v->get_uint64());
  }
  if (!n || *n < min || *n > max) {
    *error = {"invalid_argument", std::string(name) + " must be an integer from " +
                                      std::to_string(min) + " to " + std::to_string(max)};
    return std::nullopt;
  }
  return n;
}

}  // namespace

std::optional<AcquireBody> ParseAcquireBody(std::string_view body, BodyError* error) {
  std::optional<json::object> o = BodyObject(body, {"owner", "ttl_ms", "wait_ms"}, error);
  if (!o) return std::nullopt;
  AcquireBody out;
  const json::value* owner = o->if_contains("owner");
  if (owner == nullptr || !owner->is_string() || owner->get_string().empty() ||
      owner->get_string().size() > kMaxLockOwnerBytes) {
    *error = {"invalid_argument",
              "owner must be a string of 1 to " + std::to_string(kMaxLockOwnerBytes) + " bytes"};
    return std::nullopt;
  }
  out.owner = std::string(owner->get_string());
  std::optional<int64_t> ttl =
      IntField(*o, "ttl_ms", kDefaultLockTtlMs, kMinLockTtlMs, kMaxLockTtlMs, error);
  if (!ttl) return std::nullopt;
  std::optional<int64_t> wait = IntField(*o, "wait_ms", 0, 0, kMaxLockWaitMs, error);
  if (!wait) return std::nullopt;
  out.ttl_ms = *ttl;
  out.wait_ms = *wait;
  return out;
}

std::optional<uint64_t> ParseKeepaliveBody(std::string_view body, BodyError* error) {
  std::optional<json::object> o = BodyObject(body, {"token"}, error);
  if (!o) return std::nullopt;
  const json::value* t = o->if_contains("token");
  std::optional<uint64_t> token;
  if (t != nullptr && t->is_uint64()) token = t->get_uint64();
  if (t != nullptr && t->is_int64() && t->get_int64() > 0) {
    token = static_cast<uint64_t>(t->get_int64());
  }
  if (!token || *token == 0) {
    *error = {"invalid_argument", "token must be an integer from 1 to 2^64-1"};
    return std::nullopt;
  }
  return token;
}

std::string StatusJson(std::string_view status) {
  return json::serialize(json::object{{"status", json::string_view(status.data(), status.size())}});
}

std::string ScanJson(const kv::ScanResponse& scan, size_t max_items, size_t max_bytes) {
  json::array items;
  size_t bytes = 0;
  bool cut = false;
  for (const auto& [key, record] : scan.items) {
    if (items.size() >= max_items || (!items.empty() && bytes >= max_bytes)) {
      cut = true;
      break;
    }
    json::object item;
    PutBytes(item, "key", key);
    PutBytes(item, "value", record.value());
    item["version"] = record.version();
    item["revision"] = record.revision();
    items.push_back(std::move(item));
    bytes += key.size() + record.value().size();
  }
  json::object body;
  body["items"] = std::move(items);
  body["more"] = scan.more || cut;
  return json::serialize(body);
}

namespace {

json::array NodesJson(const std::vector<kv::NodeInfo>& nodes) {
  json::array out;
  for (const auto& n : nodes) {
    out.push_back(json::object{{"id", n.id},
                               {"peer_address", SanitizeMessage(n.peer_address)},
                               {"http_address", SanitizeMessage(n.http_address)},
                               {"up", n.up}});
  }
  return out;
}

json::array IdsJson(const std::vector<uint64_t>& ids) {
  json::array out;
  for (uint64_t id : ids) out.push_back(id);
  return out;
}

}  // namespace

std::string ClusterJson(const kv::ClusterStatus& status) {
  json::array nodes = NodesJson(status.nodes);
  json::array shards;
  for (const auto& s : status.shards) {
    shards.push_back(json::object{{"id", s.id},
                                  {"replicas", IdsJson(s.replicas)},
                                  {"leader", s.leader},
                                  {"term", s.term},
                                  {"commit_index", s.commit_index},
                                  {"applied_index", s.applied_index},
                                  {"role", SanitizeMessage(s.role)}});
  }
  return json::serialize(json::object{{"node_id", status.node_id},
                                      {"directory_version", status.directory_version},
                                      {"nodes", std::move(nodes)},
                                      {"shards", std::move(shards)}});
}

std::string DirectoryJson(const kv::DirectoryView& directory) {
  json::array shards;
  for (const auto& s : directory.shards) {
    shards.push_back(json::object{{"id", s.id},
                                  {"replicas", IdsJson(s.replicas)},
                                  {"leader", s.leader},
                                  {"leader_term", s.leader_term},
                                  {"keys", s.keys},
                                  {"hash_share", s.hash_share}});
  }
  return json::serialize(json::object{
      {"version", directory.version},
      {"vnodes_per_shard", directory.vnodes_per_shard},
      {"replication", directory.replication},
      {"hash", "xxh3-64"},
      {"meta",
       json::object{{"shard", directory.meta_shard}, {"voters", IdsJson(directory.meta_voters)}}},
      {"nodes", NodesJson(directory.nodes)},
      {"shards", std::move(shards)}});
}

}  // namespace kvd::rpc
