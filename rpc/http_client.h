// HttpClient: a synchronous client for the kvd HTTP API v1 (docs/api.md), used by kvctl, the
// Jepsen harness and the benchmarks.
//
// Threading: thread-compatible. One HttpClient per thread; calls on one instance must not overlap.
// Every call blocks until it has an answer, gives up (timeouts below) or exhausts its attempts.
// Errors: no exception escapes a call; every outcome is a value in the returned result.
//
// Connections: one keep-alive HTTP/1.1 connection per endpoint, reused across calls, reopened when
// the server closed it. The client sticks to the endpoint that answered last.
//
// Retry and failover policy (what is safe to repeat, and what is never repeated):
//  - Connection refused, connect timeout, name resolution failure, or a failure while *writing* the
//    request (the server cannot have a complete request, so nothing was applied): the same attempt
//    moves on to the next endpoint. When no endpoint accepts, the result is kConnectFailed.
//  - 503 (`unavailable`, `no_leader`) and 429 (`overloaded`): nothing was applied, so any request
//    is retried, on the next endpoint, after a backoff (doubling from retry_backoff, at least the
//    server's Retry-After, at most max_backoff), up to max_attempts attempts in total
//    (retry_unavailable = false disables this).
//  - No complete response (request timeout, connection lost after the request was sent, malformed
//    response) or a 504: the outcome is unknown and the result is `indeterminate`. Such a request
//    is retried ONLY if repeating it is safe: a GET/HEAD, or a write carrying an Idempotency-Key
//    (the server returns the first outcome for a repeated key, so retrying with the SAME key is
//    exactly-once). A write without a key is never retried after it may have reached a server.
//  - Everything else (2xx, 4xx other than 429, 5xx other than 503/504) is returned as is.
//  - Once an attempt's outcome was unknown, a later attempt can only settle it with an answer
//    from the server that saw the key (2xx, 4xx other than 429, 504 says unknown itself): if the
//    call ends with a 503/429 or with no endpoint reachable, that says nothing about the earlier
//    attempt, so the result stays `indeterminate` (and keeps the last status).
//
// Worst-case latency of one call is therefore about
// max_attempts * (connect_timeout * endpoints + request_timeout + max_backoff).
//
// Locks (docs/api.md, "Locks"): LockAcquire is not idempotent, so like a write it is retried after
// an unknown outcome only with an Idempotency-Key (given, or from ClientOptions::client_id); the
// retry then learns the first outcome. LockKeepalive and LockRelease are always safe to repeat:
// they act only on the lock held with their token, and a keepalive extends the lease from when it
// is applied, never earlier than when it was first sent. Without an Idempotency-Key, a release
// repeated after an unknown outcome may answer 409 fenced when its first attempt did release the
// lock. A waiting acquire's attempts get request_timeout + wait_ms to answer. Lock operations are
// routed like key requests, by the lock's name (its shard is the ring shard of the name).
//
// Transactions (docs/api.md, "Transactions"): a POST /v1/txn is resent after an unknown outcome
// only if it carries an Idempotency-Key (given, or from ClientOptions::client_id) AND the client
// knows that all its keys live in one shard (smart routing, by the cached directory's ring): the
// server remembers the outcome of a keyed single-shard transaction, but a cross-shard one is
// forgotten once finished and a resend would run it AGAIN (its compares may then fail, or its
// failure branch run, and that answer would hide the first run's commit). Otherwise the result of
// an unknown outcome is `indeterminate`; read the keys to learn it. 503/429 are retried as always
// (nothing was applied). With smart routing a transaction goes first to the leader of its first
// key's shard (the coordinator of a single-shard one). TxnList is a GET, not routed.
//
// Smart routing (ClientOptions::smart_routing; docs/api.md, Directory and routing) chooses only
// where the FIRST attempt of a key or lock request (Put, Cas, Get, Delete, Lock*) goes; whether
// anything is retried is decided by the policy above alone. The client caches GET /v1/directory
// with its version, computes the key's shard with the ring (kv/ring.h, rebuilt from the directory's
// shard ids and vnodes_per_shard) and sends the request to the http_address of the shard's leader,
// then of its other replicas, then to the configured endpoints (the sticky one first), moving on
// only while the request cannot have been sent, as above. It adds "X-Kv-Directory-Version:
// <cached>". The cache is refreshed before the next key request when it is empty, when an answer
// carried a newer X-Kv-Directory-Version, after a 503 or an answer that never came, and when the
// leader's address did not serve the request. A refresh is one attempt on the configured endpoints
// that waits at most kDirectoryRefreshTimeout (a node answers it from memory); if it fails, the old
// copy stays in use (with none, the configured endpoints are) and no refresh is tried again until
// one of those happens again. Scans, LockList and other calls are not routed. A routed call may
// take one refresh and one connect_timeout per replica address longer than the bound above.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rpc/idempotency_key.h"
#include "rpc/lock_fence.h"

