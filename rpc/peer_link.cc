#include "rpc/peer_link.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "rpc/host_port.h"

namespace kvd::rpc::internal {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// Frames per gather write: Asio hands at most 64 buffers to one writev, so larger batches would
// only cost extra syscalls inside one async_write.
constexpr size_t kMaxFramesPerWrite = 64;

}  // namespace

struct PeerLink::Connection {
  explicit Connection(asio::io_context& io) : socket(io), stall_timer(io) {}
  tcp::socket socket;
  asio::steady_timer stall_timer;
  std::vector<std::string> in_flight;  // the frames of the pending gather write
  bool writing = false;
  uint64_t write_seq = 0;
  char probe = 0;  // target of the read that notices the peer closing
};

PeerLink::PeerLink(asio::io_context& io, PeerContext& ctx, uint64_t node, std::string address)
    : io_(io),
      ctx_(ctx),
      node_(node),
      address_(std::move(address)),
      timer_(io),
      resolver_(io),
      backoff_(ctx.options.reconnect_backoff_min) {}

bool PeerLink::Enqueue(std::string frame) {
  const PeerTransportOptions& options = ctx_.options;
  bool kick = false;
  {
    std::lock_guard lock(mu_);
    const bool full = queue_.size() >= options.max_queued_frames ||
                      (!queue_.empty() && queued_bytes_ + frame.size() > options.max_queued_bytes);
    if (full) {
      PeerCounters::Add(ctx_.counters.frames_dropped, 1);
      return false;
    }
    queued_bytes_ += frame.size();
    queue_.push_back(std::move(frame));
    kick = !drain_scheduled_;
    drain_scheduled_ = true;
  }
  if (kick) asio::post(io_, [this] { OnKick(); });
  return true;
}

void PeerLink::SetAddress(std::string address) {
  {
    std::lock_guard lock(mu_);
    if (address_ == address) return;
    address_ = std::move(address);
  }
  asio::post(io_, [this] { Redirect(); });
}

std::string PeerLink::address() const {
  std::lock_guard lock(mu_);
  return address_;
}

void PeerLink::Shutdown() {
  state_ = State::kStopped;
  CloseConnection();
  CancelTimer();
  resolver_.cancel();
}

void PeerLink::OnKick() {
  switch (state_) {
    case State::kIdle:
      if (HasQueuedOrGoIdle()) StartConnect();
      return;
    case State::kConnected:
      if (!conn_->writing) WriteNext();
      return;
    case State::kConnecting:  // will write once connected
    case State::kBackoff:     // will connect when the backoff ends
    case State::kStopped:
      return;
  }
}

void PeerLink::Redirect() {
  if (state_ == State::kIdle || state_ == State::kStopped) return;  // next connect uses it
  CloseConnection();
  CancelTimer();
  resolver_.cancel();
  backoff_ = ctx_.options.reconnect_backoff_min;
  if (HasQueuedOrGoIdle()) StartConnect();
}

bool PeerLink::HasQueuedOrGoIdle() {
  std::lock_guard lock(mu_);
  if (!queue_.empty()) return true;
  state_ = State::kIdle;
  drain_scheduled_ = false;
  return false;
}

void PeerLink::StartConnect() {
  state_ = State::kConnecting;
  auto conn = std::make_shared<Connection>(io_);
  conn_ = conn;
  ArmTimer(ctx_.options.connect_timeout, [this, conn] {
    if (conn == conn_ && state_ == State::kConnecting) Fail("connect timed out", true);
  });
  std::string error;
  const std::optional<HostPort> host_port = ParseHostPort(address(), &error);
  if (!host_port) return Fail(error, true);
  error_code ec;
  const asio::ip::address ip = asio::ip::make_address(host_port->host, ec);
  if (!ec) return Connect(conn, tcp::endpoint(ip, host_port->port));
  resolver_.async_resolve(
      host_port->host, std::to_string(host_port->port),
      [this, conn](const error_code& ec, const tcp::resolver::results_type& results) {
        if (conn != conn_) return;
        if (ec || results.empty()) {
          return Fail("resolve: " + (ec ? ec.message() : std::string("no address")), true);
        }
        // Prefer an address of the family we bind to, so the bind cannot fail.
        tcp::endpoint chosen = results.begin()->endpoint();
        for (const auto& entry : results) {
          if (entry.endpoint().address().is_v4() == ctx_.bind_address.is_v4()) {
            chosen = entry.endpoint();
            break;
          }
        }
        Connect(conn, chosen);
      });
}

void PeerLink::Connect(const std::shared_ptr<Connection>& conn, const tcp::endpoint& endpoint) {
  error_code ec;
  conn->socket.open(endpoint.protocol(), ec);
  // Bind the source address: per-address faults must cut this node's outbound traffic too.
  if (!ec && ctx_.bind_outbound && ctx_.bind_address.is_v4() == endpoint.address().is_v4()) {
    conn->socket.bind(tcp::endpoint(ctx_.bind_address, 0), ec);
  }
  if (ec) return Fail("connect: " + ec.message(), true);
  conn->socket.async_connect(endpoint, [this, conn](const error_code& ec) {
    if (conn != conn_) return;
    if (ec) return Fail("connect: " + ec.message(), true);
    OnConnected(conn);
  });
}

