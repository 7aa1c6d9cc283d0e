// FakeHttpServer: a tiny scripted HTTP/1.1 server for client tests (test-only library
// kvd_rpc_client_testing). Listens on 127.0.0.1 with a port chosen by the OS, serves on its own
// thread and answers every request with what the handler returns. Keep-alive is supported, so
// tests can observe connection reuse. Beast stays inside the .cc (pimpl).
//
// Threading: the handler runs on the server thread; requests() and connections() are safe to call
// from any thread. The destructor stops the server and joins its thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rpc/http_client.h"

namespace kvd::rpc::testing {

struct FakeRequest {
  std::string method;
  std::string target;  // as received: path + query, still percent-encoded
  std::string body;
  std::vector<Header> headers;
  std::string HeaderValue(std::string_view name) const;  // "" when absent
};

struct FakeReply {
  enum class Action {
    kRespond,       // send the response below
    kHang,          // never answer this request (the client must time out)
    kCloseNoReply,  // close the connection without answering
    kDie,           // stop listening, then close the connection without answering (the server
                    // died with the request: a reconnect is refused)
  };
  Action action = Action::kRespond;
  int status = 200;
  std::string body;
  std::vector<Header> headers;
  bool close_after = false;  // close the connection after answering, without "Connection: close"

  // A JSON API error: {"error": {"code": code, "message": message}}.
  static FakeReply Error(int status, std::string code, std::string message);
  static FakeReply Json(int status, std::string body);
  static FakeReply Hang() { return WithAction(Action::kHang); }
  static FakeReply CloseNoReply() { return WithAction(Action::kCloseNoReply); }
  static FakeReply WithAction(Action action) {
    FakeReply r;
    r.action = action;
    return r;
  }
};

class FakeHttpServer {
 public:
  using Handler = std::function<FakeReply(const FakeRequest&)>;
  explicit FakeHttpServer(Handler handler);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  uint16_t port() const;
  std::string endpoint() const;  // "127.0.0.1:<port>"
  std::vector<FakeRequest> requests() const;
  int connections() const;  // connections accepted so far
  // Blocks until the server has closed at least n connections (no polling, no sleeping).
  void WaitForClosedConnections(int n) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The requests `server` received other than GET /v1/directory (the directory fetches of a client
// with smart routing), in order.
std::vector<FakeRequest> RequestsBesidesDirectory(const FakeHttpServer& server);

// "127.0.0.1:<port>" where nothing listens: a port the OS handed out, already released, so a
// connect is refused.
std::string RefusingEndpoint();

}  // namespace kvd::rpc::testing
