// HttpClient's lock calls (docs/api.md, "Locks"; the retry rules are in http_client.h, "Locks").
#include <string>

#include "rpc/client_directory.h"
#include "rpc/client_json.h"
#include "rpc/client_result.h"
#include "rpc/client_transport.h"
#include "rpc/http_client.h"
#include "rpc/text_codec.h"

namespace kvd::rpc {
namespace {

constexpr size_t kMaxOwnerBytes = 256;  // docs/api.md: owner 1 to 256 bytes

// A malformed answer to a successful call: the caller must not act on it.
template <typename R>
void MarkMalformed(R& r, std::string_view what) {
  r.transport = Transport::kProtocolError;
  r.transport_error = r.endpoint + ": malformed " + std::string(what);
}

}  // namespace

LockResult HttpClient::LockOperation(RawRequest& req, std::string_view name,
                                     std::optional<IdempotencyKey> idempotency) {
  LockResult failed;
  if (!TakeIdempotencyKey(idempotency, failed)) return failed;
  if (idempotency) {
    req.headers.push_back({"Idempotency-Key", idempotency->ToString()});
    req.safe_to_repeat = true;
  }
  LockResult r = SendKeyRequest<LockResult>(req, name, /*json_success=*/true);
  if (r.transport == Transport::kOk && (r.ok() || r.status == 409)) ApplyLockBody(r.body, r);
  if (r.ok() && req.method == "POST" && r.token == 0) MarkMalformed(r, "lock answer (no token)");
  return r;
}

LockResult HttpClient::LockAcquire(std::string_view name, std::string_view owner, int64_t ttl_ms,
                                   int64_t wait_ms, std::optional<IdempotencyKey> idempotency) {
  if (auto bad = CheckName<LockResult>(name, "lock name")) return *bad;
  if (owner.empty() || owner.size() > kMaxOwnerBytes || !IsValidUtf8(owner)) {
    return LocalFailure<LockResult>("invalid lock owner: want 1 to 256 bytes of UTF-8");
  }
  RawRequest req{.method = "POST",
                 .target = LockPath(name),
                 .body = AcquireRequestJson(owner, ttl_ms, wait_ms)};
  req.headers.push_back({"Content-Type", "application/json"});
  // The node may hold the request for wait_ms before it answers.
  if (wait_ms > 0)
    req.request_timeout = options_.request_timeout + std::chrono::milliseconds(wait_ms);
  return LockOperation(req, name, std::move(idempotency));
}

LockResult HttpClient::LockKeepalive(std::string_view name, uint64_t token,
                                     std::optional<IdempotencyKey> idempotency) {
  if (auto bad = CheckName<LockResult>(name, "lock name")) return *bad;
  RawRequest req{.method = "POST",
                 .target = LockPath(name) + "/keepalive",
                 .body = "{\"token\": " + std::to_string(token) + "}"};
  req.headers.push_back({"Content-Type", "application/json"});
  req.safe_to_repeat = true;  // acts only on the lease held with `token`
  return LockOperation(req, name, std::move(idempotency));
}

LockResult HttpClient::LockRelease(std::string_view name, uint64_t token,
                                   std::optional<IdempotencyKey> idempotency) {
  if (auto bad = CheckName<LockResult>(name, "lock name")) return *bad;
  RawRequest req{.method = "DELETE", .target = LockPath(name) + "?token=" + std::to_string(token)};
  req.safe_to_repeat = true;  // releases only the lock held with `token`
  return LockOperation(req, name, std::move(idempotency));
}

LockInfoResult HttpClient::LockGet(std::string_view name, bool stale) {
  if (auto bad = CheckName<LockInfoResult>(name, "lock name")) return *bad;
  RawRequest req = GetRequest(LockPath(name) + (stale ? "?consistency=stale" : ""));
  LockInfoResult r = SendKeyRequest<LockInfoResult>(req, name, /*json_success=*/false);
  if (r.ok() && !ParseLockInfoBody(r.body, r)) MarkMalformed(r, "lock");
  return r;
}

LockListResult HttpClient::LockList(std::string_view after, size_t limit, bool stale) {
  std::string target = "/v1/locks";
  char sep = '?';
  auto add = [&](std::string_view param, const std::string& value) {
    target += sep;
    target += param;
    target += '=';
    target += value;
    sep = '&';
  };
  if (!after.empty()) add("after", PercentEncode(after));
  if (limit > 0) add("limit", std::to_string(limit));
  if (stale) add("consistency", "stale");
  auto r = Interpret<LockListResult>(transport_->Send(GetRequest(target)), false);
  if (directory_ != nullptr) directory_->Observe(r, {});  // unrouted; may tell of a newer one
  if (r.ok() && !ParseLockListBody(r.body, r)) MarkMalformed(r, "lock list");
  return r;
}

}  // namespace kvd::rpc
