// Dialect: how one benchmark operation becomes an HTTP request for a target system, and how its
// response is judged.
//
//   kvd  (API v1):  put       PUT  /v1/kv/{key}                    body = value bytes
//                   get       GET  /v1/kv/{key}                    (linearizable, the default)
//                   get-stale GET  /v1/kv/{key}?consistency=stale
//   etcd (3.4 JSON gateway, keys and values base64):
//                   put       POST /v3/kv/put    {"key": k, "value": v}
//                   get       POST /v3/kv/range  {"key": k}        (linearizable, the default)
//                   get-stale POST /v3/kv/range  {"key": k, "serializable": true}
//
// Keys are "bench-<index>" (zero-padded, 10 digits) for index in [0, keys), or, for the
// transaction workloads (tagged), "{bench-<index>}.a", whose {tag} places "{bench-<index>}.b" in
// the same shard (bench/loadgen_txn.h); every value is the same `value_bytes` printable bytes.
// Everything that can be precomputed is, so the per-request client cost is a few string copies.
//
// Threading: immutable after construction; safe to share between threads.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/loadgen_options.h"

namespace kvd::bench {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

class Dialect {
 public:
  Dialect(Target target, uint64_t keys, size_t value_bytes, bool tagged = false);

  Target target() const { return target_; }
  uint64_t keys() const { return keys_; }

  // Fills *req (method, target, body, content headers) for op (put, get or get-stale; the lock
  // operations are bench/loadgen_locks.h's, the transactions bench/loadgen_txn.h's) on key index
  // `key` < keys().
  // Host and keep-alive are the caller's.
  void Build(Op op, uint64_t key, HttpRequest* req) const;

  // Empty when the response is a success for op; otherwise a short, stable error kind such as
  // "not_found" or "http_503:no_leader" (status plus the body's error code when there is one).
  std::string Classify(Op op, const HttpResponse& res) const;

  // Every value written: kvd the raw bytes, etcd their base64.
  const std::string& value() const { return value_; }
  // The raw bytes of every value (kvd and etcd alike).
  const std::string& raw_value() const { return raw_value_; }

  // The name of key index `key` (raw bytes, as a key is stored); with `suffix`, the name of its
  // sibling in the same shard, e.g. "b" -> "{bench-...}.b" (tagged keys only).
  std::string KeyName(uint64_t key, char suffix = 'a') const;

 private:
  Target target_;
  uint64_t keys_;
  bool tagged_;
  std::vector<std::string> key_text_;  // kvd: "/v1/kv/bench-..."; etcd: base64 of the key
  std::string value_;                  // kvd: the raw value; etcd: its base64
  std::string raw_value_;
};

}  // namespace kvd::bench