namespace kvd::rpc {

// Smart routing: how long a directory refresh waits for its answer (at most request_timeout).
inline constexpr std::chrono::milliseconds kDirectoryRefreshTimeout{1000};

class ClientTransport;
class DirectoryCache;
struct RawRequest;

struct ClientOptions {
  std::vector<std::string> endpoints;  // "host:port"; tried in order, sticky to the last success
  std::chrono::milliseconds connect_timeout{1000};  // resolve + TCP connect, per endpoint
  std::chrono::milliseconds request_timeout{5000};  // write request + read response, per attempt
  int max_attempts = 3;                             // attempts per call (>= 1), see policy above
  bool retry_unavailable = true;                    // retry 503/429 (nothing applied)
  std::chrono::milliseconds retry_backoff{50};      // first backoff; doubles per retry
  std::chrono::milliseconds max_backoff{1000};      // cap on any backoff, including Retry-After
  size_t max_response_bytes = 64 << 20;             // larger responses are kProtocolError
  // When non-empty, Put/Delete without an explicit key get `client_id:seq` with seq = first_seq,
  // first_seq + 1, ... The server remembers results per client id, so the id must be unique to
  // this client instance (include a random part), or first_seq must exceed any seq used before.
  std::string client_id;
  uint64_t first_seq = 1;
  // Route key requests by a cached copy of the directory (see "Smart routing" above). Off by
  // default: every request then goes to `endpoints` exactly as described in the policy.
  bool smart_routing = false;
};

enum class Transport {
  kOk,             // a complete HTTP response arrived (any status)
  kConnectFailed,  // no endpoint accepted a connection; the request was not sent anywhere
  kTimeout,        // sent, but no complete response in time (or the connection dropped): unknown
  kProtocolError,  // malformed or oversized response, or a client-side failure
};
const char* TransportName(Transport t);

// Outcome of one call. ok() means a 2xx answer.
struct Result {
  Transport transport = Transport::kProtocolError;
  std::string transport_error;  // for humans, e.g. "127.0.0.1:8080: connection refused"
  int status = 0;               // HTTP status; 0 when transport != kOk
  std::string error_code;       // API error code from the JSON error body ("not_found", ...)
  std::string error_message;    // API error message
  // The outcome is unknown: a write may or may not have been applied. Set when the request may have
  // reached a server without a complete answer, and on 504 unless its body says otherwise.
  bool indeterminate = false;
  std::optional<uint64_t> version;          // X-Kv-Version or body "version"
  std::optional<uint64_t> revision;         // X-Kv-Revision or body "revision"
  std::optional<uint64_t> shard;            // X-Kv-Shard
  std::optional<uint64_t> applied_index;    // X-Kv-Applied-Index (reads: of the serving replica)
  std::optional<uint64_t> current_version;  // 412 version_mismatch body
  std::optional<bool> deleted;              // DELETE: whether the key existed
  std::optional<uint64_t> retry_after_ms;   // Retry-After
  // X-Kv-Directory-Version: the directory the answering node routed the request by.
  std::optional<uint64_t> directory_version;
  std::string body;      // raw response body; for Get: the value bytes
  std::string endpoint;  // the endpoint that gave this answer (empty if none)
  int attempts = 0;      // attempts made (retries + 1)

