// JSON bodies of the HTTP API (docs/api.md), built with Boost.JSON behind plain-string functions so
// that only http_json.cc compiles Boost.JSON.
//
// Strings in JSON must be UTF-8. Keys and values are arbitrary bytes, so a scan item carries
// "key"/"value" when the bytes are valid UTF-8 and "key_base64"/"value_base64" (RFC 4648 base64,
// with padding) otherwise. Error messages are sanitised (invalid bytes become '?').
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kv/service.h"
#include "rpc/text_codec.h"  // IsValidUtf8, Base64Encode

namespace kvd::rpc {

// Extra fields of an error body. Each set field appears both inside "error" and at the top level,
// so that clients reading either body.current_version or body.error.current_version find it.
struct ErrorDetails {
  std::optional<uint64_t> current_version;  // 412 version_mismatch
  std::optional<bool> indeterminate;        // 504 timeout: whether a write may have been applied
  std::optional<kv::LockHolder> holder;     // 409 lock_held: {"owner", "token", "ttl_ms",
                                            // "expires_in_ms"}
};

// {"error": {"code": code, "message": message, ...details}, ...details}
std::string ErrorJson(std::string_view code, std::string_view message, const ErrorDetails& details);

std::string PutResultJson(uint64_t version, uint64_t revision);  // {"version", "revision"}
std::string DeleteResultJson(bool deleted, uint64_t revision);   // {"deleted", "revision"}
std::string StatusJson(std::string_view status);                 // {"status": status}

// {"items": [{"key"|"key_base64", "value"|"value_base64", "version", "revision"}], "more"}.
// Takes at most max_items items; stops early once the keys and values taken reach max_bytes
// (always taking at least one). "more" is true if the service said so or items were left out.
std::string ScanJson(const kv::ScanResponse& scan, size_t max_items, size_t max_bytes);

// {"node_id", "directory_version", "nodes": [{"id", "peer_address", "http_address", "up"}],
//  "shards": [{"id", "replicas", "leader", "term", "commit_index", "applied_index", "role"}]}
std::string ClusterJson(const kv::ClusterStatus& status);

// ---- Locks (docs/api.md, "Locks") ----

inline constexpr size_t kMaxLockBodyBytes = 64 << 10;
inline constexpr size_t kMaxLockOwnerBytes = 256;
inline constexpr int64_t kDefaultLockTtlMs = 10'000;
inline constexpr int64_t kMinLockTtlMs = 100;
inline constexpr int64_t kMaxLockTtlMs = 3'600'000;
inline constexpr int64_t kMaxLockWaitMs = 300'000;

std::string LockResultJson(uint64_t token, int64_t ttl_ms, uint64_t revision);
std::string ReleaseResultJson(uint64_t revision);  // {"released": true, "revision"}
// {"name"|"name_base64", "shard", "last_token", "holder": {"owner", "token", "ttl_ms",
//  "expires_in_ms"} or null, "waiters": [{"owner", "ttl_ms", "wait_left_ms"}]}
std::string LockInfoJson(const kv::LockInfo& info);
// {"locks": [LockInfoJson...], "more", "next_after"|"next_after_base64"}; at most max_items locks
// ("more" if some were left out). next_after, only with more: list again with after = it.
std::string LockListJson(const kv::LockListResponse& list, size_t max_items);

// Why a request body was refused: code "bad_json" (not JSON, or not an object) or
// "invalid_argument" (a field missing, unknown, of the wrong type or out of range).
struct BodyError {
  std::string code;
  std::string message;
};

struct AcquireBody {
  std::string owner;                   // required, 1..kMaxLockOwnerBytes
  int64_t ttl_ms = kDefaultLockTtlMs;  // kMinLockTtlMs..kMaxLockTtlMs
  int64_t wait_ms = 0;                 // 0..kMaxLockWaitMs
};
// {"owner": O, "ttl_ms": L, "wait_ms": W}; integers only; unknown fields refused.
std::optional<AcquireBody> ParseAcquireBody(std::string_view body, BodyError* error);
// {"token": T}, T >= 1; unknown fields refused.
std::optional<uint64_t> ParseKeepaliveBody(std::string_view body, BodyError* error);

// GET /v1/directory (docs/api.md, Directory and routing): {"version", "vnodes_per_shard",
// "replication", "hash": "xxh3-64", "meta": {"shard", "voters"}, "nodes": [{"id", "http_address",
// "peer_address", "up"}], "shards": [{"id", "replicas", "leader", "leader_term", "keys",
// "hash_share"}]}
std::string DirectoryJson(const kv::DirectoryView& directory);

}  // namespace kvd::rpc
