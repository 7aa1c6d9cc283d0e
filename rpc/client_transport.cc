// The only client TU that sees Beast/Asio. Synchronous calls are async operations run to completion
// on a private io_context; Beast's tcp_stream deadlines provide the timeouts.
#include "rpc/client_transport.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <exception>
#include <optional>
#include <thread>

#include "rpc/host_port.h"

namespace kvd::rpc {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using HttpRequest = http::request<http::string_body>;

constexpr std::chrono::milliseconds kMinStep{1};  // least time given to a step that has begun

struct Endpoint {
  std::string name;  // as configured, for messages
  std::string host;
  std::string port;
  std::string invalid;  // why the configured text is not an address; empty if it is one
};

// rpc/host_port.h, the parser the server uses too; a missing port means 80.
Endpoint ParseEndpoint(const std::string& text) {
  Endpoint ep{text, "", "", ""};
  std::optional<HostPort> parsed = ParseHostPort(text, &ep.invalid, /*default_port=*/80);
  if (parsed && parsed->port == 0) ep.invalid = "bad address '" + text + "': port 0";
  if (parsed && ep.invalid.empty()) {
    ep.host = std::move(parsed->host);
    ep.port = std::to_string(parsed->port);
  } else if (ep.invalid.empty()) {
    ep.invalid = "bad address '" + text + "'";
  }
  return ep;
}

std::string Describe(const error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  std::string text = ec.message();
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

bool IsConnectionDrop(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted;
}

}  // namespace

class ClientTransport::Impl {
 public:
  explicit Impl(const ClientOptions& options) : options_(options) {
    for (const std::string& e : options.endpoints) {
      endpoints_.push_back(std::make_unique<Slot>(ParseEndpoint(e)));
    }
  }

  RawResponse Send(const RawRequest& raw) {
    if (endpoints_.empty() && raw.route.empty()) {
      RawResponse none;
      none.transport = Transport::kConnectFailed;
      none.transport_error = "no endpoints configured";
      return none;
    }
    Outgoing out{Build(raw), raw.safe_to_repeat,
                 raw.request_timeout.count() > 0 ? raw.request_timeout : options_.request_timeout};
    const int max_attempts =
        std::max(1, raw.max_attempts > 0 ? raw.max_attempts : options_.max_attempts);
    bool earlier_unknown = false;  // an earlier attempt may have been applied
    for (int attempt = 1;; ++attempt) {
      static const std::vector<std::string> kNoRoute;
      RawResponse resp = SendToSomeEndpoint(out, attempt == 1 ? raw.route : kNoRoute);
      resp.attempts = attempt;
      const bool answered = resp.transport == Transport::kOk;
      const bool refused = answered && (resp.status == 503 || resp.status == 429);
      bool retry = false;
      if (refused) {
        retry = options_.retry_unavailable;  // nothing was applied by this attempt
      } else if (resp.maybe_applied || (answered && resp.status == 504)) {
        retry = raw.safe_to_repeat;  // unknown outcome: only repeatable requests
      }
      if (!retry || attempt >= max_attempts) {
        // "Nothing applied" speaks for the last attempt only (http_client.h).
        if (earlier_unknown && (refused || resp.transport == Transport::kConnectFailed)) {
          resp.maybe_applied = true;
        }
        return resp;
      }
      earlier_unknown = earlier_unknown || resp.maybe_applied || (answered && resp.status == 504);
      if (!endpoints_.empty()) {
        current_ = (current_ + 1) % endpoints_.size();  // another node may be on the good side
      }
      std::this_thread::sleep_for(Backoff(attempt, resp));
    }
  }

 private:
  struct Connection {
    std::unique_ptr<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
  };
  // An endpoint and its pooled connection. Held by unique_ptr so references survive the routed
  // pool's reshuffling.
  struct Slot {
    explicit Slot(Endpoint e) : ep(std::move(e)) {}
    Endpoint ep;
    Connection conn;
    uint64_t last_used = 0;  // routed pool: for least-recently-used eviction
  };
  enum class Stage { kNotSent, kSent };
  // One request as the attempts send it.
  struct Outgoing {
    HttpRequest msg;
    bool safe_to_repeat;
    std::chrono::milliseconds timeout;  // write the request + read the response, per attempt
  };

  static HttpRequest Build(const RawRequest& raw) {
    HttpRequest req;
    http::verb verb = http::string_to_verb(raw.method);
    if (verb == http::verb::unknown) {
      req.method_string(raw.method);
    } else {
      req.method(verb);
    }
    req.target(raw.target);
    req.version(11);
    req.set(http::field::user_agent, "kvd-client/1");
    for (const Header& h : raw.headers) req.set(h.name, h.value);
    req.body() = raw.body;
    req.keep_alive(true);
    req.prepare_payload();
    return req;
  }

