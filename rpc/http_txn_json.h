// JSON bodies of the transaction routes (docs/api.md, "Transactions"): the POST /v1/txn request
// body, its answer, and the GET /v1/txns listing. Boost.JSON stays inside http_txn_json.cc.
//
// ParseTxnBody enforces every bound the HTTP layer owns, so the node sees only requests it can
// take (kv/service.h repeats the counts):
//   - not JSON, or not a JSON object                     400 bad_json
//   - an unknown field anywhere, a field of the wrong type or missing, a compare without exactly
//     one of version/value/value_base64/exists, an op that is not one of put/delete/get with
//     exactly its fields, an empty key, bad base64, a number that is not an integer in range
//                                                        400 invalid_argument
//   - more than kMaxTxnCompares compares or kMaxTxnOps ops in a branch, more than kMaxTxnKeys
//     distinct keys over the compares and both branches  400 invalid_argument
//   - a key over max_key_bytes, a put value over max_value_bytes (the PUT value limit), keys and
//     values together over max_bytes (every key and value as written in the body, decoded)
//                                                        413 too_large
// (The body itself is bounded by HttpOptions::max_txn_body_bytes, 8 MiB, before it is read.)
//
// Keys are JSON strings (so UTF-8); values are "value" strings or "value_base64" (RFC 4648, with
// or without padding). Answers name each key as "key", or "key_base64" if it is not UTF-8, and
// each value as "value" or "value_base64", as scans do.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "kv/service.h"

namespace kvd::rpc {

inline constexpr size_t kDefaultTxnListLimit = 100;
inline constexpr size_t kMaxTxnListLimit = 1000;

struct TxnBodyLimits {
  size_t max_key_bytes = 4096;
  size_t max_value_bytes = 1 << 20;
  size_t max_bytes = kv::kMaxTxnBytes;  // keys and values together
  size_t max_compares = kv::kMaxTxnCompares;
  size_t max_ops = kv::kMaxTxnOps;  // per branch
  size_t max_keys = kv::kMaxTxnKeys;
};

// Why a transaction body was refused: the HTTP status (400 or 413) and the API error code.
struct TxnBodyError {
  int status = 400;
  std::string code;
  std::string message;
};

// The body's compares and branches (fence, idempotency and directory version are left to the
// caller); nullopt with *error filled when refused.
std::optional<kv::TxnRequest> ParseTxnBody(std::string_view body, const TxnBodyLimits& limits,
                                           TxnBodyError* error);

// {"succeeded", "revision", "shards": [...], "txn_id" (only when set), "results": [{"put": {"key",
// "version"}} | {"delete": {"key", "deleted"}} | {"get": {"key", "found", "value"|"value_base64",
// "version"}}]} (a get's value and version only when found).
std::string TxnResultJson(const kv::TxnResponse& txn);

// {"txns": [{"id", "state", "age_ms", "expires_in_ms", "record_shard", "participants"}], "more"};
// at most max_items transactions ("more" also when some were left out).
std::string TxnListJson(const kv::TxnListResponse& list, size_t max_items);

}  // namespace kvd::rpc
