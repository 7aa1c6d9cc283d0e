// JSON bodies of the kvd API as the client reads them (private to rpc/). Tolerant: unknown fields
// are ignored, missing ones stay default; each parser returns false only when the body is not the
// expected JSON shape at all. Never throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// ---- Transactions (client_json_txn.cc) ----

// The POST /v1/txn body {"compare", "success", "failure"} (values that are not UTF-8 as
// "value_base64"); nullopt with the reason in *error if a key is not UTF-8 (the API has no way
// to name it).
std::optional<std::string> TxnRequestJson(const TxnRequest& txn, std::string* error);
// The keys a POST /v1/txn body names (compares, then success, then failure ops), in order, with
// repeats; whatever cannot be read is skipped (the server judges the body).
std::vector<std::string> TxnBodyKeys(std::string_view body);
// A 200's {"succeeded", "revision", "shards", "txn_id", "results": [...]}; false when
// "succeeded" or "results" is missing or a result is not {"put"|"delete"|"get": {...}}.
bool ParseTxnAnswer(std::string_view body, TxnResult& result);
// GET /v1/txns: {"txns": [{"id", "state", "age_ms", "expires_in_ms", "record_shard",
// "participants"}], "more"}. False when "txns" is missing.
bool ParseTxnListBody(std::string_view body, TxnListResult& result);

}  // namespace kvd::rpc
