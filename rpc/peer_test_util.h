// Test helpers for rpc/peer_transport_test.cc. Every wait is on a condition variable or an
// io_context run with a deadline; nothing sleeps to synchronise. Loopback addresses only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rpc/peer_transport.h"

namespace kvd::rpc::testing {

// Generous: only a broken transport ever waits this long.
inline constexpr std::chrono::seconds kTimeout{20};

// Reconnects fast so tests that restart a peer finish quickly.
inline PeerTransportOptions FastOptions() {
  PeerTransportOptions options;
  options.reconnect_backoff_min = std::chrono::milliseconds(5);
  options.reconnect_backoff_max = std::chrono::milliseconds(50);
  return options;
}

// A batch to 'to' whose first message's shard field carries 'seq', so order can be checked.
inline kvpb::PeerBatch Numbered(uint64_t to, uint64_t seq) {
  kvpb::PeerBatch batch;
  batch.set_to_node(to);
  batch.add_messages()->set_shard(seq);
  return batch;
}

inline uint64_t SeqOf(const kvpb::PeerBatch& batch) {
  return batch.messages_size() > 0 ? batch.messages(0).shard() : UINT64_MAX;
}

// Collects what a transport delivers. Must outlive the transport whose handler it is.
class Inbox {
 public:
  kv::Transport::InboundHandler Handler() {
    return [this](kvpb::PeerBatch batch) {
      std::lock_guard lock(mu_);
      batches_.push_back(std::move(batch));
      cv_.notify_all();
    };
  }

  // Waits until pred(batches) holds; false on timeout.
  bool WaitUntil(const std::function<bool(const std::vector<kvpb::PeerBatch>&)>& pred,
                 std::chrono::milliseconds timeout = kTimeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(batches_); });
  }
  bool WaitForCount(size_t n) {
    return WaitUntil([n](const auto& batches) { return batches.size() >= n; });
  }
  bool WaitForSeq(uint64_t seq, std::chrono::milliseconds timeout = kTimeout) {
    return WaitUntil(
        [seq](const auto& batches) {
          for (const auto& batch : batches) {
            if (SeqOf(batch) == seq) return true;
          }
          return false;
        },
        timeout);
  }
  std::vector<kvpb::PeerBatch> Snapshot() {
    std::lock_guard lock(mu_);
    return batches_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<kvpb::PeerBatch> batches_;
};

// Records on_reachability_change events. Must outlive the transport it observes.
class ReachabilityEvents {
 public:
  void Install(PeerTransportOptions& options) {
    options.on_reachability_change = [this](uint64_t node, bool reachable) {
      std::lock_guard lock(mu_);
      events_.emplace_back(node, reachable);
      cv_.notify_all();
    };
  }
  // Waits for an event (node, reachable) recorded after the first 'since' events.
  bool WaitFor(uint64_t node, bool reachable, size_t since = 0) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kTimeout, [&] {
      for (size_t i = since; i < events_.size(); ++i) {
        if (events_[i] == std::pair(node, reachable)) return true;
      }
      return false;
    });
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return events_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<uint64_t, bool>> events_;
};

// Sends 'seq' again and again (a retransmitting sender, as Raft is) until 'inbox' has it.
inline bool SendUntilDelivered(PeerTransport& from, uint64_t to, Inbox& inbox, uint64_t seq) {
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    (void)from.Send(Numbered(to, seq));
    if (inbox.WaitForSeq(seq, std::chrono::milliseconds(20))) return true;
  }
  return false;
}

// A hand-driven TCP endpoint for feeding a receiver raw bytes or reading raw frames. Each
// operation runs this object's own io_context with a deadline.
class RawSocket {
 public:
  RawSocket() : socket_(io_), acceptor_(io_) {}

  bool Connect(const boost::asio::ip::tcp::endpoint& to);
  bool Write(std::string_view bytes);
  // Listens on 'at' (port 0: the OS picks) and returns the bound endpoint.
  boost::asio::ip::tcp::endpoint Listen(const boost::asio::ip::tcp::endpoint& at);
  // Accepts one connection into this socket; the acceptor stays open.
  bool Accept();
  bool ReadExactly(size_t n, std::string* out);
  // True once the other side has closed the connection (EOF or reset).
  bool WaitClosed();
  boost::asio::ip::tcp::socket& socket() { return socket_; }

 private:
  // Runs io_ until *done or the deadline; cancels what is left so no handler outlives a call.
  bool RunUntil(const bool& done);

  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace kvd::rpc::testing
