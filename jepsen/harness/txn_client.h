// Copyright (c) kvd authors.
//
// The harness's client of POST /v1/txn (docs/api.md "Transactions"), for the bank and append
// workloads: the request's JSON, the answer's parsing, and how an answer becomes an outcome.
//
// Outcomes (ClassifyTxn):
//   ok      200 with "succeeded": true (the success branch ran);
//   fail    200 with "succeeded": false (a compare did not hold: the failure branch ran, and the
//           workloads give it no ops), 409 (conflict, fenced), 412, 429, 503, other 4xx, or no
//           node accepted the connection: nothing was applied;
//   unknown no answer in time, a connection lost after sending, 504, 500 or another 5xx, or a
//           200 whose body is not a transaction result: it may or may not have committed.
// A transaction is sent without an Idempotency-Key, so the client never repeats it after an
// unknown outcome (rpc/http_client.h); it does retry a 503/429 on the next node (nothing was
// applied).
//
// Pure functions and a thread-compatible client (one per worker thread).

#ifndef KVD_JEPSEN_HARNESS_TXN_CLIENT_H_
#define KVD_JEPSEN_HARNESS_TXN_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jepsen/harness/history.h"
#include "rpc/http_client.h"

namespace kvd::jepsen {

struct TxnCompare {
  std::string key;
  // Exactly one of these: the key's version (0 = absent), its value, or whether it exists.
  std::optional<uint64_t> version;
  std::optional<std::string> value;
  std::optional<bool> exists;
};

enum class TxnOpType { kGet, kPut, kDelete };

struct TxnOp {
  TxnOpType type = TxnOpType::kGet;
  std::string key;
  std::string value;  // put
};

struct TxnRequest {
  std::vector<TxnCompare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};

// One entry of "results", in the order of the branch's ops.
struct TxnOpResult {
  TxnOpType type = TxnOpType::kGet;
  std::string key;  // when the answer names it
  bool found = false;
  std::optional<std::string> value;  // get: the value when found
  uint64_t version = 0;              // get: when found; put: the key's new version
};

struct TxnAnswer {
  rpc::Result http;     // the raw answer (status, error code, transport, endpoint, body)
  bool parsed = false;  // a 200 whose body is a transaction result
  bool succeeded = false;
  uint64_t revision = 0;
  std::vector<uint64_t> shards;  // the participant shards
  std::string txn_id;            // cross-shard transactions
  std::vector<TxnOpResult> results;
};

// {"compare": [...], "success": [...], "failure": [...]}; values that are not UTF-8 go as
// "value_base64".
std::string TxnRequestJson(const TxnRequest& request);

// Parses a 200's body into *answer (parsed, succeeded, revision, shards, txn_id, results);
// false with *error set if it is not a transaction result.
bool ParseTxnAnswer(std::string_view body, TxnAnswer* answer, std::string* error);

// Sets op.outcome, op.error, op.endpoint, and for ok answers op.txn_shards and op.revision.
void ClassifyTxn(const TxnAnswer& answer, HistoryOp& op);

// Whether a failed transaction's answer was "POST /v1/txn is not served here" (404 no_route).
bool TxnRouteMissing(const TxnAnswer& answer);

// One worker's client. The HTTP client stays with the node that answered last; after an answer
// from another node than the first endpoint (the worker's own), the next request starts at its
// own node again on a new connection, so that after a node died and came back the workers do not
// all end up on the same node (with the crash nemesis, the one that then coordinates everything
// and dies at once).
class TxnClient {
 public:
  explicit TxnClient(rpc::ClientOptions options);
  TxnAnswer Send(const TxnRequest& request);

 private:
  const rpc::ClientOptions options_;
  std::unique_ptr<rpc::HttpClient> client_;
};

// Client options for a worker: every endpoint, starting at worker % endpoints; 2 attempts (a
// 503/429 is retried on the next node), the given request timeout.
rpc::ClientOptions TxnClientOptions(const std::vector<std::string>& endpoints, int worker,
                                    int timeout_ms);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_TXN_CLIENT_H_
