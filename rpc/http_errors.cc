#include "rpc/http_errors.h"

namespace kvd::rpc {

HttpReply JsonReply(int status, std::string body) {
  HttpReply reply;
  reply.status = status;
  reply.body = std::move(body);
  return reply;
}

HttpReply ErrorReply(int status, std::string_view code, std::string_view message,
                     const ErrorDetails& details) {
  HttpReply reply = JsonReply(status, ErrorJson(code, message, details));
  if (status == 429 || status == 503) {
    reply.headers.emplace_back("Retry-After", std::to_string(kRetryAfterSeconds));
  }
  return reply;
}

HttpReply ServiceErrorReply(kv::ErrorCode code, std::string_view message, bool is_write,
                            uint64_t current_version) {
  auto or_default = [&](std::string_view fallback) { return message.empty() ? fallback : message; };
  switch (code) {
    case kv::ErrorCode::kInvalidArgument:
      return ErrorReply(400, "invalid_argument", or_default("invalid argument"));
    case kv::ErrorCode::kNotFound:
      return ErrorReply(404, "not_found", or_default("key not found"));
    case kv::ErrorCode::kVersionMismatch: {
      ErrorDetails details;
      details.current_version = current_version;
      return ErrorReply(412, "version_mismatch", or_default("version precondition failed"),
                        details);
    }
    case kv::ErrorCode::kOverloaded:
      return ErrorReply(429, "overloaded", or_default("overloaded; retry later"));
    case kv::ErrorCode::kUnavailable:
      return ErrorReply(503, "unavailable", or_default("no quorum reachable; retry later"));
    case kv::ErrorCode::kTimeout: {
      ErrorDetails details;
      details.indeterminate = is_write;
      return ErrorReply(
          504, "timeout",
          or_default(is_write ? "timed out; the write may or may not have been applied"
                              : "timed out"),
          details);
    }
    case kv::ErrorCode::kLockHeld:
      return ErrorReply(409, "lock_held", or_default("the lock is held by another holder"));
    case kv::ErrorCode::kFenced:
      return ErrorReply(409, "fenced",
                        or_default("the fencing token is no longer current; nothing applied"));
    case kv::ErrorCode::kConflict:
      return ErrorReply(409, "conflict",
                        or_default("other transactions held intents on its keys until the "
                                   "deadline; nothing applied, retry"));
    case kv::ErrorCode::kOk:
      break;
  }
  return ErrorReply(500, "internal", "unexpected service answer");
}

HttpReply LockErrorReply(kv::ErrorCode code, std::string_view message, bool is_write,
                         const std::optional<kv::LockHolder>& holder) {
  if (code == kv::ErrorCode::kNotFound) {
    return ErrorReply(404, "not_found", message.empty() ? "lock not found" : message);
  }
  if (code == kv::ErrorCode::kLockHeld) {
    ErrorDetails details;
    details.holder = holder;
    return ErrorReply(409, "lock_held",
                      message.empty() ? "the lock is held by another holder" : message, details);
  }
  if (code == kv::ErrorCode::kFenced && message.empty()) {
    return ErrorReply(409, "fenced", "the lock is not held with this token; nothing applied");
  }
  return ServiceErrorReply(code, message, is_write, 0);
}

HttpReply TimeoutReply(bool is_write) {
  return ServiceErrorReply(kv::ErrorCode::kTimeout,
                           is_write ? "no answer within the request timeout; the write may or "
                                      "may not have been applied"
                                    : "no answer within the request timeout",
                           is_write, 0);
}

HttpReply MethodNotAllowedReply(std::string_view method, std::string_view allow) {
  HttpReply reply = ErrorReply(405, "method_not_allowed",
                               "method " + std::string(method.substr(0, 32)) +
                                   " not allowed here; allowed: " + std::string(allow));
  reply.headers.emplace_back("Allow", std::string(allow));
  return reply;
}

}  // namespace kvd::rpc
