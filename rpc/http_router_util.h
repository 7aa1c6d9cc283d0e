// Helpers shared by the router's files (http_router.cc, http_router_locks.cc); private to the HTTP
// front end.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "rpc/http_errors.h"
#include "rpc/http_router.h"
#include "rpc/http_url.h"

namespace kvd::rpc::router {

inline void RespondNow(const Responder& respond, HttpReply reply) {
  respond([reply = std::move(reply)] { return reply; });
}

inline HttpReply BadRequest(std::string_view message) {
  return ErrorReply(400, "invalid_argument", message);
}

// The directory the node routed by (docs/api.md, Directory and routing); 0: it has none yet.
inline HttpReply WithDirectoryVersion(HttpReply reply, uint64_t directory_version) {
  if (directory_version != 0) {
    reply.headers.emplace_back("X-Kv-Directory-Version", std::to_string(directory_version));
  }
  return reply;
}

// The X-Kv-Directory-Version request header: 0 when absent; nullopt when malformed or repeated.
inline std::optional<uint64_t> RequestDirectoryVersion(const HttpRequest& req) {
  if (req.directory_versions.empty()) return 0;
  if (req.directory_versions.size() > 1) return std::nullopt;
  return ParseUint64(req.directory_versions[0]);
}

inline constexpr std::string_view kBadDirectoryVersion =
    "X-Kv-Directory-Version must be one decimal integer from 0 to 2^64-1";

// ?consistency=: false (linearizable, the default) or true (stale); nullopt if malformed.
inline std::optional<bool> ParseStale(const Query& query) {
  const std::string* c = query.Find("consistency");
  if (c == nullptr || *c == "linearizable") return false;
  if (*c == "stale") return true;
  return std::nullopt;
}

// The request's Idempotency-Key into client_id/seq (both left as they are without one). Returns
// the 400 reply for a malformed or repeated key.
std::optional<HttpReply> ParseIdempotency(const HttpRequest& req, std::string& client_id,
                                          uint64_t& seq);

}  // namespace kvd::rpc::router
