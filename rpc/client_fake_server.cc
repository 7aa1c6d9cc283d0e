#include "rpc/client_fake_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "rpc/client_transport.h"

namespace kvd::rpc::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct State {
  FakeHttpServer::Handler handler;
  mutable std::mutex mu;
  std::vector<FakeRequest> requests;  // guarded by mu
  int connections = 0;                // guarded by mu
  int closed = 0;                     // guarded by mu
  std::condition_variable closed_cv;
  std::function<void()> stop_listening;  // on the server thread
};

// One accepted connection. Shared ownership because the pending Asio handlers keep it alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, State& state) : socket_(std::move(socket)), state_(state) {}

  void Read() {
    request_ = {};
    http::async_read(socket_, buffer_, request_,
                     [self = shared_from_this()](error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(error_code ec) {
    if (ec) return Close();
    FakeRequest req;
    req.method = std::string(request_.method_string());
    req.target = std::string(request_.target());
    req.body = request_.body();
    for (const auto& f : request_) {
      req.headers.push_back({std::string(f.name_string()), std::string(f.value())});
    }
    {
      std::lock_guard lock(state_.mu);
      state_.requests.push_back(req);
    }
    FakeReply reply = state_.handler(req);
    if (reply.action == FakeReply::Action::kHang) return Read();  // waits for the client to leave
    if (reply.action == FakeReply::Action::kCloseNoReply) return Close();
    if (reply.action == FakeReply::Action::kDie) {
      state_.stop_listening();
      return Close();
    }
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(reply.status), 11);
    for (const Header& h : reply.headers) res->set(h.name, h.value);
    res->body() = std::move(reply.body);
    res->keep_alive(request_.keep_alive());
    res->prepare_payload();
    const bool close = reply.close_after || !request_.keep_alive();
    http::async_write(socket_, *res,
                      [self = shared_from_this(), res, close](error_code ec, size_t) {
                        if (ec || close) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    if (!socket_.is_open()) return;
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    std::lock_guard lock(state_.mu);
    ++state_.closed;
    state_.closed_cv.notify_all();
  }

  tcp::socket socket_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  State& state_;
};

}  // namespace

class FakeHttpServer::Impl {
 public:
  explicit Impl(Handler handler)
      : acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        port_(acceptor_.local_endpoint().port()) {
    state_.handler = std::move(handler);
    state_.stop_listening = [this] {
      error_code ignored;
      acceptor_.close(ignored);
    };
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~Impl() {
    ioc_.stop();
    thread_.join();
  }

  void Accept() {
    acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
      if (ec) return;
      {
        std::lock_guard lock(state_.mu);
        ++state_.connections;
      }
      std::make_shared<Session>(std::move(socket), state_)->Read();
      Accept();
    });
  }

  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  const uint16_t port_;
  State state_;
  std::thread thread_;
};

std::string FakeRequest::HeaderValue(std::string_view name) const {
  const std::string* v = FindHeader(headers, name);
  return v == nullptr ? std::string() : *v;
}

FakeReply FakeReply::Error(int status, std::string code, std::string message) {
  std::string body = R"({"error": {"code": ")" + code + R"(", "message": ")" + message + R"("}})";
  return Json(status, std::move(body));
}

FakeReply FakeReply::Json(int status, std::string body) {
  FakeReply r;
  r.status = status;
  r.body = std::move(body);
  r.headers.push_back({"Content-Type", "application/json"});
  return r;
}

FakeHttpServer::FakeHttpServer(Handler handler)
    : impl_(std::make_unique<Impl>(std::move(handler))) {}

FakeHttpServer::~FakeHttpServer() = default;

uint16_t FakeHttpServer::port() const { return impl_->port_; }

std::string FakeHttpServer::endpoint() const { return "127.0.0.1:" + std::to_string(port()); }

std::vector<FakeRequest> FakeHttpServer::requests() const {
  std::lock_guard lock(impl_->state_.mu);
  return impl_->state_.requests;
}

int FakeHttpServer::connections() const {
  std::lock_guard lock(impl_->state_.mu);
  return impl_->state_.connections;
}

void FakeHttpServer::WaitForClosedConnections(int n) const {
  std::unique_lock lock(impl_->state_.mu);
  impl_->state_.closed_cv.wait(lock, [&] { return impl_->state_.closed >= n; });
}

std::vector<FakeRequest> RequestsBesidesDirectory(const FakeHttpServer& server) {
  std::vector<FakeRequest> out;
  for (FakeRequest& r : server.requests()) {
    if (r.method != "GET" || r.target != "/v1/directory") out.push_back(std::move(r));
  }
  return out;
}

std::string RefusingEndpoint() {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();
  return "127.0.0.1:" + std::to_string(port);
}

}  // namespace kvd::rpc::testing
