// ClientTransport: the network half of HttpClient (private to rpc/). Sends one HTTP/1.1 request
// over keep-alive connections (one per endpoint) with connect/request timeouts, endpoint failover
// and the retry policy documented in http_client.h. A request may name endpoints to try first
// (smart routing); they choose only where its first attempt goes, never whether it is retried.
// Knows nothing about the kvd API beyond which statuses mean "nothing was applied" (429, 503) and
// "outcome unknown" (504).
// Beast and Asio stay inside client_transport.cc.
//
// Threading: thread-compatible (one caller at a time), like HttpClient.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rpc/http_client.h"

namespace kvd::rpc {

struct RawRequest {
  std::string method{};  // "GET", "PUT", ...
  std::string target{};  // encoded path + query
  std::string body{};
  std::vector<Header> headers{};
  // True when repeating the request after an unknown outcome cannot apply it twice
  // (GET/HEAD, or a write with an Idempotency-Key).
  bool safe_to_repeat = false;
  // Smart routing: "host:port" endpoints (not necessarily configured ones) tried first, in order,
  // by the first attempt only; if none of them accepts the request, the attempt goes on to the
  // configured endpoints not tried yet, as usual. Later attempts ignore it.
  std::vector<std::string> route{};
  int max_attempts = 0;  // > 0: overrides ClientOptions::max_attempts for this request
  std::chrono::milliseconds request_timeout{0};  // > 0: overrides ClientOptions::request_timeout
};

struct RawResponse {
  Transport transport = Transport::kProtocolError;
  std::string transport_error;
  bool maybe_applied = false;  // the request may have reached a server without a full answer
  int status = 0;
  std::vector<Header> headers;  // names as received
  std::string body;
  std::string endpoint;
  int attempts = 0;

  // First header with this name (case-insensitive), or nullptr.
  const std::string* FindHeader(std::string_view name) const;
};

// First header with this name (case-insensitive), or nullptr.
const std::string* FindHeader(const std::vector<Header>& headers, std::string_view name);

// Connections to endpoints named only by a route are pooled too, at most this many; the least
// recently used one is closed to make room.
inline constexpr size_t kMaxRoutedConnections = 32;
// Entries of a route past this many are ignored.
inline constexpr size_t kMaxRouteLength = 8;

class ClientTransport {
 public:
  explicit ClientTransport(const ClientOptions& options);
  ~ClientTransport();
  ClientTransport(const ClientTransport&) = delete;
  ClientTransport& operator=(const ClientTransport&) = delete;

  // Never throws; all failures are in the response.
  RawResponse Send(const RawRequest& request);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvd::rpc
