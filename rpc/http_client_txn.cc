// HttpClient's transaction calls (docs/api.md, "Transactions"; the resend rule is in
// http_client.h, "Transactions").
#include <string>

#include "rpc/client_directory.h"
#include "rpc/client_json.h"
#include "rpc/client_result.h"
#include "rpc/client_transport.h"
#include "rpc/http_client.h"

namespace kvd::rpc {

TxnResult HttpClient::Txn(const TxnRequest& txn, std::optional<IdempotencyKey> idempotency,
                          const std::optional<LockFence>& fence) {
  std::string error;
  std::optional<std::string> body = TxnRequestJson(txn, &error);
  if (!body) return LocalFailure<TxnResult>(std::move(error));
  std::vector<std::string> keys;
  for (const TxnCompare& c : txn.compare) keys.push_back(c.key);
  for (const auto* branch : {&txn.success, &txn.failure}) {
    for (const TxnOp& op : *branch) keys.push_back(op.key);
  }
  RawRequest req{.method = "POST", .target = "/v1/txn", .body = std::move(*body)};
  return SendTxn(req, keys, std::move(idempotency), fence);
}

TxnResult HttpClient::TxnJson(std::string_view body, std::optional<IdempotencyKey> idempotency,
                              const std::optional<LockFence>& fence) {
  RawRequest req{.method = "POST", .target = "/v1/txn", .body = std::string(body)};
  return SendTxn(req, TxnBodyKeys(body), std::move(idempotency), fence);
}

TxnResult HttpClient::SendTxn(RawRequest& req, const std::vector<std::string>& keys,
                              std::optional<IdempotencyKey> idempotency,
                              const std::optional<LockFence>& fence) {
  if (fence && !fence->IsValid()) {
    return LocalFailure<TxnResult>("invalid fence '" + fence->ToString().substr(0, 300) +
                                   "': want LOCK:TOKEN, TOKEN >= 1, the lock name without control "
                                   "bytes or leading or trailing spaces (rpc/lock_fence.h)");
  }
  TxnResult failed;
  if (!TakeIdempotencyKey(idempotency, failed)) return failed;
  req.headers.push_back({"Content-Type", "application/json"});
  if (idempotency) req.headers.push_back({"Idempotency-Key", idempotency->ToString()});
  if (fence) req.headers.push_back({"X-Fence", fence->ToString()});

  TxnResult r;
  if (directory_ == nullptr || keys.empty()) {
    r = Interpret<TxnResult>(transport_->Send(req), /*json_success=*/true);
    if (directory_ != nullptr) directory_->Observe(r, {});
  } else {
    // Only a keyed single-shard transaction may be resent after an unknown outcome: the server
    // would run a cross-shard one again (http_client.h, "Transactions").
    if (directory_->needs_refresh()) RefreshDirectory();
    req.safe_to_repeat = idempotency.has_value() && directory_->OneShard(keys);
    r = SendKeyRequest<TxnResult>(req, keys.front(), /*json_success=*/true);
  }
  if (r.ok() && !ParseTxnAnswer(r.body, r)) {
    // The transaction was decided, but this client cannot tell how.
    r.transport = Transport::kProtocolError;
    r.transport_error = r.endpoint + ": malformed transaction answer";
    r.indeterminate = true;
  }
  return r;
}

TxnListResult HttpClient::TxnList(size_t limit) {
  std::string target = "/v1/txns";
  if (limit > 0) target += "?limit=" + std::to_string(limit);
  auto r = Interpret<TxnListResult>(transport_->Send(GetRequest(target)), false);
  if (directory_ != nullptr) directory_->Observe(r, {});  // unrouted; may tell of a newer one
  if (r.ok() && !ParseTxnListBody(r.body, r)) {
    r.transport = Transport::kProtocolError;
    r.transport_error = r.endpoint + ": malformed transaction list";
  }
  return r;
}

}  // namespace kvd::rpc
