// ClientTransport: the network half of HttpClient (private to rpc/). Sends one HTTP/1.1 request
// over keep-alive connections (one per endpoint) with connect/request timeouts, endpoint failover
// and the retry policy documented in http_client.h. Knows nothing about the kvd API beyond
// which statuses mean "nothing was applied" (429, 503) and "outcome unknown" (504).
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
  std::string method;  // "GET", "PUT", ...
  std::string target;  // encoded path + query
  std::string body;
  std::vector<Header> headers;
  // True when repeating the request after an unknown outcome cannot apply it twice
  // (GET/HEAD, or a write with an Idempotency-Key).
  bool safe_to_repeat = false;
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
