#include "rpc/http_session.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <utility>

namespace kvd::rpc {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// After a reply that closes the connection, unread request bytes may still be arriving (e.g. the
// body of a request refused with 413). Closing with unread data makes the kernel send RST, which
// can destroy the reply before the client reads it; so the send side is shut first and the rest
// drained, within these bounds.
constexpr auto kLingerTimeout = std::chrono::seconds(1);
constexpr size_t kMaxLingerBytes = 4 << 20;
constexpr size_t kDrainChunk = 16 << 10;
// A keep-alive connection waits for the first bytes of its next request in reads of this size.
constexpr size_t kFirstReadBytes = 4 << 10;

bool IsHttpError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::end_of_stream).category();
}

// One connection. Held by shared_ptr because its lifetime is truly shared by whatever is pending
// on it: each outstanding Asio operation (read, write, the request deadline, a reply posted to
// the strand) holds a reference in its handler, so the session lives exactly as long as something
// can still complete on it and is destroyed, closing the socket, when the last handler finishes
// without starting another. Service callbacks hold only a weak_ptr: a slow node never keeps a
// connection alive, and a connection that is gone is simply not answered.
//
// Every member is touched only on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerContext& ctx, bool reject)
      : ctx_(ctx),
        stream_(std::move(socket)),
        deadline_(stream_.get_executor()),
        read_deadline_(stream_.get_executor()),
        reject_(reject) {
    ctx_.metrics.ConnectionOpened();
  }

  ~Session() {
    ctx_.idle.Remove(idle_ticket_);
    ctx_.metrics.ConnectionClosed();
    Uncount();
  }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

 private:
  enum class ReadPhase { kIdle, kHeader, kBody };

  // Uncounts this connection from ctx_.connections exactly once (eviction or destruction).
  void Uncount() {
    if (counted_.exchange(false)) ctx_.connections.fetch_sub(1);
  }

  void ReadHeader() {
    header_parser_.emplace();
    header_parser_->header_limit(
        static_cast<uint32_t>(std::min<size_t>(ctx_.options.max_header_bytes, UINT32_MAX)));
    header_parser_->body_limit(boost::none);  // Content-Length is judged in OnHeader
    stream_.expires_never();                  // reads are timed by read_deadline_
    head_ = false;
    idle_ticket_ = ctx_.idle.Add([weak = weak_from_this()] {
      std::shared_ptr<Session> self = weak.lock();
      if (!self) return false;
      self->Uncount();
      auto executor = self->stream_.get_executor();
      net::post(executor, [self = std::move(self)] { self->OnEvicted(); });
      return true;
    });
    if (served_ > 0 && buffer_.size() == 0) {
      // Keep-alive: idle_timeout for the next request to begin, then header_timeout for the rest.
      ArmReadDeadline(ctx_.options.idle_timeout, ReadPhase::kIdle);
      stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                              [self = shared_from_this()](beast::error_code ec, size_t n) {
                                self->buffer_.commit(n);
                                if (ec) return self->OnHeader(ec);
                                self->ReadRestOfHeader();
                              });
      return;
    }
    ReadRestOfHeader();  // a fresh connection: header_timeout from accept
  }

  void ReadRestOfHeader() {
    ArmReadDeadline(ctx_.options.header_timeout, ReadPhase::kHeader);
    http::async_read_header(
        stream_, buffer_, *header_parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // Closes the connection if it is still waiting for a request header (it is being evicted to
  // admit a new connection; the acceptor has already uncounted it).
  void OnEvicted() {
    if (idle_ticket_ == 0) return;  // a header arrived meanwhile: it finishes its request
    ctx_.metrics.ConnectionEvicted();
    Close();
  }

  // One timer bounds whichever read is outstanding. On expiry it cancels the read (without
  // closing the socket, unlike beast's own timeouts), so the read's handler can still answer 408.
  void ArmReadDeadline(std::chrono::milliseconds timeout, ReadPhase phase) {
    const uint64_t epoch = ++read_epoch_;
    read_phase_ = phase;
    read_timed_out_ = false;
    read_deadline_.expires_after(timeout);
    read_deadline_.async_wait([weak = weak_from_this(), epoch](beast::error_code ec) {
      std::shared_ptr<Session> self = weak.lock();
      if (ec || !self || self->read_epoch_ != epoch) return;
      self->read_timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  // Stops the read timer; returns whether it had fired (the read was cut short by it).
  bool DisarmReadDeadline() {
    ++read_epoch_;
    read_deadline_.cancel();
    const bool timed_out = read_timed_out_;
    read_timed_out_ = false;
    return timed_out;
  }

  void OnHeader(beast::error_code ec) {
    const bool timed_out = DisarmReadDeadline();
    ctx_.idle.Remove(idle_ticket_);
    idle_ticket_ = 0;
    if (timed_out) return OnReadTimeout();
    if (ec) return OnReadError(ec);
    started_ = Clock::now();
    route_ = HttpRoute::kOther;
    version_ = header_parser_->get().version();
    keep_alive_ = header_parser_->get().keep_alive();
    head_ = header_parser_->get().method() == http::verb::head;
    if (reject_) {
      return SendError(429, "overloaded", "too many open connections; retry later");
    }
    const auto& header = header_parser_->get();
    body_limit_ = MaxRequestBodyBytes(
        ctx_.options,
        std::string_view(header.method_string().data(), header.method_string().size()),
        std::string_view(header.target().data(), header.target().size()));
    std::optional<uint64_t> length;
    if (auto l = header_parser_->content_length()) length = *l;
    if (length && *length > body_limit_) return SendError(413, "too_large", BodyLimitMessage());
    body_parser_.emplace(std::move(*header_parser_));
    header_parser_.reset();
    body_parser_->body_limit(body_limit_);  // also bounds chunked bodies
    if (!body_parser_->is_done() &&
        beast::iequals(body_parser_->get()[http::field::expect], "100-continue")) {
      continue_ = {http::status::continue_, version_};
      stream_.expires_after(ctx_.options.request_timeout);
      return http::async_write(stream_, continue_,
                               [self = shared_from_this()](beast::error_code ec, size_t) {
                                 if (ec) return self->Close();
                                 self->ReadBody();
                               });
    }
    ReadBody();
  }

  void ReadBody() {
    stream_.expires_never();
    ArmReadDeadline(ctx_.options.request_timeout, ReadPhase::kBody);
    http::async_read(stream_, buffer_, *body_parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (self->DisarmReadDeadline()) return self->OnReadTimeout();
                       if (ec) return self->OnReadError(ec);
                       self->Dispatch();
                     });
  }

  // The read timer cut a read short. A connection with no bytes of a request is simply closed
  // (nobody is waiting for an answer); a partial header or body gets 408 request_timeout.
  void OnReadTimeout() {
    started_ = Clock::now();
    route_ = HttpRoute::kOther;
    switch (read_phase_) {
      case ReadPhase::kIdle:
        return Close();
      case ReadPhase::kHeader:
        if (buffer_.size() == 0 && !(header_parser_ && header_parser_->got_some())) return Close();
        return SendError(408, "request_timeout",
                         "request header not received within " +
                             std::to_string(ctx_.options.header_timeout.count()) + " ms");
      case ReadPhase::kBody:
        return SendError(408, "request_timeout",
                         "request body not received within " +
                             std::to_string(ctx_.options.request_timeout.count()) + " ms");
    }
  }

  void OnReadError(beast::error_code ec) {
    started_ = Clock::now();
    route_ = HttpRoute::kOther;
    if (ec == http::error::header_limit) {
      return SendError(
          431, "too_large",
          "request header larger than " + std::to_string(ctx_.options.max_header_bytes) + " bytes");
    }
    if (ec == http::error::body_limit) return SendError(413, "too_large", BodyLimitMessage());
    // A clean or partial end of stream, a reset, an eviction: nobody to answer.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        !IsHttpError(ec)) {
      return Close();
    }
    SendError(400, "invalid_argument", "malformed HTTP request: " + ec.message());
  }

  std::string BodyLimitMessage() const {
    return "body larger than " + std::to_string(body_limit_) + " bytes";
  }

  void Dispatch() {
    http::request<http::string_body> msg = body_parser_->release();
    body_parser_.reset();
    HttpRequest req;
    // HEAD is GET without the body (RFC 9110 9.3.2); Send() leaves the body out.
    req.method = head_ ? std::string("GET") : std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.body = std::move(msg.body());
    auto keys = msg.equal_range("Idempotency-Key");
    for (auto it = keys.first; it != keys.second; ++it) {
      req.idempotency_keys.emplace_back(it->value());
    }
    auto fences = msg.equal_range("X-Fence");
    for (auto it = fences.first; it != fences.second; ++it) req.fences.emplace_back(it->value());
    auto versions = msg.equal_range("X-Kv-Directory-Version");
    for (auto it = versions.first; it != versions.second; ++it) {
      req.directory_versions.emplace_back(it->value());
    }

    const uint64_t id = ++request_id_;
    awaiting_ = true;
    // Runs on any thread. The gate is held while touching the session's executor so that Stop()
    // cannot destroy the IO context in between; every IO object this creates (the executor copy,
    // the session reference moved into the posted handler) is released or handed over under it.
    Responder respond = [weak = weak_from_this(), gate = ctx_.gate, id](ReplyMaker make) {
      std::lock_guard lock(gate->mu);
      if (!gate->open) return;
      std::shared_ptr<Session> self = weak.lock();
      if (!self) return;
      auto executor = self->stream_.get_executor();
      net::post(executor, [self = std::move(self), id, make = std::move(make)]() mutable {
        self->OnReply(id, std::move(make));
      });
    };
    HandledRequest handled;
    try {
      handled = ctx_.router.Handle(std::move(req), respond);
      route_ = handled.route;
    } catch (const std::exception& e) {
      ctx_.Log(std::string("HTTP handler failed: ") + e.what());
      if (awaiting_) {
        awaiting_ = false;
        SendError(500, "internal", "internal error");
      }
      return;
    }
    // A waiting lock acquire may block in the node for its wait_ms before the normal request
    // timeout even starts to matter; the 504 must not come before the node's own answer.
    deadline_.expires_after(ctx_.options.request_timeout + handled.extra_wait);
    deadline_.async_wait([self = shared_from_this(), id](beast::error_code ec) {
      if (!ec) self->OnDeadline(id);
    });
  }

  void OnReply(uint64_t id, ReplyMaker make) {
    if (!awaiting_ || id != request_id_) return;  // already answered (timed out): dropped
    awaiting_ = false;
    deadline_.cancel();
    HttpReply reply;
    try {
      reply = make();
    } catch (const std::exception& e) {
      ctx_.Log(std::string("building an HTTP reply failed: ") + e.what());
      reply = ErrorReply(500, "internal", "internal error");
    }
    Send(std::move(reply));
  }

  void OnDeadline(uint64_t id) {
    if (!awaiting_ || id != request_id_) return;
    awaiting_ = false;
    Send(TimeoutReply(IsWriteRoute(route_)));
  }

  // A reply to a request that is not read completely (or not parsed): the connection closes.
  void SendError(int status, std::string_view code, std::string message) {
    HttpReply reply = ErrorReply(status, code, message);
    reply.close = true;
    Send(std::move(reply));
  }

  void Send(HttpReply reply) {
    const bool close = reply.close || !keep_alive_;
    ctx_.metrics.RecordRequest(route_, reply.status, Clock::now() - started_);
    ++served_;
    response_ = {};
    response_.version(version_);
    response_.result(static_cast<unsigned>(reply.status));
    response_.set(http::field::server, "kvd");
    response_.set(http::field::content_type, reply.content_type);
    for (auto& [name, value] : reply.headers) response_.set(name, value);
    // docs/api.md: every 429 and 503 tells the client when to retry, whoever built the reply.
    if ((reply.status == 429 || reply.status == 503) &&
        response_.find(http::field::retry_after) == response_.end()) {
      response_.set(http::field::retry_after, std::to_string(kRetryAfterSeconds));
    }
    response_.body() = std::move(reply.body);
    response_.keep_alive(!close);
    response_.prepare_payload();
    // HEAD: the headers of the GET reply (Content-Length included), no body.
    if (head_) response_.body().clear();
    stream_.expires_after(ctx_.options.request_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), close](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        if (close) return self->LingerAndClose();
                        self->ReadHeader();
                      });
  }

  void LingerAndClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTimeout);
    Drain();
  }

  void Drain() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(kDrainChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kMaxLingerBytes) return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    DisarmReadDeadline();
    deadline_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  ServerContext& ctx_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  net::steady_timer deadline_;       // the service's answer to the current request
  net::steady_timer read_deadline_;  // the read in progress (idle, header or body)
  const bool reject_;
  std::atomic<bool> counted_{true};  // still in ctx_.connections (any thread: eviction)
  uint64_t idle_ticket_ = 0;         // in ctx_.idle while waiting for a header; 0 otherwise
  uint64_t read_epoch_ = 0;          // invalidates read timer expiries since re-armed
  ReadPhase read_phase_ = ReadPhase::kHeader;
  bool read_timed_out_ = false;
  uint64_t served_ = 0;  // replies sent on this connection

  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> body_parser_;
  http::response<http::empty_body> continue_;
  http::response<http::string_body> response_;

  // The request being handled.
  uint64_t request_id_ = 0;  // numbers requests so that stale replies and deadlines are ignored
  bool awaiting_ = false;    // its reply is not yet sent
  HttpRoute route_ = HttpRoute::kOther;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_ = false;      // the request is a HEAD: reply without a body
  size_t body_limit_ = 0;  // the largest body read for it (MaxRequestBodyBytes)
  Clock::time_point started_;
  size_t drained_ = 0;
};

}  // namespace

uint64_t IdleSessions::Add(Evict evict) {
  std::lock_guard lock(mu_);
  const uint64_t ticket = next_ticket_++;
  waiting_.emplace(ticket, std::move(evict));
  return ticket;
}

void IdleSessions::Remove(uint64_t ticket) {
  if (ticket == 0) return;
  std::lock_guard lock(mu_);
  waiting_.erase(ticket);
}

bool IdleSessions::EvictOldest() {
  for (;;) {
    Evict evict;
    {
      std::lock_guard lock(mu_);
      if (waiting_.empty()) return false;
      evict = std::move(waiting_.begin()->second);
      waiting_.erase(waiting_.begin());
    }
    if (evict()) return true;
  }
}

void RunHttpSession(tcp::socket socket, ServerContext& context, bool reject) {
  std::make_shared<Session>(std::move(socket), context, reject)->Start();
}

}  // namespace kvd::rpc
