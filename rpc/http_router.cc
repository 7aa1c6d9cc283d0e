#include "rpc/http_router.h"

#include <optional>
#include <string_view>
#include <utility>

#include "rpc/http_router_util.h"
#include "rpc/http_url.h"
#include "rpc/idempotency_key.h"
#include "rpc/lock_fence.h"

namespace kvd::rpc {

std::optional<HttpReply> router::ParseIdempotency(const HttpRequest& req, std::string& client_id,
                                                  uint64_t& seq) {
  if (req.idempotency_keys.size() > 1) return BadRequest("more than one Idempotency-Key");
  if (req.idempotency_keys.empty()) return std::nullopt;
  std::string error;
  std::optional<IdempotencyKey> idempotency =
      IdempotencyKey::Parse(req.idempotency_keys[0], &error);
  if (!idempotency) return BadRequest("Idempotency-Key must be <client-id>:<seq>: " + error);
  client_id = std::move(idempotency->client_id);
  seq = idempotency->seq;
  return std::nullopt;
}

namespace {

using router::BadRequest;
using router::kBadDirectoryVersion;
using router::ParseStale;
using router::RequestDirectoryVersion;
using router::RespondNow;
using router::WithDirectoryVersion;

constexpr std::string_view kLocksPath = "/v1/locks";

constexpr std::string_view kKvPrefix = "/v1/kv/";
constexpr size_t kDefaultScanLimit = 100;

void AddKeyHeaders(HttpReply& reply, uint64_t version, uint64_t revision, uint64_t shard) {
  reply.headers.emplace_back("X-Kv-Version", std::to_string(version));
  reply.headers.emplace_back("X-Kv-Revision", std::to_string(revision));
  reply.headers.emplace_back("X-Kv-Shard", std::to_string(shard));
}

HttpReply WriteReply(const kv::WriteResponse& r, bool is_delete) {
  if (r.code != kv::ErrorCode::kOk) {
    return ServiceErrorReply(r.code, r.message, /*is_write=*/true, r.current_version);
  }
  HttpReply reply = JsonReply(200, is_delete ? DeleteResultJson(r.deleted, r.revision)
                                             : PutResultJson(r.version, r.revision));
  AddKeyHeaders(reply, r.version, r.revision, r.shard);
  return reply;
}

HttpReply ReadReply(kv::ReadResponse& r) {
  if (r.code != kv::ErrorCode::kOk) return ServiceErrorReply(r.code, r.message, false, 0);
  if (!r.record) return ErrorReply(404, "not_found", "key not found");
  HttpReply reply;
  reply.content_type = "application/octet-stream";
  AddKeyHeaders(reply, r.record->version(), r.record->revision(), r.shard);
  reply.headers.emplace_back("X-Kv-Applied-Index", std::to_string(r.applied_index));
  reply.body = std::move(*r.record->mutable_value());
  return reply;
}

}  // namespace

HttpRouter::HttpRouter(kv::KvService& service, const HttpOptions& options,
                       const HttpMetrics& metrics)
    : service_(service), options_(options), metrics_(metrics) {}

HandledRequest HttpRouter::Handle(HttpRequest req, const Responder& respond) {
  auto [path, query] = SplitTarget(req.target);
  const bool get = req.method == "GET";
  auto only_get = [&](HttpRoute route, auto&& make) {
    if (!get) {
      RespondNow(respond, MethodNotAllowedReply(req.method, "GET"));
      return HttpRoute::kOther;
    }
    if (!query.empty()) {
      RespondNow(respond, BadRequest("this route takes no query parameters"));
      return route;
    }
    RespondNow(respond, make());
    return route;
  };

  if (path.starts_with(kKvPrefix)) {
    return HandleKey(req, path.substr(kKvPrefix.size()), query, respond);
  }
  if (path == kLocksPath || path.starts_with("/v1/locks/")) {
    return HandleLocks(req, path.substr(kLocksPath.size()), query, respond);
  }
  if (path == kTxnPath) {
    if (req.method != "POST") {
      RespondNow(respond, MethodNotAllowedReply(req.method, "POST"));
      return HttpRoute::kOther;
    }
    return HandleTxn(req, query, respond);
  }
  if (path == kTxnsPath) {
    if (!get) {
      RespondNow(respond, MethodNotAllowedReply(req.method, "GET"));
      return HttpRoute::kOther;
    }
    return HandleTxnList(req, query, respond);
  }
  if (path == "/v1/kv") {
    if (!get) {
      RespondNow(respond, MethodNotAllowedReply(req.method, "GET"));
      return HttpRoute::kOther;
    }
    return HandleScan(req, query, respond);
  }
  if (path == "/healthz") {
    return only_get(HttpRoute::kHealthz, [] { return JsonReply(200, StatusJson("ok")); });
  }
  if (path == "/readyz") {
    return only_get(HttpRoute::kReadyz, [&] {
      if (service_.IsReady()) return JsonReply(200, StatusJson("ready"));
      return ErrorReply(503, "unavailable", "no leader known for some shard of this node");
    });
  }
  if (path == "/v1/cluster") {
    return only_get(HttpRoute::kCluster, [&] {
      kv::ClusterStatus status = service_.Status();
      if (status.directory_version == 0) status.directory_version = service_.Directory().version;
      return JsonReply(200, ClusterJson(status));
    });
  }
  if (path == "/v1/directory") {
    return only_get(HttpRoute::kDirectory, [&] {
      kv::DirectoryView directory = service_.Directory();
      if (directory.version == 0) {
        return ErrorReply(503, "unavailable", "this node does not know the directory yet");
      }
      return JsonReply(200, DirectoryJson(directory));
    });
  }
  if (path == "/metrics") {
    return only_get(HttpRoute::kMetrics, [&] {
      HttpReply reply = JsonReply(200, service_.Metrics());
      if (!reply.body.empty() && reply.body.back() != '\n') reply.body.push_back('\n');
      reply.body += metrics_.Render();
      reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
      return reply;
    });
  }
  RespondNow(respond, ErrorReply(404, "no_route", "no such route"));
  return HttpRoute::kOther;
}

HttpRoute HttpRouter::HandleKey(HttpRequest& req, std::string_view encoded_key,
                                std::string_view query_string, const Responder& respond) {
  HttpRoute route;
  if (req.method == "GET") {
    route = HttpRoute::kKvGet;
  } else if (req.method == "PUT") {
    route = HttpRoute::kKvPut;
  } else if (req.method == "DELETE") {
    route = HttpRoute::kKvDelete;
  } else {
    RespondNow(respond, MethodNotAllowedReply(req.method, "GET, PUT, DELETE"));
    return HttpRoute::kOther;
  }
  auto fail = [&](HttpReply reply) {
    RespondNow(respond, std::move(reply));
    return route;
  };

  std::optional<std::string> key = PercentDecode(encoded_key, /*plus_is_space=*/false);
  if (!key) return fail(ErrorReply(400, "bad_key", "invalid percent-encoding in the key"));
  if (key->empty()) return fail(ErrorReply(400, "bad_key", "empty key"));
  if (key->size() > options_.max_key_bytes) {
    return fail(ErrorReply(413, "too_large",
                           "key longer than " + std::to_string(options_.max_key_bytes) + " bytes"));
  }
  std::string error;
  std::optional<Query> query = Query::Parse(query_string, &error);
  if (!query) return fail(BadRequest(error));
  std::optional<uint64_t> directory_version = RequestDirectoryVersion(req);
  if (!directory_version) return fail(BadRequest(kBadDirectoryVersion));

  if (route == HttpRoute::kKvGet) {
    if (const std::string* unknown = query->FirstUnknown({"consistency"})) {
      return fail(BadRequest("unknown query parameter: " + unknown->substr(0, 64)));
    }
    std::optional<bool> stale = ParseStale(*query);
    if (!stale) return fail(BadRequest("consistency must be stale or linearizable"));
    kv::ReadRequest read{
        .key = std::move(*key), .stale = *stale, .directory_version = *directory_version};
    service_.Read(std::move(read), [respond](kv::ReadResponse r) {
      respond([r = std::move(r)]() mutable {
        return WithDirectoryVersion(ReadReply(r), r.directory_version);
      });
    });
    return route;
  }

  kv::WriteRequest write;
  write.key = std::move(*key);
  write.is_delete = route == HttpRoute::kKvDelete;
  write.directory_version = *directory_version;
  if (const std::string* unknown = query->FirstUnknown({"if_version"})) {
    return fail(BadRequest("unknown query parameter: " + unknown->substr(0, 64)));
  }
  if (const std::string* v = query->Find("if_version")) {
    write.if_version = ParseUint64(*v);
    if (!write.if_version) return fail(BadRequest("if_version must be a non-negative integer"));
  }
  if (auto bad = router::ParseIdempotency(req, write.client_id, write.seq)) return fail(*bad);
  if (req.fences.size() > 1) return fail(BadRequest("more than one X-Fence"));
  if (req.fences.size() == 1) {
    std::optional<LockFence> fence = LockFence::Parse(req.fences[0], &error);
    if (!fence) return fail(BadRequest("X-Fence must be <lock>:<token>: " + error));
    write.fence = kv::Fence{std::move(fence->lock), fence->token};
  }
  if (!write.is_delete) write.value = std::move(req.body);

  const bool is_delete = write.is_delete;
  service_.Write(std::move(write), [respond, is_delete](kv::WriteResponse r) {
    respond([r = std::move(r), is_delete] {
      return WithDirectoryVersion(WriteReply(r, is_delete), r.directory_version);
    });
  });
  return route;
}

HttpRoute HttpRouter::HandleScan(const HttpRequest& req, std::string_view query_string,
                                 const Responder& respond) {
  auto fail = [&](std::string_view message) {
    RespondNow(respond, BadRequest(message));
    return HttpRoute::kKvScan;
  };
  std::string error;
  std::optional<Query> query = Query::Parse(query_string, &error);
  if (!query) return fail(error);
  if (const std::string* unknown =
          query->FirstUnknown({"prefix", "after", "limit", "consistency"})) {
    return fail("unknown query parameter: " + unknown->substr(0, 64));
  }
  kv::ScanRequest scan;
  std::optional<uint64_t> directory_version = RequestDirectoryVersion(req);
  if (!directory_version) return fail(kBadDirectoryVersion);
  scan.directory_version = *directory_version;
  scan.limit = kDefaultScanLimit;
  if (const std::string* p = query->Find("prefix")) scan.prefix = *p;
  if (const std::string* a = query->Find("after")) scan.after = *a;
  if (scan.prefix.size() > options_.max_key_bytes || scan.after.size() > options_.max_key_bytes) {
    return fail("prefix and after are keys: at most " + std::to_string(options_.max_key_bytes) +
                " bytes");
  }
  if (const std::string* l = query->Find("limit")) {
    std::optional<uint64_t> limit = ParseUint64(*l);
    if (!limit || *limit == 0 || *limit > options_.max_scan_limit) {
      return fail("limit must be an integer from 1 to " + std::to_string(options_.max_scan_limit));
    }
    scan.limit = static_cast<size_t>(*limit);
  }
  std::optional<bool> stale = ParseStale(*query);
  if (!stale) return fail("consistency must be stale or linearizable");
  scan.stale = *stale;

  const size_t max_items = scan.limit;
  const size_t max_bytes = options_.max_scan_response_bytes;
  service_.Scan(std::move(scan), [respond, max_items, max_bytes](kv::ScanResponse r) {
    respond([r = std::move(r), max_items, max_bytes] {
      HttpReply reply = r.code != kv::ErrorCode::kOk
                            ? ServiceErrorReply(r.code, r.message, false, 0)
                            : JsonReply(200, ScanJson(r, max_items, max_bytes));
      return WithDirectoryVersion(std::move(reply), r.directory_version);
    });
  });
  return HttpRoute::kKvScan;
}

}  // namespace kvd::rpc
