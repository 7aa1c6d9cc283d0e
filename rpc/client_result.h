// How HttpClient turns a RawResponse into a Result (private to rpc/; shared by http_client.cc and
// http_client_locks.cc).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "rpc/client_transport.h"
#include "rpc/http_client.h"

namespace kvd::rpc {

// Fills the Result part of an answer: transport, status, the X-Kv-* headers, Retry-After, the body
// and, for an error (or a 2xx when json_success), the JSON error and write fields.
void FillResult(RawResponse raw, bool json_success, Result& r);

template <typename R>
R Interpret(RawResponse raw, bool json_success) {
  R r;
  FillResult(std::move(raw), json_success, r);
  return r;
}

// A GET: safe to repeat after an unknown outcome.
inline RawRequest GetRequest(std::string target) {
  return RawRequest{.method = "GET", .target = std::move(target), .safe_to_repeat = true};
}

// A name the server would reject anyway (empty); answered locally as the server would (400
// bad_key) so no request is sent to a path that means something else ("/v1/kv/" is not a key).
template <typename R>
std::optional<R> CheckName(std::string_view name, std::string_view what) {
  if (!name.empty()) return std::nullopt;
  R r;
  r.transport = Transport::kOk;
  r.status = 400;
  r.error_code = "bad_key";
  r.error_message = std::string(what) + " must not be empty (checked by the client)";
  return r;
}

// A request the client refuses to send: kProtocolError with `why`, nothing sent.
template <typename R>
R LocalFailure(std::string why) {
  R r;
  r.transport = Transport::kProtocolError;
  r.transport_error = std::move(why);
  return r;
}

}  // namespace kvd::rpc