  bool ok() const { return transport == Transport::kOk && status >= 200 && status < 300; }
  // A missing key or lock; a 404 no_route (a wrong URL, e.g. a proxy in the way) is not that.
  bool not_found() const {
    return transport == Transport::kOk && status == 404 && error_code != "no_route";
  }
};

struct ScanItem {
  std::string key;
  std::string value;  // decoded bytes (also when the server sent value_base64)
  bool value_was_base64 = false;
  uint64_t version = 0;
  uint64_t revision = 0;
};

struct ScanResult : Result {
  std::vector<ScanItem> items;
  bool more = false;  // more keys match after items.back().key
};

struct NodeStatus {
  uint64_t id = 0;
  std::string http_address;
  std::string peer_address;
  bool up = false;
};

struct ShardStatus {
  uint64_t id = 0;
  std::vector<uint64_t> replicas;
  uint64_t leader = 0;  // 0: unknown
  uint64_t term = 0;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  std::string role;  // the answering node's role in this shard ("leader", "follower", ...)
};

struct ClusterStatusResult : Result {
  // Parsed essentials of GET /v1/cluster (the raw JSON is in `body`); missing fields stay 0/empty.
  uint64_t node_id = 0;  // the node that answered
  uint64_t directory_version = 0;
  std::vector<NodeStatus> nodes;
  std::vector<ShardStatus> shards;
};

// One data shard of the directory (GET /v1/directory).
struct DirectoryShard {
  uint64_t id = 0;
  std::vector<uint64_t> replicas;  // node ids; the first is the preferred leader
  uint64_t leader = 0;             // leader hint; 0: none
  uint64_t leader_term = 0;        // the term the hint was reported in
  uint64_t keys = 0;               // key count last reported by the shard's leader
  double hash_share = 0;           // fraction of the 64-bit hash space, as the node computed it
};

struct DirectoryResult : Result {
  // Parsed GET /v1/directory (the raw JSON is in `body`); missing fields stay 0/empty.
  // The directory's version (hides Result::version, a key's version, which this answer has not).
  // A node that knows no directory yet answers 503 instead.
  uint64_t version = 0;
  int vnodes_per_shard = 0;
  int replication = 0;
  std::string hash;  // the key hash the ring uses: "xxh3-64"
  uint64_t meta_shard = 0;
  std::vector<uint64_t> meta_voters;
  std::vector<NodeStatus> nodes;
  std::vector<DirectoryShard> shards;  // by id

