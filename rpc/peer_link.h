// Internal to the peer transport. PeerLink: the outbound side toward one peer: its bounded queue,
// its (at most one) TCP connection and the connect / backoff state machine described in
// rpc/peer_transport.h.
//
//   kIdle --Enqueue--> kConnecting --ok--> kConnected --write/read error, stall--> kBackoff
//                           |  connect error, timeout                                 |
//                           +------------------------> kBackoff --timer, queue empty--> kIdle
//                                                           +----timer, frames queued-->
//                                                           kConnecting
//   any --Shutdown--> kStopped (final)
//
// Threading: Enqueue, SetAddress, address and reachable may be called from any thread; all other
// state belongs to the transport thread (the one running 'io'). The link must outlive that
// thread; handlers still queued in 'io' when it stops are destroyed uninvoked.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "rpc/peer_context.h"

namespace kvd::rpc::internal {

class PeerLink {
 public:
  PeerLink(boost::asio::io_context& io, PeerContext& ctx, uint64_t node, std::string address);
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  // Queues one encoded frame (header included). Returns false, counting the drop, if the queue
  // is at its bound.
  bool Enqueue(std::string frame);
  // Points the link at a new address; the current connection, if any, is replaced.
  void SetAddress(std::string address);
  std::string address() const;
  // Transport thread only: closes the connection and cancels every timer for good.
  void Shutdown();
  bool reachable() const { return reachable_.load(std::memory_order_acquire); }

 private:
  enum class State { kIdle, kConnecting, kConnected, kBackoff, kStopped };
  // One connection attempt and, if it succeeds, the connection. Shared because the handlers of
  // its pending operations keep it (socket, in-flight buffers) alive after the link has failed
  // it and moved on; a handler whose connection is no longer conn_ only cleans up.
  struct Connection;
  using Clock = std::chrono::steady_clock;

  void OnKick();
  void Redirect();
  void StartConnect();
  void Connect(const std::shared_ptr<Connection>& conn,
               const boost::asio::ip::tcp::endpoint& endpoint);
  void OnConnected(const std::shared_ptr<Connection>& conn);
  void WatchForClose(const std::shared_ptr<Connection>& conn);
  void WriteNext();
  void OnWritten(const std::shared_ptr<Connection>& conn, const boost::system::error_code& ec);
  void Fail(const std::string& reason, bool connect_failure);
  // Goes idle if nothing is queued (returns false), so the next Enqueue kicks the link again.
  bool HasQueuedOrGoIdle();
  void CloseConnection();
  void ArmTimer(Clock::duration delay, std::function<void()> on_expiry);
  void CancelTimer();
  void SetReachable(bool reachable, std::string_view why);

  boost::asio::io_context& io_;
  PeerContext& ctx_;
  const uint64_t node_;
  std::atomic<bool> reachable_{true};

  mutable std::mutex mu_;
  std::string address_;            // GUARDED_BY(mu_)
  std::deque<std::string> queue_;  // GUARDED_BY(mu_), bounded by the options
  size_t queued_bytes_ = 0;        // GUARDED_BY(mu_)
  // True while the transport thread is bound to look at queue_ again (a kick is posted, or a
  // connect, write or backoff is pending). Enqueue posts a kick only when it is false, so a busy
  // link costs one post per idle period, not one per frame.
  bool drain_scheduled_ = false;  // GUARDED_BY(mu_)

  // Transport thread only.
  State state_ = State::kIdle;
  std::shared_ptr<Connection> conn_;
  boost::asio::steady_timer timer_;  // connect timeout, then backoff
  uint64_t timer_epoch_ = 0;         // invalidates expiries that raced with a re-arm
  boost::asio::ip::tcp::resolver resolver_;
  std::chrono::milliseconds backoff_;
};

}  // namespace kvd::rpc::internal
