// The lock routes of HttpRouter (docs/api.md, "Locks"): acquire, keepalive, release, one lock and
// the listing, over KvService::Lock and KvService::Locks.
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "rpc/http_router.h"
#include "rpc/http_router_util.h"
#include "rpc/http_url.h"

namespace kvd::rpc {
namespace {

using router::BadRequest;
using router::kBadDirectoryVersion;
using router::ParseStale;
using router::RequestDirectoryVersion;
using router::RespondNow;
using router::WithDirectoryVersion;

constexpr std::string_view kKeepaliveSuffix = "keepalive";
constexpr size_t kDefaultLockListLimit = 100;
constexpr size_t kMaxLockListLimit = 1000;

HttpReply LockOpReply(const kv::LockResponse& r, kv::LockOp op) {
  if (r.code != kv::ErrorCode::kOk) {
    return LockErrorReply(r.code, r.message, /*is_write=*/true, r.holder);
  }
  HttpReply reply =
      JsonReply(200, op == kv::LockOp::kRelease ? ReleaseResultJson(r.revision)
                                                : LockResultJson(r.token, r.ttl_ms, r.revision));
  reply.headers.emplace_back("X-Kv-Revision", std::to_string(r.revision));
  reply.headers.emplace_back("X-Kv-Shard", std::to_string(r.shard));
  return reply;
}

HttpReply LockGetReply(const kv::LockListResponse& r) {
  if (r.code != kv::ErrorCode::kOk) return LockErrorReply(r.code, r.message, false, std::nullopt);
  if (r.locks.empty()) return ErrorReply(404, "not_found", "lock not found");
  HttpReply reply = JsonReply(200, LockInfoJson(r.locks.front()));
  reply.headers.emplace_back("X-Kv-Shard", std::to_string(r.locks.front().shard));
  return reply;
}

}  // namespace

HandledRequest HttpRouter::HandleLocks(HttpRequest& req, std::string_view rest,
                                       std::string_view query, const Responder& respond) {
  auto not_allowed = [&](std::string_view allow) {
    RespondNow(respond, MethodNotAllowedReply(req.method, allow));
    return HttpRoute::kOther;
  };
  if (rest.empty()) {  // /v1/locks
    if (req.method != "GET") return not_allowed("GET");
    return HandleLockList(req, "", query, respond);
  }
  rest.remove_prefix(1);  // the '/' after /v1/locks
  std::string_view encoded = rest;
  bool keepalive = false;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash + 1) != kKeepaliveSuffix) {
      RespondNow(respond, ErrorReply(404, "no_route",
                                     "no such route (encode '/' in a lock name "
                                     "as %2F)"));
      return HttpRoute::kOther;
    }
    encoded = rest.substr(0, slash);
    keepalive = true;
  }
  HttpRoute route;
  if (keepalive) {
    if (req.method != "POST") return not_allowed("POST");
    route = HttpRoute::kLockKeepalive;
  } else if (req.method == "GET") {
    route = HttpRoute::kLockGet;
  } else if (req.method == "POST") {
    route = HttpRoute::kLockAcquire;
  } else if (req.method == "DELETE") {
    route = HttpRoute::kLockRelease;
  } else {
    return not_allowed("GET, POST, DELETE");
  }
  auto fail = [&](HttpReply reply) {
    RespondNow(respond, std::move(reply));
    return route;
  };
  std::optional<std::string> name = PercentDecode(encoded, /*plus_is_space=*/false);
  if (!name) return fail(ErrorReply(400, "bad_key", "invalid percent-encoding in the lock name"));
  if (name->empty()) return fail(ErrorReply(400, "bad_key", "empty lock name"));
  if (name->size() > options_.max_key_bytes) {
    return fail(
        ErrorReply(413, "too_large",
                   "lock name longer than " + std::to_string(options_.max_key_bytes) + " bytes"));
  }
  if (route == HttpRoute::kLockGet) return HandleLockList(req, std::move(*name), query, respond);
  return HandleLockOp(req, std::move(*name), keepalive, query, respond);
}

