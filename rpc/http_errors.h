// HttpReply, the transport-neutral response the router produces, and the mapping of failures to
// docs/api.md's error statuses and codes:
//
//   kv::ErrorCode       status  code                extras
//   kInvalidArgument    400     invalid_argument
//   kNotFound           404     not_found
//   kVersionMismatch    412     version_mismatch    "current_version"
//   kOverloaded         429     overloaded          Retry-After header
//   kUnavailable        503     unavailable         Retry-After header
//   kLockHeld           409     lock_held           "holder" (LockErrorReply)
//   kFenced             409     fenced
//   kConflict           409     conflict            (a transaction, or a write to a key a
//                                                   transaction holds, met another's intents
//                                                   until its deadline; nothing applied)
//   kTimeout            504     timeout             "indeterminate": true for writes (and lock
//                                                   operations and transactions), false for
//                                                   reads (and the transaction listing)
//   anything else       500     internal
//
// The HTTP layer adds: 400 bad_key / invalid_argument (malformed request), 404 no_route (unknown
// route; docs/api.md keeps not_found for missing keys and locks), 405 method_not_allowed (with
// Allow), 408 request_timeout (header or body too slow to arrive), 413 too_large, 431 too_large
// (headers), 429 overloaded (connection limit), 504 timeout (no answer within the request
// timeout). Every 429 and 503 carries Retry-After.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kv/service.h"
#include "rpc/http_json.h"

namespace kvd::rpc {

inline constexpr int kRetryAfterSeconds = 1;

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type
  std::string body;
  bool close = false;  // close the connection after this reply
};

HttpReply JsonReply(int status, std::string body);

// A JSON error body; 429 and 503 also get Retry-After.
HttpReply ErrorReply(int status, std::string_view code, std::string_view message,
                     const ErrorDetails& details = {});

// The reply for a service answer other than kOk ('message' may be empty: a default is used).
HttpReply ServiceErrorReply(kv::ErrorCode code, std::string_view message, bool is_write,
                            uint64_t current_version);

// The reply for a lock operation's or lock listing's answer other than kOk: as ServiceErrorReply
// (lock operations are writes: a 504 is indeterminate), with lock wording for not_found and the
// holder, when given, in a 409 lock_held.
HttpReply LockErrorReply(kv::ErrorCode code, std::string_view message, bool is_write,
                         const std::optional<kv::LockHolder>& holder);

// 504 for a request the service did not answer in time.
HttpReply TimeoutReply(bool is_write);

// 405 with the Allow header, e.g. allow = "GET, PUT, DELETE".
HttpReply MethodNotAllowedReply(std::string_view method, std::string_view allow);

}  // namespace kvd::rpc
