// KvService: what the HTTP front end (rpc/) asks of a node. Implemented by kv::Node. Every
// callback runs on a node thread and must be cheap and thread-safe (post the work elsewhere).
//
// Error meanings (docs/api.md): kUnavailable = nothing was applied, retry later; kTimeout = the
// outcome is unknown (a write may or may not have been applied); kVersionMismatch = precondition
// failed, nothing applied; kOverloaded = shed, nothing applied.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "proto/kv.pb.h"

namespace kvd::kv {

enum class ErrorCode {
  kOk,
  kNotFound,
  kVersionMismatch,
  kInvalidArgument,
  kUnavailable,  // no leader / no quorum now; nothing applied
  kTimeout,      // outcome unknown
  kOverloaded,   // too many requests in flight; nothing applied
  kLockHeld,     // the lock is held by another holder (and wait_ms passed); nothing applied
  kFenced,       // the fence or token is no longer current; nothing applied
  kConflict,     // a transaction met another's intents and gave up; nothing applied
};

// A write's fence (X-Fence: {lock}:{token}, docs/api.md "Locks"): the shard refuses the write
// (kFenced) if the key already accepted a write fenced by a larger token of 'lock', or, when the
// lock lives in the key's shard, if the lock is not held with 'token' at the write's time.
struct Fence {
  std::string lock;
  uint64_t token = 0;
};

struct WriteRequest {
  std::string key;
  bool is_delete = false;
  std::string value;
  std::optional<uint64_t> if_version;  // 0: only if absent
  std::string client_id;               // with seq: exactly-once (Idempotency-Key)
  uint64_t seq = 0;
  uint64_t directory_version = 0;  // the version the client routed by (0: none given)
  std::optional<Fence> fence;
};

struct WriteResponse {
  ErrorCode code = ErrorCode::kOk;
  std::string message;
  uint64_t shard = 0;
  uint64_t version = 0;
  uint64_t revision = 0;
  uint64_t current_version = 0;    // kVersionMismatch
  bool deleted = false;            // delete: whether the key existed
  uint64_t directory_version = 0;  // the directory this node routed the request by
};

struct ReadRequest {
  std::string key;
  bool stale = false;              // serve from this replica without confirming leadership
  uint64_t directory_version = 0;  // the version the client routed by (0: none given)
};

struct ReadResponse {
  ErrorCode code = ErrorCode::kOk;
  std::string message;
  uint64_t shard = 0;
  std::optional<kvpb::KeyRecord> record;  // absent: kNotFound
  uint64_t applied_index = 0;             // of the replica that served it
  uint64_t directory_version = 0;         // the directory this node routed the request by
};

struct ScanRequest {
  std::string prefix;
  std::string after;
  size_t limit = 100;
  bool stale = false;
  uint64_t directory_version = 0;
  size_t max_bytes = 0;  // per shard: about this many bytes of items (0: the default, 4 MiB)
};

struct ScanResponse {
  ErrorCode code = ErrorCode::kOk;
  std::string message;
  std::vector<std::pair<std::string, kvpb::KeyRecord>> items;
  bool more = false;
  uint64_t directory_version = 0;
};

// ---- Locks (docs/api.md "Locks", docs/design.md "Locks and fencing") ----

struct LockHolder {
  std::string owner;
  uint64_t token = 0;
  int64_t ttl_ms = 0;
  int64_t expires_in_ms = 0;  // lease left, by the shard clock as the serving replica applied it
};

struct LockWaiter {
  std::string owner;
  int64_t ttl_ms = 0;
  int64_t wait_left_ms = 0;  // until it gives up waiting, by the same clock
};

struct LockInfo {
  std::string name;
  uint64_t shard = 0;
  std::optional<LockHolder> holder;  // absent: free
  uint64_t last_token = 0;           // the largest token ever granted for the name
  std::vector<LockWaiter> waiters;   // in arrival order; the first is granted next
};

enum class LockOp { kAcquire, kKeepalive, kRelease };

struct LockRequest {
  LockOp op = LockOp::kAcquire;
  std::string name;       // 1..4096 bytes; lives in the shard its name hashes to ({tag} works)
  std::string owner;      // acquire: 1..256 bytes, shown to others
  int64_t ttl_ms = 0;     // acquire: lease length
  int64_t wait_ms = 0;    // acquire: queue up to this long if held (0: answer at once)
  uint64_t token = 0;     // keepalive, release
  std::string client_id;  // with seq: exactly-once (Idempotency-Key)
  uint64_t seq = 0;
  uint64_t directory_version = 0;
};

// kOk: acquire/keepalive: token and ttl_ms; release: released. kLockHeld (acquire): holder.
// kFenced (keepalive, release): not held with that token. kNotFound: no such lock.
// kTimeout: outcome unknown (an acquire may hold the lock until its TTL runs out).
struct LockResponse {
  ErrorCode code = ErrorCode::kOk;
  std::string message;
  uint64_t shard = 0;
  uint64_t token = 0;
  int64_t ttl_ms = 0;
  uint64_t revision = 0;
  std::optional<LockHolder> holder;  // kLockHeld: the current holder
  uint64_t directory_version = 0;
};

// One lock by name (name set), or every lock that is held or has waiters, in name order
// (name empty; paged by 'after' and 'limit').
struct LockListRequest {
  std::string name;
  std::string after;
  size_t limit = 100;
  bool stale = false;
  uint64_t directory_version = 0;
};

struct LockListResponse {
  ErrorCode code = ErrorCode::kOk;  // kNotFound: the named lock does not exist
  std::string message;
  std::vector<LockInfo> locks;
  bool more = false;
  std::string next_after;  // more: list again with after = next_after
  uint64_t directory_version = 0;
};

// ---- Transactions (docs/api.md "Transactions", docs/design.md "Transactions") ----

enum class TxnCompareTarget { kVersion, kValue, kExists };

// One compare: the key's version (0: absent), its value (an absent key never matches), or
// whether it exists.
struct TxnCompare {
  std::string key;
  TxnCompareTarget target = TxnCompareTarget::kVersion;
  uint64_t version = 0;
  std::string value;
  bool exists = false;
};

enum class TxnOpType { kGet, kPut, kDelete };

struct TxnOp {
  TxnOpType type = TxnOpType::kGet;
  std::string key;
  std::string value;  // put
};

// Bounds a node enforces on a transaction (the HTTP layer checks them first, with 400).
inline constexpr size_t kMaxTxnCompares = 128;
inline constexpr size_t kMaxTxnOps = 128;        // per branch
inline constexpr size_t kMaxTxnKeys = 256;       // distinct keys over compares and both branches
inline constexpr size_t kMaxTxnBytes = 4 << 20;  // keys and values together

// All compares hold -> the success ops run, else the failure ops, in order, atomically and
// strictly serializably with every other operation; keys may live in any shards. Ops of one
// branch see the branch's earlier ops (a get after a put reads the put).
struct TxnRequest {
  std::vector<TxnCompare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
  std::optional<Fence> fence;  // X-Fence: applies to every key the transaction writes
  std::string client_id;       // with seq: exactly-once (single-shard transactions only)
  uint64_t seq = 0;
  uint64_t directory_version = 0;
};

struct TxnOpResult {
  TxnOpType type = TxnOpType::kGet;
  std::string key;
  bool found = false;    // get: the key exists (value, version set)
  std::string value;     // get
  uint64_t version = 0;  // get: the key's version; put: its new version
  bool deleted = false;  // delete: the key existed
};

// kOk: succeeded says which branch ran; results are its ops' results, in order. revision: the
// Raft index of the entry that committed the transaction (for a cross-shard one, the commit
// point's entry in the record's shard). kConflict: other transactions held its keys until the
// request's deadline; nothing applied. kFenced: a written key's fence refused it; nothing
// applied. kTimeout: outcome unknown.
struct TxnResponse {
  ErrorCode code = ErrorCode::kOk;
  std::string message;
  bool succeeded = false;
  std::vector<TxnOpResult> results;
  uint64_t revision = 0;
  std::vector<uint64_t> shards;  // the participant shards (one: a single-shard transaction)
  std::string txn_id;            // cross-shard: the transaction record's id
  uint64_t directory_version = 0;
};

// A cross-shard transaction whose record still exists: pending, or decided with intents not yet
// resolved everywhere.
struct TxnInfo {
  std::string id;
  std::string state;          // "pending", "committed", "aborted"
  int64_t age_ms = 0;         // since the record was written, by its shard's clock
  int64_t expires_in_ms = 0;  // pending: until recovery may abort it (0: it may now)
  uint64_t record_shard = 0;
  std::vector<uint64_t> participants;
};

struct TxnListRequest {
  size_t limit = 100;
};

struct TxnListResponse {
  ErrorCode code = ErrorCode::kOk;
  std::string message;
  std::vector<TxnInfo> txns;  // oldest first
  bool more = false;          // more than 'limit' exist
  uint64_t directory_version = 0;
};

struct ShardStatus {
  uint64_t id = 0;
  std::vector<uint64_t> replicas;
  uint64_t leader = 0;  // 0: unknown
  uint64_t term = 0;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  std::string role;  // this replica's: leader, follower, candidate, pre-candidate
};

struct NodeInfo {
  uint64_t id = 0;
  std::string peer_address;
  std::string http_address;
  bool up = false;  // this node's view: reachable over the peer transport (itself: true)
};

// The consistent-hash directory as this node knows it (GET /v1/directory, docs/api.md). The ring
// itself is not listed: it is a pure function of the shard ids and vnodes_per_shard (kv/ring.h).
struct DirectoryShard {
  uint64_t id = 0;
  std::vector<uint64_t> replicas;  // node ids; the first is the preferred leader
  uint64_t leader = 0;             // leader hint (0: none yet)
  uint64_t leader_term = 0;        // the term the hint was reported in
  uint64_t keys = 0;               // key count last reported by the shard's leader
  double hash_share = 0;           // fraction of the 64-bit hash space the shard owns
};

struct DirectoryView {
  uint64_t version = 0;  // 0: not yet known (the meta shard has not applied it here)
  int vnodes_per_shard = 0;
  int replication = 0;
  uint64_t meta_shard = 0;
  std::vector<uint64_t> meta_voters;
  std::vector<NodeInfo> nodes;
  std::vector<DirectoryShard> shards;  // data shards, by id
};

struct ClusterStatus {
  uint64_t node_id = 0;
  std::vector<NodeInfo> nodes;
  std::vector<ShardStatus> shards;
  uint64_t directory_version = 0;
};

class KvService {
 public:
  virtual ~KvService() = default;
  virtual void Write(WriteRequest req, std::function<void(WriteResponse)> done) = 0;
  virtual void Read(ReadRequest req, std::function<void(ReadResponse)> done) = 0;
  virtual void Scan(ScanRequest req, std::function<void(ScanResponse)> done) = 0;
  virtual void Lock(LockRequest req, std::function<void(LockResponse)> done) {
    (void)req;
    LockResponse r;
    r.code = ErrorCode::kUnavailable;
    r.message = "locks are not served here";
    done(std::move(r));
  }
  virtual void Locks(LockListRequest req, std::function<void(LockListResponse)> done) {
    (void)req;
    LockListResponse r;
    r.code = ErrorCode::kUnavailable;
    r.message = "locks are not served here";
    done(std::move(r));
  }
  virtual void Txn(TxnRequest req, std::function<void(TxnResponse)> done) {
    (void)req;
    TxnResponse r;
    r.code = ErrorCode::kUnavailable;
    r.message = "transactions are not served here";
    done(std::move(r));
  }
  virtual void Txns(TxnListRequest req, std::function<void(TxnListResponse)> done) {
    (void)req;
    TxnListResponse r;
    r.code = ErrorCode::kUnavailable;
    r.message = "transactions are not served here";
    done(std::move(r));
  }
  virtual ClusterStatus Status() const = 0;
  // The directory as this node applied it from the meta shard (any thread).
  virtual DirectoryView Directory() const = 0;
  // True when this node knows a leader for every shard it hosts (/readyz).
  virtual bool IsReady() const = 0;
  // Prometheus text exposition of the node's metrics (/metrics).
  virtual std::string Metrics() const = 0;
};

}  // namespace kvd::kv
