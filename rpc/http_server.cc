#include "rpc/http_server.h"

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <exception>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "rpc/http_session.h"

namespace kvd::rpc {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// After a failed accept (e.g. out of file descriptors) wait before the next, instead of spinning.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

}  // namespace

struct HttpServer::Impl {
  Impl(kv::KvService& service, HttpOptions options) : context(service, std::move(options)) {}

  void Accept() {
    acceptor->async_accept(net::make_strand(*io),
                           [this](const boost::system::error_code& ec, auto socket) {
                             OnAccept(ec, tcp::socket(std::move(socket)));
                           });
  }

  void OnAccept(const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (ec) {
      context.Log("HTTP accept failed: " + ec.message());
      accept_retry->expires_after(kAcceptRetryDelay);
      accept_retry->async_wait([this](const boost::system::error_code& wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    const int max = context.options.max_connections;
    int open = context.connections.load();
    // At the limit, the connection that has waited longest for a request header makes room
    // (it is uncounted at once and closed on its strand); only when none waits is this one refused.
    if (open >= max && context.idle.EvictOldest()) open = context.connections.load();
    if (open >= max) context.metrics.ConnectionRejected();
    if (open >= 2 * max) {
      boost::system::error_code ignored;
      socket.close(ignored);  // far over the limit: not even a 429
    } else {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      context.connections.fetch_add(1);
      RunHttpSession(std::move(socket), context, /*reject=*/open >= max);
    }
    Accept();
  }

  void Run() {
    for (;;) {
      try {
        io->run();
        return;
      } catch (const std::exception& e) {  // the edge: never let a handler end the thread
        context.Log(std::string("exception in an HTTP handler: ") + e.what());
      }
    }
  }

  ServerContext context;  // first: outlives the IO context and every session
  std::unique_ptr<net::io_context> io;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<net::steady_timer> accept_retry;
  std::vector<std::thread> threads;
  std::atomic<uint16_t> port{0};
  bool started = false;
  bool stopped = false;
};

HttpServer::HttpServer(kv::KvService& service, HttpOptions options)
    : impl_(std::make_unique<Impl>(service, std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

bool HttpServer::Start(std::string* error) {
  auto fail = [&](std::string message) {
    if (error != nullptr) *error = std::move(message);
    return false;
  };
  Impl& s = *impl_;
  if (s.started) return fail("the HTTP server was already started");
  s.started = true;
  const HttpOptions& options = s.context.options;
  const int threads = std::max(1, options.io_threads);
  try {
    s.io = std::make_unique<net::io_context>(threads);
    tcp::resolver resolver(*s.io);
    auto endpoints = resolver.resolve(options.host, std::to_string(options.port),
                                      tcp::resolver::passive | tcp::resolver::numeric_service);
    tcp::endpoint endpoint = endpoints.begin()->endpoint();
    s.acceptor = std::make_unique<tcp::acceptor>(*s.io);
    s.acceptor->open(endpoint.protocol());
    s.acceptor->set_option(net::socket_base::reuse_address(true));
    s.acceptor->bind(endpoint);
    s.acceptor->listen(net::socket_base::max_listen_connections);
    s.port = s.acceptor->local_endpoint().port();
  } catch (const std::exception& e) {
    s.acceptor.reset();
    s.io.reset();
    s.stopped = true;
    return fail("HTTP listen on " + options.host + ":" + std::to_string(options.port) +
                " failed: " + e.what());
  }
  s.accept_retry = std::make_unique<net::steady_timer>(*s.io);
  s.work.emplace(s.io->get_executor());
  s.Accept();
  for (int i = 0; i < threads; ++i) s.threads.emplace_back([&s] { s.Run(); });
  return true;
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  if (!s.io) return;  // never started
  {
    // From here on no service callback touches the IO context (http_session.h).
    std::lock_guard lock(s.context.gate->mu);
    s.context.gate->open = false;
  }
  s.io->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  s.work.reset();
  s.accept_retry.reset();
  s.acceptor.reset();  // closes the listener
  // Destroys every pending handler and with them every session, closing its socket.
  s.io.reset();
}

uint16_t HttpServer::port() const { return impl_->port.load(); }

}  // namespace kvd::rpc
