// Internal to the peer transport (rpc/peer_*.cc): the state its parts share. Owned by
// PeerTransport::Impl, which outlives the transport thread and every part that refers to it.
#pragma once

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "kv/transport.h"
#include "rpc/peer_transport.h"

namespace kvd::rpc::internal {

struct PeerCounters {
  std::atomic<uint64_t> frames_sent{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> write_batches{0};
  std::atomic<uint64_t> frames_received{0};
  std::atomic<uint64_t> bytes_received{0};
  std::atomic<uint64_t> frames_dropped{0};
  std::atomic<uint64_t> frames_lost{0};
  std::atomic<uint64_t> connect_failures{0};
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> inbound_rejected{0};

  // Counters are statistics, not synchronisation: relaxed order is enough.
  static void Add(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
  PeerTransportStats Snapshot() const;
};

struct PeerContext {
  PeerContext(uint64_t self, PeerTransportOptions options, kv::Transport::InboundHandler handler)
      : self(self), options(std::move(options)), handler(std::move(handler)) {}

  // Writes one diagnostic line through options.log (stderr if unset), prefixed with the node.
  void Log(std::string_view line) const;

  const uint64_t self;
  const PeerTransportOptions options;
  const kv::Transport::InboundHandler handler;
  PeerCounters counters;
  // Source address of outbound connections: the bound listen IP, unless that is a wildcard.
  // Written by Start() before the transport thread exists; read only on that thread after.
  boost::asio::ip::address bind_address;
  bool bind_outbound = false;
};

}  // namespace kvd::rpc::internal
