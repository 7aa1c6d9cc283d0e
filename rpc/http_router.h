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
//   POST   /v1/locks/{name}            {"owner", "ttl_ms", "wait_ms"} -> {"token", "ttl_ms", ...}
//   POST   /v1/locks/{name}/keepalive  {"token"}                    -> {"token", "ttl_ms", ...}
//   DELETE /v1/locks/{name}  ?token=T                               -> {"released", "revision"}
//   GET    /v1/locks/{name}  ?consistency=                          -> the lock
//   GET    /v1/locks         ?after=N&limit=N&consistency=          -> {"locks", "more"}
//   (the lock routes are in http_router_locks.cc; docs/api.md, "Locks")
//   POST   /v1/txn   {"compare", "success", "failure"}          -> {"succeeded", "results", ...}
//   GET    /v1/txns  ?limit=N                                   -> {"txns", "more"}
//   (the transaction routes are in http_router_txn.cc, their bodies in http_txn_json.h;
//   docs/api.md, "Transactions")
//
// Keys: everything after "/v1/kv/" up to the query, percent-decoded. A raw '/' there is part of
// the key ("/v1/kv/a/b" is key "a/b", the same as "/v1/kv/a%2Fb"); '+' is a literal '+'.
// Writes and reads of a key answer with X-Kv-Version, X-Kv-Revision and X-Kv-Shard; reads also
// with X-Kv-Applied-Index (how far the serving replica had applied; tells staleness).
// Writes take "Idempotency-Key: <client-id>:<seq>" (parsed by rpc/idempotency_key.h, shared with
// the client: client id 1..256 printable ASCII bytes, split at the last ':'; seq 1..2^64-1).
// Requests under /v1/kv and /v1/locks take "X-Kv-Directory-Version: <u64>" (the directory the
// client routed by; malformed or repeated: 400) and their answers from the node carry the directory
// version the node routed by, when it has one, so a client with an older directory learns to
// refresh it. Lock operations (POST, DELETE) take Idempotency-Key like writes.
// Lock names are one path segment, percent-decoded like keys (a raw '/' ends the name).
// PUT and DELETE of a key take "X-Fence: <lock>:<token>" (rpc/lock_fence.h; malformed or
// repeated: 400), passed on as WriteRequest::fence; reads ignore it.
// POST /v1/txn takes Idempotency-Key, X-Fence (for every key it writes: TxnRequest::fence) and
// X-Kv-Directory-Version, and answers with X-Kv-Revision and X-Kv-Directory-Version; its 504 is
// indeterminate. Its body may be up to HttpOptions::max_txn_body_bytes (MaxRequestBodyBytes).
//
// Thread-safety: Handle() may be called concurrently from several connections.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kv/service.h"
#include "rpc/http_errors.h"
#include "rpc/http_metrics.h"
#include "rpc/http_server.h"

namespace kvd::rpc {

inline constexpr std::string_view kTxnPath = "/v1/txn";
inline constexpr std::string_view kTxnsPath = "/v1/txns";

// The largest body the server reads for a request with this method and target (origin-form):
// max_txn_body_bytes for POST /v1/txn, max_body_bytes (the value limit) for everything else.
size_t MaxRequestBodyBytes(const HttpOptions& options, std::string_view method,
                           std::string_view target);

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // origin-form, e.g. "/v1/kv/a%2Fb?if_version=3"
  std::string body;
  std::vector<std::string> idempotency_keys;    // every Idempotency-Key header, in order
  std::vector<std::string> fences;              // every X-Fence header, in order
  std::vector<std::string> directory_versions;  // every X-Kv-Directory-Version header, in order
};

// What Handle() made of a request: its route, for metrics and for the timeout reply (writes and
// lock operations are indeterminate), and how much longer than the request timeout the answer may
// take (a waiting lock acquire blocks up to its wait_ms in the node).
struct HandledRequest {
  HandledRequest(HttpRoute r = HttpRoute::kOther,  // NOLINT: implicit, routes convert
                 std::chrono::milliseconds extra = std::chrono::milliseconds(0))
      : route(r), extra_wait(extra) {}
  HttpRoute route;
  std::chrono::milliseconds extra_wait;
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
  // says what it was (route, and any extra time its answer may take).
  HandledRequest Handle(HttpRequest req, const Responder& respond);

 private:
  HttpRoute HandleKey(HttpRequest& req, std::string_view encoded_key, std::string_view query,
                      const Responder& respond);
  HttpRoute HandleScan(const HttpRequest& req, std::string_view query, const Responder& respond);
  // Everything under /v1/locks ('rest': the path after "/v1/locks"; http_router_locks.cc).
  HandledRequest HandleLocks(HttpRequest& req, std::string_view rest, std::string_view query,
                             const Responder& respond);
  HandledRequest HandleLockOp(HttpRequest& req, std::string name, bool keepalive,
                              std::string_view query, const Responder& respond);
  HttpRoute HandleLockList(const HttpRequest& req, std::string name, std::string_view query,
                           const Responder& respond);
  // POST /v1/txn and GET /v1/txns (http_router_txn.cc).
  HttpRoute HandleTxn(HttpRequest& req, std::string_view query, const Responder& respond);
  HttpRoute HandleTxnList(const HttpRequest& req, std::string_view query, const Responder& respond);

  kv::KvService& service_;
  const HttpOptions& options_;
  const HttpMetrics& metrics_;
};

}  // namespace kvd::rpc