void PeerLink::OnConnected(const std::shared_ptr<Connection>& conn) {
  CancelTimer();
  state_ = State::kConnected;
  backoff_ = ctx_.options.reconnect_backoff_min;
  error_code ignored;
  conn->socket.set_option(tcp::no_delay(true), ignored);  // Raft messages are latency-bound
#ifdef TCP_USER_TIMEOUT
  // Let the kernel abort the connection when written data stays unacknowledged as long as a
  // write may stall (a partition that drops packets), instead of retransmitting for minutes
  // while small frames keep fitting into the send buffer. Best effort: Linux only.
  const int user_timeout_ms = static_cast<int>(
      std::min<int64_t>(ctx_.options.write_stall_timeout.count(), std::numeric_limits<int>::max()));
  ::setsockopt(conn->socket.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
               sizeof(user_timeout_ms));
#endif
  ctx_.Log("connected to node " + std::to_string(node_) + " at " + address());
  SetReachable(true, "connected");
  WatchForClose(conn);
  WriteNext();
}

void PeerLink::WatchForClose(const std::shared_ptr<Connection>& conn) {
  // Nothing is ever sent back on an outbound connection; any completion means it is over.
  conn->socket.async_read_some(
      asio::buffer(&conn->probe, 1), [this, conn](const error_code& ec, size_t) {
        if (conn != conn_) return;
        if (ec == asio::error::eof) return Fail("closed by peer", false);
        Fail(ec ? "read: " + ec.message() : "unexpected inbound data", false);
      });
}

void PeerLink::WriteNext() {
  Connection& conn = *conn_;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty()) {
      drain_scheduled_ = false;
      return;
    }
    size_t bytes = 0;
    while (!queue_.empty() && conn.in_flight.size() < kMaxFramesPerWrite &&
           (conn.in_flight.empty() ||
            bytes + queue_.front().size() <= ctx_.options.max_write_batch_bytes)) {
      bytes += queue_.front().size();
      conn.in_flight.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queued_bytes_ -= bytes;
    // Counted as the write starts, so a receiver that has a frame knows its sender counted it.
    PeerCounters::Add(ctx_.counters.frames_sent, conn.in_flight.size());
    PeerCounters::Add(ctx_.counters.bytes_sent, bytes);
    PeerCounters::Add(ctx_.counters.write_batches, 1);
  }
  std::vector<asio::const_buffer> buffers;
  buffers.reserve(conn.in_flight.size());
  for (const std::string& frame : conn.in_flight) buffers.push_back(asio::buffer(frame));
  conn.writing = true;
  const uint64_t seq = ++conn.write_seq;
  conn.stall_timer.expires_after(ctx_.options.write_stall_timeout);
  conn.stall_timer.async_wait([this, c = conn_, seq](const error_code& ec) {
    if (ec || c != conn_ || !c->writing || c->write_seq != seq) return;
    Fail("write stalled", false);
  });
  asio::async_write(conn.socket, buffers,
                    [this, c = conn_](const error_code& ec, size_t) { OnWritten(c, ec); });
}

void PeerLink::OnWritten(const std::shared_ptr<Connection>& conn, const error_code& ec) {
  conn->writing = false;
  conn->stall_timer.cancel();
  const size_t frames = conn->in_flight.size();
  conn->in_flight.clear();
  if (ec) {  // they may or may not have reached the peer
    PeerCounters::Add(ctx_.counters.frames_lost, frames);
    if (conn == conn_) Fail("write: " + ec.message(), false);
    return;
  }
  if (conn == conn_) WriteNext();
}

void PeerLink::Fail(const std::string& reason, bool connect_failure) {
  if (connect_failure) PeerCounters::Add(ctx_.counters.connect_failures, 1);
  CloseConnection();
  resolver_.cancel();
  size_t lost = 0;
  {
    std::lock_guard lock(mu_);
    lost = queue_.size();
    queue_.clear();
    queued_bytes_ = 0;
  }
  PeerCounters::Add(ctx_.counters.frames_lost, lost);
  SetReachable(false, reason);
  state_ = State::kBackoff;  // drain_scheduled_ stays set: the timer looks at the queue
  const std::chrono::milliseconds delay = backoff_;
  backoff_ = std::min(backoff_ * 2, ctx_.options.reconnect_backoff_max);
  ArmTimer(delay, [this] {
    if (HasQueuedOrGoIdle()) StartConnect();
  });
}

void PeerLink::CloseConnection() {
  if (!conn_) return;
  error_code ignored;
  conn_->socket.close(ignored);  // pending operations complete with operation_aborted
  conn_->stall_timer.cancel();
  conn_.reset();
}

void PeerLink::ArmTimer(Clock::duration delay, std::function<void()> on_expiry) {
  const uint64_t epoch = ++timer_epoch_;
  timer_.expires_after(delay);
  timer_.async_wait([this, epoch, on_expiry = std::move(on_expiry)](const error_code& ec) {
    if (!ec && epoch == timer_epoch_) on_expiry();
  });
}

void PeerLink::CancelTimer() {
  ++timer_epoch_;
  timer_.cancel();
}

void PeerLink::SetReachable(bool reachable, std::string_view why) {
  if (reachable_.exchange(reachable, std::memory_order_acq_rel) == reachable) return;
  if (!reachable) {
    ctx_.Log("node " + std::to_string(node_) + " unreachable: " + std::string(why));
  }
  if (ctx_.options.on_reachability_change) ctx_.options.on_reachability_change(node_, reachable);
}

}  // namespace kvd::rpc::internal
