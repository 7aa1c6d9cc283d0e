// Internal to the peer transport. PeerListener: the inbound side: accepts connections and reads
// frames from each, handing every PeerBatch to the context's handler (rpc/peer_transport.h).
//
// Threading: Listen() runs before the transport thread starts; everything else on that thread.
// The listener must outlive the thread. Sessions are owned by the handlers of their pending reads
// and registered here (weakly) only so that Shutdown() can close them.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
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
  void Unregister(Session* session);

  PeerContext& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;  // after an accept error (e.g. out of descriptors)
  boost::asio::ip::tcp::endpoint local_;
  bool shut_down_ = false;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;  // open inbound connections
};

}  // namespace kvd::rpc::internal
