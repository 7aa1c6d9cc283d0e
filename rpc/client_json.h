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

// Lock answers: {"token", "ttl_ms", "revision"}, {"released", "revision"}, and a 409 lock_held's
// "holder" (top level or inside "error"); fills only what is present.
void ApplyLockBody(std::string_view body, LockResult& result);
// GET /v1/locks/{name}: {"name"|"name_base64", "shard", "last_token", "holder", "waiters"}.
bool ParseLockInfoBody(std::string_view body, LockInfoResult& result);
// GET /v1/locks: {"locks": [...], "more", "next_after"}. False also when "locks" is missing.
bool ParseLockListBody(std::string_view body, LockListResult& result);
// The acquire request body {"owner", "ttl_ms", "wait_ms"} (owner escaped as JSON).
std::string AcquireRequestJson(std::string_view owner, int64_t ttl_ms, int64_t wait_ms);

}  // namespace kvd::rpc