  std::chrono::milliseconds Backoff(int attempt, const RawResponse& resp) const {
    auto delay = options_.retry_backoff * (int64_t{1} << std::min(attempt - 1, 20));
    if (const std::string* after = resp.FindHeader("Retry-After")) {
      char* end = nullptr;
      unsigned long seconds = std::strtoul(after->c_str(), &end, 10);
      if (end != after->c_str()) delay = std::max(delay, std::chrono::milliseconds(seconds * 1000));
    }
    return std::min(delay, options_.max_backoff);
  }

  // One attempt: the routed endpoints in order, then the sticky endpoint, then the other
  // configured ones, while the request cannot have been sent (connect or write failure). An
  // endpoint is tried at most once per attempt.
  RawResponse SendToSomeEndpoint(Outgoing& out, const std::vector<std::string>& route) {
    std::string errors;
    std::vector<const Slot*> tried;
    // Bounded so that the pool's least recently used slot is never one tried in this attempt.
    static_assert(kMaxRouteLength < kMaxRoutedConnections);
    for (size_t r = 0; r < std::min(route.size(), kMaxRouteLength); ++r) {
      Slot& slot = RoutedSlot(route[r]);
      if (std::find(tried.begin(), tried.end(), &slot) != tried.end()) continue;
      tried.push_back(&slot);
      RawResponse resp;
      if (TryEndpoint(slot, out, resp) == Stage::kSent) return resp;
      errors += (errors.empty() ? "" : "; ") + resp.transport_error;
    }
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      size_t index = (current_ + i) % endpoints_.size();
      Slot& slot = *endpoints_[index];
      if (std::find(tried.begin(), tried.end(), &slot) != tried.end()) continue;
      RawResponse resp;
      if (TryEndpoint(slot, out, resp) == Stage::kNotSent) {
        errors += (errors.empty() ? "" : "; ") + resp.transport_error;
        continue;
      }
      current_ = index;
      return resp;
    }
    RawResponse failed;
    failed.transport = Transport::kConnectFailed;
    failed.transport_error = errors;
    return failed;
  }

  // The slot for a routed endpoint: the configured one of that name, else a pooled one (created,
  // evicting the least recently used beyond kMaxRoutedConnections).
  Slot& RoutedSlot(const std::string& name) {
    for (auto& slot : endpoints_) {
      if (slot->ep.name == name) return *slot;
    }
    Slot* found = nullptr;
    for (auto& slot : routed_) {
      if (slot->ep.name == name) found = slot.get();
    }
    if (found == nullptr) {
      if (routed_.size() >= kMaxRoutedConnections) {
        auto oldest = std::min_element(
            routed_.begin(), routed_.end(),
            [](const auto& a, const auto& b) { return a->last_used < b->last_used; });
        Close((*oldest)->conn);
        routed_.erase(oldest);
      }
      routed_.push_back(std::make_unique<Slot>(ParseEndpoint(name)));
      found = routed_.back().get();
    }
    found->last_used = ++use_clock_;
    return *found;
  }

  Stage TryEndpoint(Slot& slot, Outgoing& out, RawResponse& resp) {
    HttpRequest& req = out.msg;
    Connection& conn = slot.conn;
    const Endpoint& ep = slot.ep;
    resp.endpoint = ep.name;
    if (!ep.invalid.empty()) {
      resp.transport_error = ep.invalid;
      return Stage::kNotSent;
    }
    req.set(http::field::host, ep.name);  // host:port as configured
    // Round 2 exists only to replace a pooled connection the server had silently closed.
    // If round 1 wrote the whole request before the connection dropped, the server may have
    // it: round 2 failing to send again leaves the outcome unknown, never "not sent".
    bool maybe_delivered = false;
    auto not_sent = [&](std::string why) {
      resp.transport_error = std::move(why);
      if (!maybe_delivered) return Stage::kNotSent;
      resp.maybe_applied = true;
      resp.transport = Transport::kTimeout;
      resp.transport_error += " (after a connection that had the request dropped)";
      return Stage::kSent;
    };
    for (int round = 0; round < 2; ++round) {
      const bool reused = conn.stream && Reusable(conn);
      if (!reused) {
        Close(conn);
        if (error_code ec = Connect(ep, conn)) return not_sent(ep.name + ": " + Describe(ec));
      }
      conn.stream->expires_after(out.timeout);
      error_code ec = asio::error::would_block;
      http::async_write(*conn.stream, req, [&ec](error_code e, size_t) { ec = e; });
      RunUntilIdle();
      if (ec) {  // not every byte left: the server cannot have a complete request
        Close(conn);
        if (reused) continue;
        return not_sent(ep.name + ": sending request: " + Describe(ec));
      }
      http::response_parser<http::string_body> parser;
      parser.body_limit(options_.max_response_bytes);
      parser.skip(req.method() == http::verb::head);  // a HEAD answer has headers only
      ec = asio::error::would_block;
      http::async_read(*conn.stream, conn.buffer, parser, [&ec](error_code e, size_t) { ec = e; });
      RunUntilIdle();
      if (ec) {
        const bool got_some = parser.got_some();
        Close(conn);
        if (reused && !got_some && out.safe_to_repeat && IsConnectionDrop(ec)) {
          maybe_delivered = true;
          continue;
        }
        resp.maybe_applied = true;
        if (ec == beast::error::timeout) {
          resp.transport = Transport::kTimeout;
          resp.transport_error =
              ep.name + ": no response within " + std::to_string(out.timeout.count()) + " ms";
        } else if (IsConnectionDrop(ec)) {
          resp.transport = Transport::kTimeout;
          resp.transport_error = ep.name + ": connection closed before a complete response";
        } else {
          resp.transport = Transport::kProtocolError;
          resp.transport_error = ep.name + ": bad response: " + Describe(ec);
        }
        return Stage::kSent;
      }
      auto& res = parser.get();
      resp.transport = Transport::kOk;
      resp.status = static_cast<int>(res.result_int());
      for (const auto& field : res) {
        resp.headers.push_back({std::string(field.name_string()), std::string(field.value())});
      }
      resp.body = std::move(res.body());
      if (!res.keep_alive() || conn.buffer.size() > 0) Close(conn);
      return Stage::kSent;
    }
    return not_sent(ep.name + ": connection lost twice while sending");
  }

