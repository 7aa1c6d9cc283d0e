// Internal to the peer transport. PeerListener: the inbound side: accepts connections and reads
// frames from each, handing every PeerBatch to the context's handler (rpc/peer_transport.h).
//
// Bounds (rpc/peer_transport.h): max_inbound_connections in all, max_inbound_per_source per
// source IP (refused at accept); the receive buffers of all sessions together stay within
// max_inbound_buffer_bytes (a session that would need more is closed); a session that has not
// completed its first frame within inbound_stall_timeout of being accepted, or whose frame in
// progress gets no bytes for that long, is closed.
//
// Threading: Listen() runs before the transport thread starts; everything else on that thread.
// The listener must outlive the thread. Sessions are owned by the handlers of their pending reads
// and registered here (weakly) only so that Shutdown() can close them.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "rpc/peer_context.h"
#include "rpc/peer_transport.h"

namespace kvd::rpc::internal {

class PeerListener {
 public:
  PeerListener(boost::asio::io_context& io, PeerContext& ctx);
  PeerListener(const PeerListener&) = delete;
  PeerListener& operator=(const PeerListener&) = delete;

  // Opens, binds (SO_REUSEADDR, so a restarted node gets its port back) and listens.
  PeerStatus Listen(const boost::asio::ip::tcp::endpoint& endpoint);
  // The bound endpoint; valid after Listen() succeeded.
  const boost::asio::ip::tcp::endpoint& local_endpoint() const { return local_; }
  // Starts the accept loop (runs once the transport thread runs 'io').
  void StartAccepting();
  // Closes the acceptor and every inbound connection for good.
  void Shutdown();

 private:
  class Session;

  void Accept();
  void Unregister(Session* session, const std::string& source);
  // Whether a session holding 'held' bytes of buffer may grow to 'wanted'; if so, accounts it.
  bool Reserve(size_t held, size_t wanted);
  void Release(size_t held) { buffered_ -= held; }

  PeerContext& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;  // after an accept error (e.g. out of descriptors)
  boost::asio::ip::tcp::endpoint local_;
  bool shut_down_ = false;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;  // open inbound connections
  std::unordered_map<std::string, size_t> per_source_;  // open inbound connections by source IP
  size_t buffered_ = 0;  // receive buffer bytes of all sessions (<= max_inbound_buffer_bytes)
  std::chrono::steady_clock::time_point last_refusal_log_{};
  uint64_t refusals_unlogged_ = 0;  // refused since last_refusal_log_
};

}  // namespace kvd::rpc::internal
