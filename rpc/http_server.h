// HttpServer: the HTTP/1.1 front end of a node (docs/api.md), serving the v1 API over a
// kv::KvService. Built on Boost.Beast; Beast and Asio stay out of this header (pimpl) so that
// including it is cheap.
//
// Connections: HTTP/1.1 keep-alive. Requests on one connection are handled strictly one after
// another, so pipelined requests are answered in order (the next request is parsed only after the
// previous response is written). Each connection runs on its own strand; service callbacks, which
// arrive on node threads, are posted back onto it.
//
// Bounds (docs/security.md), and what happens at each:
//   - request body (the value) over max_body_bytes: 413 too_large, decided from Content-Length
//     before the body is read (and for chunked bodies once they pass the limit); the connection is
//     then closed, since its remaining bytes are unread.
//   - key over max_key_bytes (percent-decoded): 413 too_large (docs/api.md: "key or value over
//     the limit"); empty key: 400 bad_key.
//   - request line + headers over max_header_bytes: 431 too_large, connection closed.
//   - max_connections open connections: a new connection first evicts the connection that has
//     waited longest for a request header (a fresh connection that sent nothing or only part of a
//     header, or a keep-alive connection between requests), which is closed without a response,
//     so a real client always gets in while idle connections hold the slots. Only if no
//     connection is waiting for a header does the new connection's first request get 429
//     overloaded with Retry-After, then it is closed; beyond twice the limit new connections are
//     closed without a response. Keep max_connections (times two) below the process's file
//     descriptor limit (cli/kvd.cc derives it).
//   - a request whose service callback has not answered within request_timeout: 504 timeout,
//     "indeterminate": true for writes and lock operations (they may still be applied). A late
//     answer is dropped. A waiting lock acquire gets request_timeout + its wait_ms.
//   - lock acquire and keepalive bodies over 64 KiB: 413 too_large.
//   - POST /v1/txn: the body is bounded by max_txn_body_bytes instead of max_body_bytes (413 and
//     closed as above); its keys and values by the transaction bounds (rpc/http_txn_json.h: 400
//     or 413, connection kept).
//   - request header: a fresh connection must deliver its first request header within
//     header_timeout of being accepted; a keep-alive connection may wait idle_timeout for the
//     first byte of its next request, and then has header_timeout for the rest of the header.
//     Past the deadline: closed without a response if no byte of the request came, else 408
//     request_timeout (JSON error) and closed.
//   - request body: must arrive within request_timeout of the header, else 408 request_timeout
//     (JSON error) and closed.
//   - every 429 and 503 reply carries Retry-After (seconds, kRetryAfterSeconds).
//   - HEAD is served as GET without the body (headers, Content-Length included, only).
//   - scan: limit at most max_scan_limit; a scan reply is cut (with "more": true) once it holds
//     max_scan_response_bytes of keys and values.
//
// Thread-safety: Start() and Stop() must be called from one thread, never from a service callback
// or other handler of this server. port() is safe after Start(). The service must outlive the
// server; its callbacks may run after Stop() or even after the server is destroyed: they are
// then ignored.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace kvd::kv {
class KvService;
}

namespace kvd::rpc {

struct HttpOptions {
  std::string host = "127.0.0.1";  // IP address or resolvable name to listen on
  uint16_t port = 0;               // 0: the OS picks one; see HttpServer::port()
  int io_threads = 2;

  size_t max_body_bytes = 1 << 20;      // values; docs/api.md: default 1 MiB
  size_t max_txn_body_bytes = 8 << 20;  // POST /v1/txn bodies (JSON); docs/api.md: 8 MiB
  size_t max_key_bytes = 4096;          // docs/api.md: 1 to 4096 bytes decoded
  size_t max_header_bytes = 16 << 10;
  int max_connections = 1024;
  size_t max_scan_limit = 1000;  // largest accepted ?limit=; the default is 100
  size_t max_scan_response_bytes = 16 << 20;

  std::chrono::milliseconds request_timeout{10'000};  // service answer; also the body's arrival
  std::chrono::milliseconds idle_timeout{60'000};     // keep-alive: until the next request begins
  std::chrono::milliseconds header_timeout{10'000};   // a request header, once begun (see above)

  // Where the server reports trouble that no client sees (accept failures, exceptions caught at
  // the edge). Called from IO threads. Empty: dropped.
  std::function<void(std::string_view)> log;
};

class HttpServer {
 public:
  // Borrows 'service', which must outlive this object.
  HttpServer(kv::KvService& service, HttpOptions options);
  ~HttpServer();  // Stop()s.

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the IO threads. Returns false (with the reason in *error when given)
  // if the address cannot be bound, or if the server was already started.
  [[nodiscard]] bool Start(std::string* error = nullptr);

  // Closes the listener and every connection, including those waiting for the service, and joins
  // the IO threads. Prompt: it does not wait for outstanding service callbacks. Idempotent. A
  // stopped server cannot be started again.
  void Stop();

  // The bound port (the OS-chosen one when options.port was 0). 0 before Start().
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvd::rpc
