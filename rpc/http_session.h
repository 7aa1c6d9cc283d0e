// Internal to the HTTP server: the state shared by the listener and its connections, and the
// entry point of one connection (http_session.cc). Not part of the public interface; includes
// Asio.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "kv/service.h"
#include "rpc/http_metrics.h"
#include "rpc/http_router.h"
#include "rpc/http_server.h"

namespace kvd::rpc {

// Lets service callbacks, which may fire on node threads at any time (even after the server is
// gone), post to a connection only while the IO machinery exists. Stop() closes it first; a
// callback that finds it closed touches nothing of the server. Shared by the server and every
// outstanding callback.
struct ResponseGate {
  std::mutex mu;
  bool open = true;  // GUARDED_BY(mu)
};

// The connections waiting for a request header (fresh ones, keep-alive ones between requests, and
// slow ones still sending a header), oldest first: the ones closed to admit a new connection when
// the server is at max_connections. Thread-safe.
class IdleSessions {
 public:
  // 'evict' runs on the accepting thread, never under this object's lock. It must uncount the
  // connection (ServerContext::connections) at once and arrange for it to close; it returns false
  // if the connection was already gone, and then the next oldest is tried.
  using Evict = std::function<bool()>;

  uint64_t Add(Evict evict);     // returns a ticket; later tickets are younger
  void Remove(uint64_t ticket);  // no-op for a ticket already removed or evicted
  bool EvictOldest();            // false if no waiting connection could be evicted

 private:
  std::mutex mu_;
  uint64_t next_ticket_ = 1;           // GUARDED_BY(mu_)
  std::map<uint64_t, Evict> waiting_;  // GUARDED_BY(mu_), at most one entry per connection
};

// Owned by the server; outlives every connection (the IO context is destroyed first).
struct ServerContext {
  ServerContext(kv::KvService& service, HttpOptions opts)
      : options(std::move(opts)), router(service, options, metrics) {}

  const HttpOptions options;
  HttpMetrics metrics;
  HttpRouter router;  // borrows options and metrics, declared before it
  const std::shared_ptr<ResponseGate> gate = std::make_shared<ResponseGate>();
  std::atomic<int> connections{0};  // open connections, rejected ones included, evicted excluded
  IdleSessions idle;

  void Log(std::string_view message) const {
    if (options.log) options.log(message);
  }
};

// Serves one accepted connection until it closes; 'socket' must use a strand executor.
// 'context.connections' must already count it; the session uncounts it when it ends (or when it is
// evicted, whichever comes first). 'reject': answer the first request with 429 overloaded and
// close (over max_connections with no idle connection to evict).
void RunHttpSession(boost::asio::ip::tcp::socket socket, ServerContext& context, bool reject);

}  // namespace kvd::rpc