  const NodeStatus* FindNode(uint64_t id) const;       // nullptr if not listed
  const DirectoryShard* FindShard(uint64_t id) const;  // nullptr if not listed
};

// ---- Locks ----

struct LockHolder {
  std::string owner;
  uint64_t token = 0;
  int64_t ttl_ms = 0;
  int64_t expires_in_ms = 0;  // lease left, by the shard's clock as the serving replica saw it
};

struct LockWaiter {
  std::string owner;
  int64_t ttl_ms = 0;
  int64_t wait_left_ms = 0;
};

struct LockInfo {
  std::string name;  // decoded bytes (also when the server sent name_base64)
  uint64_t shard = 0;
  uint64_t last_token = 0;           // the largest token ever granted for the name
  std::optional<LockHolder> holder;  // absent: free
  std::vector<LockWaiter> waiters;   // in arrival order
};

// LockAcquire / LockKeepalive: token and ttl_ms (revision in Result::revision). LockRelease:
// released. 409 `lock_held` (acquire): holder. 409 `fenced`: no longer held with the token.
struct LockResult : Result {
  uint64_t token = 0;
  int64_t ttl_ms = 0;
  bool released = false;
  std::optional<LockHolder> holder;
};

struct LockInfoResult : Result {
  LockInfo lock;
};

struct LockListResult : Result {
  std::vector<LockInfo> locks;
  bool more = false;       // more locks may follow: list again with after = next_after
  std::string next_after;  // with more (the page may be empty: a shard looked past it)
};

// ---- Transactions (docs/api.md, "Transactions") ----

// One compare: the key's version (0: absent), its value (an absent key never matches), or whether
// it exists.
struct TxnCompare {
  enum class Target { kVersion, kValue, kExists };
  std::string key;
  Target target = Target::kVersion;
  uint64_t version = 0;  // kVersion
  std::string value;     // kValue: any bytes (sent as value_base64 when not UTF-8)
  bool exists = false;   // kExists
};

enum class TxnOpType { kGet, kPut, kDelete };

struct TxnOp {
  TxnOpType type = TxnOpType::kGet;
  std::string key;
  std::string value;  // put: any bytes (sent as value_base64 when not UTF-8)
};

// All compares hold -> the success ops run, else the failure ops, atomically. Keys must be UTF-8
// (the API names them as JSON strings); at most 128 compares, 128 ops per branch, 256 distinct
// keys, 4 MiB of keys and values (the server answers 400/413 otherwise).
struct TxnRequest {
  std::vector<TxnCompare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};

// One op's result, in the order of the branch that ran.
struct TxnOpResult {
  TxnOpType type = TxnOpType::kGet;
  std::string key;     // decoded (also when the server sent key_base64)
  bool found = false;  // get: the key exists (value and version set)
  std::string value;   // get: decoded bytes (also when the server sent value_base64)
  bool value_was_base64 = false;
  uint64_t version = 0;  // get: the key's version; put: its new version
  bool deleted = false;  // delete: the key existed
};

// 200: succeeded says which branch ran; results are its ops'. Result::revision is the Raft index
// that committed it. 409 `conflict`: other transactions held its keys; nothing applied, retry.
// 409 `fenced`: X-Fence refused it; nothing applied. indeterminate: it may or may not have
// committed (read the keys to learn it).
struct TxnResult : Result {
  bool succeeded = false;
  std::vector<TxnOpResult> results;
  std::vector<uint64_t> shards;  // the participant shards
  std::string txn_id;            // cross-shard transactions only
};

// An in-doubt cross-shard transaction (GET /v1/txns).
struct TxnInfo {
  std::string id;
  std::string state;  // "pending", "committed", "aborted"
  int64_t age_ms = 0;
  int64_t expires_in_ms = 0;
  uint64_t record_shard = 0;
  std::vector<uint64_t> participants;
};

struct TxnListResult : Result {
  std::vector<TxnInfo> txns;  // oldest first
  bool more = false;          // more than the limit exist
};

struct Header {
  std::string name;
  std::string value;
};

class HttpClient {
 public:
  explicit HttpClient(ClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // PUT /v1/kv/{key}. if_version: 0 = only if absent, N = only if the current version is N.
  // fence: "X-Fence: lock:token" (409 `fenced` when the token is no longer current).
  Result Put(std::string_view key, std::string_view value,
             std::optional<uint64_t> if_version = std::nullopt,
             std::optional<IdempotencyKey> idempotency = std::nullopt,
             const std::optional<LockFence>& fence = std::nullopt);
  // Compare-and-set: Put with if_version = expected_version.
  Result Cas(std::string_view key, uint64_t expected_version, std::string_view value,
             std::optional<IdempotencyKey> idempotency = std::nullopt);
  // GET /v1/kv/{key}; stale = serve from any replica (may lag). Value bytes in `body`.
  Result Get(std::string_view key, bool stale = false);
  // DELETE /v1/kv/{key}; `deleted` says whether the key existed.
  Result Delete(std::string_view key, std::optional<uint64_t> if_version = std::nullopt,
                std::optional<IdempotencyKey> idempotency = std::nullopt,
                const std::optional<LockFence>& fence = std::nullopt);
  // GET /v1/kv?prefix=&after=&limit= : keys > after with the prefix, in key order. limit 0 = the
  // server's default page size. Follow `more` with after = items.back().key.
  ScanResult Scan(std::string_view prefix, std::string_view after = {}, size_t limit = 0,
                  bool stale = false);
  // POST /v1/locks/{name}: acquire for `owner` (1..256 bytes of UTF-8) with a lease of ttl_ms;
  // if held, wait up to wait_ms for it (the call then blocks that much longer). See "Locks" above.
  LockResult LockAcquire(std::string_view name, std::string_view owner, int64_t ttl_ms,
                         int64_t wait_ms = 0,
                         std::optional<IdempotencyKey> idempotency = std::nullopt);
  // POST /v1/locks/{name}/keepalive: extend the lease held with `token` by its TTL from now.
  LockResult LockKeepalive(std::string_view name, uint64_t token,
                           std::optional<IdempotencyKey> idempotency = std::nullopt);
  // DELETE /v1/locks/{name}?token=T: release; the first waiter, if any, holds it next.
  LockResult LockRelease(std::string_view name, uint64_t token,
                         std::optional<IdempotencyKey> idempotency = std::nullopt);
  // GET /v1/locks/{name}: holder, last token, waiters. 404 `not_found`: never acquired.
  LockInfoResult LockGet(std::string_view name, bool stale = false);
  // GET /v1/locks?after=&limit=: locks that are held or have waiters, by name, after `after`.
  // limit 0 = the server's default page size (100). Follow `more` with after = next_after.
  LockListResult LockList(std::string_view after = {}, size_t limit = 0, bool stale = false);

  // POST /v1/txn (see "Transactions" above for when it is resent). fence: "X-Fence: lock:token"
  // for every key it writes. A key that is not UTF-8 is refused locally (kProtocolError).
  TxnResult Txn(const TxnRequest& txn, std::optional<IdempotencyKey> idempotency = std::nullopt,
                const std::optional<LockFence>& fence = std::nullopt);
  // The same with the request body given as the API's JSON (kvctl txn -f), sent as is; the server
  // judges it. Its keys, when the client can read them, route it as Txn does.
  TxnResult TxnJson(std::string_view body, std::optional<IdempotencyKey> idempotency = std::nullopt,
                    const std::optional<LockFence>& fence = std::nullopt);
  // GET /v1/txns?limit=: in-doubt cross-shard transactions, oldest first. limit 0 = the server's
  // default (100); at most 1000.
  TxnListResult TxnList(size_t limit = 0);

  ClusterStatusResult ClusterStatus();
  // GET /v1/directory, retried like any GET. With smart routing, a newer directory than the
  // cached one also replaces it. 503 `unavailable`: the node does not know the directory yet.
  DirectoryResult Directory();
  // Smart routing: the version of the cached directory; 0 when none is cached (or routing is off).
  uint64_t cached_directory_version() const;
  Result Health();  // GET /healthz
  Result Ready();   // GET /readyz
  // Any request. `target` is the path and query, already encoded. Retry policy as above: safe to
  // repeat after an unknown outcome iff method is GET/HEAD or an Idempotency-Key header is given.
  Result Request(std::string_view method, std::string_view target, std::string_view body = {},
                 const std::vector<Header>& headers = {});

  const ClientOptions& options() const { return options_; }

 private:
  Result Write(std::string_view method, std::string_view key, std::string target,
               std::string_view body, std::optional<IdempotencyKey> idempotency,
               const std::optional<LockFence>& fence);
  // A lock operation (http_client_locks.cc): the Idempotency-Key rules of "Locks" above.
  LockResult LockOperation(RawRequest& req, std::string_view name,
                           std::optional<IdempotencyKey> idempotency);
  // Sends a transaction whose JSON body is in req (http_client_txn.cc); keys as found in it.
  TxnResult SendTxn(RawRequest& req, const std::vector<std::string>& keys,
                    std::optional<IdempotencyKey> idempotency,
                    const std::optional<LockFence>& fence);
  // Fills in the next Idempotency-Key from ClientOptions::client_id when none is given; false
  // (with the local failure in *failed) if the key cannot be valid.
  bool TakeIdempotencyKey(std::optional<IdempotencyKey>& idempotency, Result& failed);
  // A request for `key`: routed when smart routing is on; the answer updates the cache's view.
  // R is Result or one of its extensions (instantiated in http_client.cc).
  template <typename R>
  R SendKeyRequest(RawRequest& req, std::string_view key, bool json_success);
  void RefreshDirectory();  // one attempt; installs the answer if it is usable

  ClientOptions options_;
  uint64_t next_seq_;
  std::unique_ptr<ClientTransport> transport_;
  std::unique_ptr<DirectoryCache> directory_;  // only with smart routing
};

// Percent-encodes every byte except the unreserved characters A-Z a-z 0-9 - . _ ~ (so '/' and
// spaces are encoded too). Used for keys in paths and for query values.
std::string PercentEncode(std::string_view raw);
// Path of a key: "/v1/kv/" + PercentEncode(key).
std::string KeyPath(std::string_view key);
// Path of a lock: "/v1/locks/" + PercentEncode(name).
std::string LockPath(std::string_view name);

}  // namespace kvd::rpc
