#include "rpc/peer_listener.h"

#include <boost/asio/buffer.hpp>
#include <chrono>
#include <sstream>
#include <utility>

#include "rpc/peer_frame.h"

namespace kvd::rpc::internal {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

std::string Describe(const tcp::endpoint& endpoint) {
  std::ostringstream out;
  out << endpoint;  // "1.2.3.4:5" or "[::1]:5"
  return out.str();
}

}  // namespace

// One accepted connection. Shared because the handler of its pending read owns it: it lives
// exactly as long as it has I/O outstanding.
class PeerListener::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(PeerListener& listener, tcp::socket socket, std::string remote)
      : listener_(listener),
        ctx_(listener.ctx_),
        socket_(std::move(socket)),
        remote_(std::move(remote)),
        reader_(ctx_.options.max_frame_bytes) {}

  void Read() {
    const std::span<char> space = reader_.WritableSpace();
    socket_.async_read_some(
        asio::buffer(space.data(), space.size()),
        [self = shared_from_this()](const error_code& ec, size_t n) { self->OnRead(ec, n); });
  }

  // Closes the connection; 'reason' is logged unless empty (an orderly close).
  void Close(const std::string& reason) {
    if (!socket_.is_open()) return;
    if (!reason.empty()) ctx_.Log("closing inbound connection from " + remote_ + ": " + reason);
    error_code ignored;
    socket_.close(ignored);
    listener_.Unregister(this);
  }

 private:
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
          PeerCounters::Add(ctx_.counters.frames_received, 1);
          PeerCounters::Add(ctx_.counters.bytes_received, frame_bytes);
          ctx_.handler(std::move(batch));
          continue;
        case FrameReader::Result::kNeedMore:
          return Read();
        case FrameReader::Result::kTooLarge:
          return Reject("frame length above max_frame_bytes");
        case FrameReader::Result::kMalformed:
          return Reject("frame is not a PeerBatch");
      }
    }
  }

  void Reject(const std::string& reason) {
    PeerCounters::Add(ctx_.counters.inbound_rejected, 1);
    Close(reason);
  }

  PeerListener& listener_;
  PeerContext& ctx_;
  tcp::socket socket_;
  const std::string remote_;
  FrameReader reader_;
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
    if (sessions_.size() >= ctx_.options.max_inbound_connections) {
      ctx_.Log("refusing inbound connection from " + name + ": too many connections");
      error_code ignored;
      socket.close(ignored);
    } else {
      PeerCounters::Add(ctx_.counters.connections_accepted, 1);
      auto session = std::make_shared<Session>(*this, std::move(socket), name);
      sessions_.emplace(session.get(), session);
      session->Read();
    }
    Accept();
  });
}

void PeerListener::Unregister(Session* session) {
  if (!shut_down_) sessions_.erase(session);
}

}  // namespace kvd::rpc::internal
