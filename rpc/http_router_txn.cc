// The transaction routes of HttpRouter (docs/api.md, "Transactions"): POST /v1/txn and
// GET /v1/txns, over KvService::Txn and KvService::Txns. The bodies are http_txn_json.h's.
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "rpc/http_router.h"
#include "rpc/http_router_util.h"
#include "rpc/http_txn_json.h"
#include "rpc/http_url.h"
#include "rpc/lock_fence.h"

namespace kvd::rpc {
namespace {

using router::BadRequest;
using router::kBadDirectoryVersion;
using router::RequestDirectoryVersion;
using router::RespondNow;
using router::WithDirectoryVersion;

HttpReply TxnReply(const kv::TxnResponse& r) {
  // A transaction is a write: a 504 is indeterminate (it may have reached its commit point).
  if (r.code != kv::ErrorCode::kOk) return ServiceErrorReply(r.code, r.message, true, 0);
  HttpReply reply = JsonReply(200, TxnResultJson(r));
  reply.headers.emplace_back("X-Kv-Revision", std::to_string(r.revision));
  return reply;
}

}  // namespace

size_t MaxRequestBodyBytes(const HttpOptions& options, std::string_view method,
                           std::string_view target) {
  if (method == "POST" && SplitTarget(target).path == kTxnPath) {
    return options.max_txn_body_bytes;
  }
  return options.max_body_bytes;
}

HttpRoute HttpRouter::HandleTxn(HttpRequest& req, std::string_view query_string,
                                const Responder& respond) {
  auto fail = [&](HttpReply reply) {
    RespondNow(respond, std::move(reply));
    return HttpRoute::kTxn;
  };
  if (!query_string.empty()) return fail(BadRequest("POST /v1/txn takes no query parameters"));
  std::optional<uint64_t> directory_version = RequestDirectoryVersion(req);
  if (!directory_version) return fail(BadRequest(kBadDirectoryVersion));
  std::string client_id;
  uint64_t seq = 0;
  if (auto bad = router::ParseIdempotency(req, client_id, seq)) return fail(*bad);
  std::optional<kv::Fence> fence;
  if (req.fences.size() > 1) return fail(BadRequest("more than one X-Fence"));
  if (req.fences.size() == 1) {
    std::string error;
    std::optional<LockFence> parsed = LockFence::Parse(req.fences[0], &error);
    if (!parsed) return fail(BadRequest("X-Fence must be <lock>:<token>: " + error));
    fence = kv::Fence{std::move(parsed->lock), parsed->token};
  }
  // The session already refused a body over max_txn_body_bytes (MaxRequestBodyBytes); this holds
  // for a router driven without one.
  if (req.body.size() > options_.max_txn_body_bytes) {
    return fail(ErrorReply(
        413, "too_large",
        "transaction body larger than " + std::to_string(options_.max_txn_body_bytes) + " bytes"));
  }
  TxnBodyLimits limits;
  limits.max_key_bytes = options_.max_key_bytes;
  limits.max_value_bytes = options_.max_body_bytes;
  TxnBodyError body_error;
  std::optional<kv::TxnRequest> txn = ParseTxnBody(req.body, limits, &body_error);
  if (!txn) return fail(ErrorReply(body_error.status, body_error.code, body_error.message));
  req.body.clear();
  txn->fence = std::move(fence);
  txn->client_id = std::move(client_id);
  txn->seq = seq;
  txn->directory_version = *directory_version;

  service_.Txn(std::move(*txn), [respond](kv::TxnResponse r) {
    respond([r = std::move(r)] { return WithDirectoryVersion(TxnReply(r), r.directory_version); });
  });
  return HttpRoute::kTxn;
}

HttpRoute HttpRouter::HandleTxnList(const HttpRequest& req, std::string_view query_string,
                                    const Responder& respond) {
  auto fail = [&](std::string_view message) {
    RespondNow(respond, BadRequest(message));
    return HttpRoute::kTxnList;
  };
  std::string error;
  std::optional<Query> query = Query::Parse(query_string, &error);
  if (!query) return fail(error);
  if (const std::string* unknown = query->FirstUnknown({"limit"})) {
    return fail("unknown query parameter: " + unknown->substr(0, 64));
  }
  // Validated like every request's; the listing is not routed by it.
  if (!RequestDirectoryVersion(req)) return fail(kBadDirectoryVersion);
  kv::TxnListRequest list;
  list.limit = kDefaultTxnListLimit;
  if (const std::string* l = query->Find("limit")) {
    std::optional<uint64_t> limit = ParseUint64(*l);
    if (!limit || *limit == 0 || *limit > kMaxTxnListLimit) {
      return fail("limit must be an integer from 1 to " + std::to_string(kMaxTxnListLimit));
    }
    list.limit = static_cast<size_t>(*limit);
  }

  const size_t max_items = list.limit;
  service_.Txns(std::move(list), [respond, max_items](kv::TxnListResponse r) {
    respond([r = std::move(r), max_items] {
      HttpReply reply = r.code != kv::ErrorCode::kOk
                            ? ServiceErrorReply(r.code, r.message, false, 0)
                            : JsonReply(200, TxnListJson(r, max_items));
      return WithDirectoryVersion(std::move(reply), r.directory_version);
    });
  });
  return HttpRoute::kTxnList;
}

}  // namespace kvd::rpc