HandledRequest HttpRouter::HandleLockOp(HttpRequest& req, std::string name, bool keepalive,
                                        std::string_view query_string, const Responder& respond) {
  kv::LockRequest lock;
  lock.name = std::move(name);
  lock.op = keepalive ? kv::LockOp::kKeepalive
                      : (req.method == "DELETE" ? kv::LockOp::kRelease : kv::LockOp::kAcquire);
  const HttpRoute route = lock.op == kv::LockOp::kAcquire     ? HttpRoute::kLockAcquire
                          : lock.op == kv::LockOp::kKeepalive ? HttpRoute::kLockKeepalive
                                                              : HttpRoute::kLockRelease;
  auto fail = [&](HttpReply reply) {
    RespondNow(respond, std::move(reply));
    return route;
  };
  std::string error;
  std::optional<Query> query = Query::Parse(query_string, &error);
  if (!query) return fail(BadRequest(error));
  if (lock.op == kv::LockOp::kRelease) {
    if (const std::string* unknown = query->FirstUnknown({"token"})) {
      return fail(BadRequest("unknown query parameter: " + unknown->substr(0, 64)));
    }
    const std::string* token = query->Find("token");
    std::optional<uint64_t> parsed = token == nullptr ? std::nullopt : ParseUint64(*token);
    if (!parsed || *parsed == 0) {
      return fail(BadRequest("release needs ?token=T, T an integer from 1 to 2^64-1"));
    }
    lock.token = *parsed;
  } else if (const std::string* unknown = query->FirstUnknown({})) {
    return fail(BadRequest("unknown query parameter: " + unknown->substr(0, 64)));
  }
  std::optional<uint64_t> directory_version = RequestDirectoryVersion(req);
  if (!directory_version) return fail(BadRequest(kBadDirectoryVersion));
  lock.directory_version = *directory_version;
  if (auto bad = router::ParseIdempotency(req, lock.client_id, lock.seq)) return fail(*bad);

  if (lock.op != kv::LockOp::kRelease) {
    if (req.body.size() > kMaxLockBodyBytes) {
      return fail(ErrorReply(
          413, "too_large",
          "lock request body larger than " + std::to_string(kMaxLockBodyBytes) + " bytes"));
    }
    BodyError body_error;
    if (lock.op == kv::LockOp::kAcquire) {
      std::optional<AcquireBody> body = ParseAcquireBody(req.body, &body_error);
      if (!body) return fail(ErrorReply(400, body_error.code, body_error.message));
      lock.owner = std::move(body->owner);
      lock.ttl_ms = body->ttl_ms;
      lock.wait_ms = body->wait_ms;
    } else {
      std::optional<uint64_t> token = ParseKeepaliveBody(req.body, &body_error);
      if (!token) return fail(ErrorReply(400, body_error.code, body_error.message));
      lock.token = *token;
    }
  }

  const kv::LockOp op = lock.op;
  const auto extra_wait = std::chrono::milliseconds(lock.wait_ms);
  service_.Lock(std::move(lock), [respond, op](kv::LockResponse r) {
    respond([r = std::move(r), op] {
      return WithDirectoryVersion(LockOpReply(r, op), r.directory_version);
    });
  });
  return HandledRequest(route, extra_wait);
}

HttpRoute HttpRouter::HandleLockList(const HttpRequest& req, std::string name,
                                     std::string_view query_string, const Responder& respond) {
  const bool one = !name.empty();
  const HttpRoute route = one ? HttpRoute::kLockGet : HttpRoute::kLockList;
  auto fail = [&](std::string_view message) {
    RespondNow(respond, BadRequest(message));
    return route;
  };
  std::string error;
  std::optional<Query> query = Query::Parse(query_string, &error);
  if (!query) return fail(error);
  const std::string* unknown = one ? query->FirstUnknown({"consistency"})
                                   : query->FirstUnknown({"consistency", "limit", "after"});
  if (unknown != nullptr) return fail("unknown query parameter: " + unknown->substr(0, 64));
  kv::LockListRequest list;
  list.name = std::move(name);
  list.limit = kDefaultLockListLimit;
  std::optional<uint64_t> directory_version = RequestDirectoryVersion(req);
  if (!directory_version) return fail(kBadDirectoryVersion);
  list.directory_version = *directory_version;
  std::optional<bool> stale = ParseStale(*query);
  if (!stale) return fail("consistency must be stale or linearizable");
  list.stale = *stale;
  if (const std::string* a = query->Find("after")) {
    if (a->size() > options_.max_key_bytes) {
      return fail("after is a lock name: at most " + std::to_string(options_.max_key_bytes) +
                  " bytes");
    }
    list.after = *a;
  }
  if (const std::string* l = query->Find("limit")) {
    std::optional<uint64_t> limit = ParseUint64(*l);
    if (!limit || *limit == 0 || *limit > kMaxLockListLimit) {
      return fail("limit must be an integer from 1 to " + std::to_string(kMaxLockListLimit));
    }
    list.limit = static_cast<size_t>(*limit);
  }

  const size_t max_items = list.limit;
  service_.Locks(std::move(list), [respond, one, max_items](kv::LockListResponse r) {
    respond([r = std::move(r), one, max_items] {
      HttpReply reply;
      if (one) {
        reply = LockGetReply(r);
      } else if (r.code != kv::ErrorCode::kOk) {
        reply = LockErrorReply(r.code, r.message, false, std::nullopt);
      } else {
        reply = JsonReply(200, LockListJson(r, max_items));
      }
      return WithDirectoryVersion(std::move(reply), r.directory_version);
    });
  });
  return route;
}

}  // namespace kvd::rpc