  // Resolve and connect within one connect_timeout.
  error_code Connect(const Endpoint& ep, Connection& conn) {
    const auto deadline = std::chrono::steady_clock::now() + options_.connect_timeout;
    tcp::resolver resolver(ioc_);
    tcp::resolver::results_type results;
    error_code ec = asio::error::would_block;
    resolver.async_resolve(ep.host, ep.port, [&](error_code e, tcp::resolver::results_type r) {
      ec = e;
      results = std::move(r);
    });
    ioc_.restart();
    ioc_.run_until(deadline);
    if (ec == asio::error::would_block) {
      resolver.cancel();
      RunUntilIdle();
      return beast::error::timeout;
    }
    if (ec) return ec;
    auto stream = std::make_unique<beast::tcp_stream>(ioc_);
    stream->expires_at(std::max(deadline, std::chrono::steady_clock::now() + kMinStep));
    ec = asio::error::would_block;
    stream->async_connect(results, [&ec](error_code e, const tcp::endpoint&) { ec = e; });
    RunUntilIdle();
    if (ec) return ec;
    error_code ignored;
    stream->socket().set_option(tcp::no_delay(true), ignored);
    conn.stream = std::move(stream);
    conn.buffer.clear();
    return {};
  }

  // A pooled connection is reusable if nothing is pending on it: no FIN, no stray bytes.
  static bool Reusable(Connection& conn) {
    if (conn.buffer.size() > 0) return false;
    tcp::socket& socket = conn.stream->socket();
    if (!socket.is_open()) return false;
    error_code ec;
    socket.non_blocking(true, ec);
    if (ec) return false;
    char byte;
    socket.read_some(asio::buffer(&byte, 1), ec);
    error_code ignored;
    socket.non_blocking(false, ignored);
    return ec == asio::error::would_block;
  }

  static void Close(Connection& conn) {
    if (conn.stream) {
      error_code ignored;
      conn.stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      conn.stream->socket().close(ignored);
      conn.stream.reset();
    }
    conn.buffer.clear();
  }

  void RunUntilIdle() {
    ioc_.restart();
    ioc_.run();
  }

  ClientOptions options_;
  asio::io_context ioc_;
  std::vector<std::unique_ptr<Slot>> endpoints_;  // configured, in order
  std::vector<std::unique_ptr<Slot>> routed_;     // named only by routes; LRU-bounded
  uint64_t use_clock_ = 0;                        // orders routed_ by last use
  size_t current_ = 0;  // sticky: the configured endpoint that answered last
};

ClientTransport::ClientTransport(const ClientOptions& options)
    : impl_(std::make_unique<Impl>(options)) {}

ClientTransport::~ClientTransport() = default;

RawResponse ClientTransport::Send(const RawRequest& request) {
  try {
    return impl_->Send(request);
  } catch (const std::exception& e) {  // bad_alloc and the like: never escape the client
    RawResponse failed;
    failed.transport = Transport::kProtocolError;
    failed.transport_error = std::string("client error: ") + e.what();
    failed.maybe_applied = true;
    return failed;
  }
}

}  // namespace kvd::rpc
