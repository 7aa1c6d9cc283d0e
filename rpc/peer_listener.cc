#include "rpc/peer_listener.h"

#include <boost/asio/buffer.hpp>
#include <chrono>
#include <memory>
#include <sstream>
#include <utility>

#include "rpc/peer_frame.h"

namespace kvd::rpc::internal {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
constexpr std::chrono::seconds kRefusalLogInterval{1};

std::string Describe(const tcp::endpoint& endpoint) {
  std::ostringstream out;
  out << endpoint;  // "1.2.3.4:5" or "[::1]:5"
  return out.str();
}

}  // namespace

// One accepted connection. Shared because the handler of its pending read owns it: it lives
// exactly as long as it has I/O outstanding. The stall timer's handler holds only a weak_ptr.
class PeerListener::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(PeerListener& listener, tcp::socket socket, std::string remote, std::string source)
      : listener_(listener),
        ctx_(listener.ctx_),
        socket_(std::move(socket)),
        remote_(std::move(remote)),
        source_(std::move(source)),
        reader_(ctx_.options.max_frame_bytes),
        stall_timer_(socket_.get_executor()) {}

  // Starts reading; the first frame must be complete within the stall timeout.
  void Start() {
    ArmStallTimer("no complete frame within the handshake timeout");
    Read();
  }

  // Closes the connection; 'reason' is logged unless empty (an orderly close).
  void Close(const std::string& reason) {
    if (!socket_.is_open()) return;
    if (!reason.empty()) ctx_.Log("closing inbound connection from " + remote_ + ": " + reason);
    error_code ignored;
    socket_.close(ignored);
    ++timer_epoch_;
    stall_timer_.cancel();
    listener_.Release(reserved_);
    reserved_ = 0;
    listener_.Unregister(this, source_);
  }

 private:
  void Read() {
    const size_t wanted = reader_.NextCapacity();
    if (!listener_.Reserve(reserved_, wanted)) {
      return Reject("inbound buffer budget (max_inbound_buffer_bytes) exhausted");
    }
    reserved_ = wanted;
    const std::span<char> space = reader_.WritableSpace();
    socket_.async_read_some(
        asio::buffer(space.data(), space.size()),
        [self = shared_from_this()](const error_code& ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(const error_code& ec, size_t n) {
    if (ec) {
      const bool orderly = ec == asio::error::eof || ec == asio::error::operation_aborted;
      return Close(orderly ? "" : "read: " + ec.message());
    }
    reader_.Commit(n);
    for (;;) {
      kvpb::PeerBatch batch;
      size_t frame_bytes = 0;
      switch (reader_.Next(&batch, &frame_bytes)) {
        case FrameReader::Result::kFrame:
          if (batch.to_node() != ctx_.self) {
            return Reject("frame addressed to node " + std::to_string(batch.to_node()));
          }
          delivered_any_ = true;
          PeerCounters::Add(ctx_.counters.frames_received, 1);
          PeerCounters::Add(ctx_.counters.bytes_received, frame_bytes);
          ctx_.handler(std::move(batch));
          continue;
        case FrameReader::Result::kNeedMore:
          // Before the first frame the handshake deadline stands; after it, silence between
          // frames is fine and a frame in progress must keep moving.
          if (delivered_any_) {
            if (reader_.buffered() == 0) {
              ++timer_epoch_;
              stall_timer_.cancel();
            } else {
              ArmStallTimer("frame in progress stalled");
            }
          }
          return Read();
        case FrameReader::Result::kTooLarge:
          return Reject("frame length above max_frame_bytes");
        case FrameReader::Result::kMalformed:
          return Reject("frame is not a PeerBatch");
      }
    }
  }

  void ArmStallTimer(const char* why) {
    const uint64_t epoch = ++timer_epoch_;
    stall_timer_.expires_after(ctx_.options.inbound_stall_timeout);
    stall_timer_.async_wait([weak = weak_from_this(), epoch, why](const error_code& ec) {
      const std::shared_ptr<Session> self = weak.lock();
      if (ec || !self || self->timer_epoch_ != epoch) return;
      self->Reject(why);
    });
  }

  void Reject(const std::string& reason) {
    PeerCounters::Add(ctx_.counters.inbound_rejected, 1);
    Close(reason);
  }

  PeerListener& listener_;
  PeerContext& ctx_;
  tcp::socket socket_;
  const std::string remote_;
  const std::string source_;  // the remote IP, for max_inbound_per_source
  FrameReader reader_;
  asio::steady_timer stall_timer_;
  uint64_t timer_epoch_ = 0;  // invalidates expiries of a timer since re-armed or cancelled
  size_t reserved_ = 0;       // reader_'s capacity as counted in the listener's budget
  bool delivered_any_ = false;
};

PeerListener::PeerListener(asio::io_context& io, PeerContext& ctx)
    : ctx_(ctx), acceptor_(io), retry_timer_(io) {}

PeerStatus PeerListener::Listen(const tcp::endpoint& endpoint) {
  error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) local_ = acceptor_.local_endpoint(ec);
  if (ec) {
    error_code ignored;
    acceptor_.close(ignored);
    return PeerStatus::Error("listen on " + Describe(endpoint) + ": " + ec.message());
  }
  return PeerStatus::Ok();
}

void PeerListener::StartAccepting() { Accept(); }

void PeerListener::Shutdown() {
  shut_down_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
  auto sessions = std::move(sessions_);
  sessions_.clear();
  per_source_.clear();
  for (auto& entry : sessions) {
    if (std::shared_ptr<Session> session = entry.second.lock()) session->Close("");
  }
}

void PeerListener::Accept() {
  acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
    if (shut_down_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      ctx_.Log("accept: " + ec.message());
      retry_timer_.expires_after(kAcceptRetryDelay);
      retry_timer_.async_wait([this](const error_code& ec) {
        if (!ec && !shut_down_) Accept();
      });
      return;
    }
    error_code remote_ec;
    const tcp::endpoint remote = socket.remote_endpoint(remote_ec);
    const std::string name = remote_ec ? "unknown peer" : Describe(remote);
    const std::string source = remote_ec ? "unknown" : remote.address().to_string();
    const char* refused = nullptr;
    if (sessions_.size() >= ctx_.options.max_inbound_connections) {
      refused = "too many connections (max_inbound_connections)";
    } else if (per_source_[source] >= ctx_.options.max_inbound_per_source) {
      refused = "too many connections from that address (max_inbound_per_source)";
    }
    if (refused != nullptr) {
      if (per_source_[source] == 0) per_source_.erase(source);
      PeerCounters::Add(ctx_.counters.inbound_rejected, 1);
      // At most one line per kRefusalLogInterval: a flood of connections must not flood the log.
      const auto now = std::chrono::steady_clock::now();
      if (now - last_refusal_log_ >= kRefusalLogInterval) {
        ctx_.Log("refusing inbound connection from " + name + ": " + refused +
                 (refusals_unlogged_ > 0
                      ? " (and " + std::to_string(refusals_unlogged_) + " more since the last line)"
                      : ""));
        last_refusal_log_ = now;
        refusals_unlogged_ = 0;
      } else {
        ++refusals_unlogged_;
      }
      error_code ignored;
      socket.close(ignored);
    } else {
      PeerCounters::Add(ctx_.counters.connections_accepted, 1);
      ++per_source_[source];
      auto session = std::make_shared<Session>(*this, std::move(socket), name, source);
      sessions_.emplace(session.get(), session);
      session->Start();
    }
    Accept();
  });
}

void PeerListener::Unregister(Session* session, const std::string& source) {
  if (shut_down_) return;
  sessions_.erase(session);
  const auto it = per_source_.find(source);
  if (it != per_source_.end() && --it->second == 0) per_source_.erase(it);
}

bool PeerListener::Reserve(size_t held, size_t wanted) {
  if (wanted > held && buffered_ - held + wanted > ctx_.options.max_inbound_buffer_bytes) {
    return false;
  }
  buffered_ = buffered_ - held + wanted;
  return true;
}

}  // namespace kvd::rpc::internal
