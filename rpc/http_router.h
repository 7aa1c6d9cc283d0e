// HttpRouter: turns one parsed HTTP request into a KvService call and the service's answer into
// an HttpReply, following docs/api.md. Knows nothing of sockets or Beast; HttpSession feeds it.
//
// Routes:
//   PUT    /v1/kv/{key}  ?if_version=N           body = value    -> {"version", "revision"}
//   GET    /v1/kv/{key}  ?consistency=stale|linearizable         -> raw value bytes
//   DELETE /v1/kv/{key}  ?if_version=N                           -> {"deleted", "revision"}
//   GET    /v1/kv        ?prefix=P&after=K&limit=N&consistency=  -> {"items", "more"}
//   GET    /v1/directory                                          -> the shard directory
//   GET    /v1/cluster, /healthz, /readyz, /metrics
//
// Keys: everything after "/v1/kv/" up to the query, percent-decoded. A raw '/' there is part of
// the key ("/v1/kv/a/b" is key "a/b", the same as "/v1/kv/a%2Fb"); '+' is a literal '+'.
// Writes and reads of a key answer with X-Kv-Version, X-Kv-Revision and X-Kv-Shard; reads also
// with X-Kv-Applied-Index (how far the serving replica had applied; tells staleness).
// Writes take "Idempotency-Key: <client-id>:<seq>" (parsed by rpc/idempotency_key.h, shared with
// the client: client id 1..256 printable ASCII bytes, split at the last ':'; seq 1..2^64-1).
// Requests under /v1/kv take "X-Kv-Directory-Version: <u64>" (the directory the client routed by;
// malformed or repeated: 400) and their answers from the node carry the directory version the node
// routed by, when it has one, so a client with an older directory learns to refresh it.
// X-Fence is not supported yet and is refused (400) rather than ignored, since a write believed
// fenced must never be applied unfenced.
//
// Thread-safety: Handle() may be called concurrently from several connections.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kv/service.h"
#include "rpc/http_errors.h"
#include "rpc/http_metrics.h"
#include "rpc/http_server.h"

namespace kvd::rpc {

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // origin-form, e.g. "/v1/kv/a%2Fb?if_version=3"
  std::string body;
  std::vector<std::string> idempotency_keys;    // every Idempotency-Key header, in order
  bool has_fence = false;                       // an X-Fence header was present
  std::vector<std::string> directory_versions;  // every X-Kv-Directory-Version header, in order
};

// Builds the reply; run on the connection's strand, so that service threads only move their
// answer and post (kv/service.h: callbacks must be cheap).
using ReplyMaker = std::function<HttpReply()>;
// Delivers a reply for the request being handled. Callable from any thread; the first call wins.
using Responder = std::function<void(ReplyMaker make)>;

class HttpRouter {
 public:
  // Borrows all three; they must outlive the router.
  HttpRouter(kv::KvService& service, const HttpOptions& options, const HttpMetrics& metrics);

  // Answers 'req' through 'respond' (once, before returning or later from a service thread) and
  // returns its route, for metrics and for the timeout reply (writes are indeterminate).
  HttpRoute Handle(HttpRequest req, const Responder& respond);

 private:
  HttpRoute HandleKey(HttpRequest& req, std::string_view encoded_key, std::string_view query,
                      const Responder& respond);
  HttpRoute HandleScan(const HttpRequest& req, std::string_view query, const Responder& respond);

  kv::KvService& service_;
  const HttpOptions& options_;
  const HttpMetrics& metrics_;
};

}  // namespace kvd::rpc
