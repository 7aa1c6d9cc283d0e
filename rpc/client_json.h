// JSON bodies of the kvd API as the client reads them (private to rpc/). Tolerant: unknown fields
// are ignored, missing ones stay default; each parser returns false only when the body is not the
// expected JSON shape at all. Never throws.
#pragma once

#include <string>
#include <string_view>

#include "rpc/http_client.h"
#include "rpc/text_codec.h"  // Base64Decode

namespace kvd::rpc {

// Error bodies ({"error": {"code", "message"}, "current_version", "indeterminate"}) and write
// answers ({"version", "revision"}, {"deleted", "revision"}); fills only fields still unset.
void ApplyJsonBody(std::string_view body, Result& result);
// {"items": [{"key"|"key_base64", "value"|"value_base64", "version", "revision"}], "more": bool}
bool ParseScanBody(std::string_view body, ScanResult& result);
// GET /v1/cluster: nodes, shards, node id, directory version (several spellings accepted).
bool ParseClusterBody(std::string_view body, ClusterStatusResult& result);
// GET /v1/directory: {"version", "vnodes_per_shard", "replication", "hash", "meta": {"shard",
// "voters"}, "nodes": [...], "shards": [{"id", "replicas", "leader", "leader_term", "keys",
// "hash_share"}]}. False also when "version" or the "shards" array is missing.
bool ParseDirectoryBody(std::string_view body, DirectoryResult& result);

}  // namespace kvd::rpc
