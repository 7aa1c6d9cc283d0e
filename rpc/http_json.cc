#include "rpc/http_json.h"

#include <boost/json.hpp>

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
  body["error"] = std::move(error);
  return json::serialize(body);
}

std::string PutResultJson(uint64_t version, uint64_t revision) {
  return json::serialize(json::object{{"version", version}, {"revision", revision}});
}

std::string DeleteResultJson(bool deleted, uint64_t revision) {
  return json::serialize(json::object{{"deleted", deleted}, {"revision", revision}});
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
