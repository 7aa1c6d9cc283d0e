// PeerTransport: kv::Transport over TCP (docs/formats.md). Frames are length-prefixed PeerBatch
// messages (rpc/peer_frame.h). Each node keeps one outbound connection per peer, opened lazily on
// the first Send() and bound to this node's own listen IP, so that per-address faults (iptables
// rules on loopback aliases 127.0.0.x) cut exactly the traffic of the node that owns the address.
// Connections are one-way: a node writes on the connection it opened and reads on the ones it
// accepted, so frames from A to B and from B to A travel on two different sockets. A wildcard
// listen address (0.0.0.0, ::) means no source binding; a loopback listen address can only
// reach loopback peers.
//
// Outbound, per peer: a bounded queue (max_queued_frames, max_queued_bytes). Send() serializes on
// the caller's thread, queues, and returns at once; when the queue is full, the peer is unknown,
// the frame is larger than max_frame_bytes or the transport is stopped, it drops the frame, counts
// it (frames_dropped) and returns false. A batch over max_frame_bytes that holds several messages
// (or a snapshot chunk and messages) is first split into frames of whole messages, in order, each
// within the cap; Send() then returns true only if every part was queued. It never blocks. A queue
// always accepts one frame when empty, so a frame larger than max_queued_bytes (a snapshot chunk)
// still gets through. The transport thread writes consecutive queued frames with one gather write.
// When a connect, a write or the connection itself fails (or a write stalls past
// write_stall_timeout), the peer is marked unreachable, the connection closed, queued and in-flight
// frames discarded (frames_lost: Raft retransmits, and stale messages are worth little), and a
// reconnect is tried after an exponential backoff (reconnect_backoff_min doubling up to _max, reset
// by a successful connect); frames sent meanwhile queue up to the bound and go out once connected.
// A peer whose queue is empty when its backoff ends stays idle until the next Send().
//
// Inbound: every accepted connection is read frame by frame; each PeerBatch is handed to the
// InboundHandler in arrival order, from_node as the sender stamped it. A length prefix above
// max_frame_bytes, a body that does not parse, a frame addressed to another node, a buffer that
// would grow past the global max_inbound_buffer_bytes, or a stall (inbound_stall_timeout) closes
// that connection (logged once, counted in inbound_rejected); other connections are unaffected.
// Receive buffers grow with the bytes received, never to a declared length up front.
// from_node is not authenticated: the cluster network is trusted.
//
// Threading: one transport thread runs all socket work, the InboundHandler and
// on_reachability_change; it is created by Start() and joined by Stop(). Send, Reachable, Stats
// and SetPeerAddress may be called from any thread, concurrently. The handler and the callbacks
// must be quick and must not call Stop() (it would wait for the very thread running them); one
// that throws aborts the process (a caller's bug).
// Asio stays out of this header: it is included widely.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "kv/transport.h"
#include "proto/kv.pb.h"

namespace kvd::rpc {

// Default frame cap: 4 MiB of Raft traffic (a few 1 MiB MsgApps or snapshot chunks batched for one
// node) plus as much again of headroom. A frame larger than this is refused by both sides.
inline constexpr size_t kDefaultMaxPeerFrameBytes = size_t{8} << 20;

struct PeerTransportOptions {
  // Bounds of each peer's outbound queue (frames waiting to be written).
  size_t max_queued_frames = 1024;
  size_t max_queued_bytes = size_t{64} << 20;
  // Largest PeerBatch body accepted by Send() and by the reader (snapshot chunks included).
  // Snapshot chunks are ~1 MiB (kv::NodeConfig::snapshot_chunk_bytes) and a MsgApp carries about
  // 1 MiB of entries (raft max_size_per_msg) but always at least one whole entry, so kvd raises
  // this for values larger than the default (cli/kvd.cc).
  size_t max_frame_bytes = kDefaultMaxPeerFrameBytes;
  // Global bound on the receive buffers of all inbound connections together. A connection whose
  // buffer would have to grow past it is closed (counted in inbound_rejected) instead; the sender
  // reconnects and Raft retransmits. Must be at least 2 * max_frame_bytes.
  size_t max_inbound_buffer_bytes = size_t{64} << 20;
  // One gather write takes at most this many queued bytes (but always at least one frame).
  size_t max_write_batch_bytes = size_t{4} << 20;
  std::chrono::milliseconds reconnect_backoff_min{50};
  std::chrono::milliseconds reconnect_backoff_max{2000};
  // Resolve + TCP connect; longer counts as a connect failure.
  std::chrono::milliseconds connect_timeout{1000};
  // A gather write that has not completed after this long fails the connection (a stopped or
  // partitioned peer that no longer acks); on Linux it is also the socket's TCP_USER_TIMEOUT, so
  // data left unacknowledged this long aborts the connection even while writes still fit into
  // the send buffer. Must exceed the time to write the largest frame.
  std::chrono::milliseconds write_stall_timeout{5000};
  // Further inbound connections are closed at once, as are those beyond
  // max_inbound_per_source from one source IP address.
  size_t max_inbound_connections = 256;
  size_t max_inbound_per_source = 8;
  // An inbound connection must deliver its first complete frame within this time of being
  // accepted, and a frame once begun must keep receiving bytes (no gap this long), or the
  // connection is closed (inbound_rejected). Between complete frames a connection may stay
  // silent indefinitely: a follower's link to another follower legitimately carries nothing.
  std::chrono::milliseconds inbound_stall_timeout{10'000};
  // Called on the transport thread when Reachable(node) changes. May be empty.
  std::function<void(uint64_t node, bool reachable)> on_reachability_change;
  // Diagnostics (state changes, rejected connections), one line each; empty: stderr.
  std::function<void(std::string_view line)> log;
};

// Monotonic counters since construction, for /metrics.
struct PeerTransportStats {
  // Handed to a socket write (counted when the write starts; bytes include the 4-byte
  // prefixes). If that write then fails, its frames are also counted in frames_lost.
  uint64_t frames_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t write_batches = 0;  // gather writes; frames_sent / write_batches = batching factor
  uint64_t frames_received = 0;
  uint64_t bytes_received = 0;
  uint64_t frames_dropped = 0;  // Send() returned false
  uint64_t frames_lost = 0;     // accepted by Send(), then discarded with a failed connection
  uint64_t connect_failures = 0;
  uint64_t connections_accepted = 0;
  // Inbound connections closed for a bad frame, over the buffer budget, or stalled; and those
  // refused at accept (over max_inbound_connections or max_inbound_per_source).
  uint64_t inbound_rejected = 0;
};

// The outcome of an operation that can fail; errors are values (docs/design.md, Code conventions).
class [[nodiscard]] PeerStatus {
 public:
  static PeerStatus Ok() { return PeerStatus(""); }
  static PeerStatus Error(std::string message) { return PeerStatus(std::move(message)); }
  bool ok() const { return message_.empty(); }
  const std::string& message() const { return message_; }

 private:
  explicit PeerStatus(std::string message) : message_(std::move(message)) {}
  std::string message_;  // empty when ok
};

class PeerTransport final : public kv::Transport {
 public:
  // 'listen_address' and the peers' addresses are "host:port" ("[v6]:port" for IPv6); the
  // listen port may be 0 (the OS picks; see listen_port()). An entry for 'self' in 'peers' is
  // ignored. 'handler' must be non-empty and thread-safe. Nothing touches the network until
  // Start(); frames sent before it wait in the (bounded) queues.
  PeerTransport(uint64_t self, std::string listen_address, std::map<uint64_t, std::string> peers,
                InboundHandler handler, PeerTransportOptions options = {});
  ~PeerTransport() override;  // Stop()s
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Validates the options and addresses, binds and listens, starts the transport thread. Call at
  // most once; fails if the address cannot be bound or after Stop().
  PeerStatus Start();
  // Closes every connection and joins the transport thread; queued frames are discarded. Prompt
  // (does not wait for peers). Idempotent. After it returns no callback runs again.
  void Stop();

  // The bound listen port and "ip:port" address; valid after a successful Start().
  uint16_t listen_port() const;
  std::string listen_address() const;

  // Adds a peer or changes its address (membership changes; tests that bind port 0). A live
  // connection to the old address is closed; queued frames are kept for the new one.
  PeerStatus SetPeerAddress(uint64_t node, std::string address);

  // kv::Transport. Send() stamps from_node with this node's id.
  bool Send(kvpb::PeerBatch batch) override;
  // False after a connect, write or connection failure to 'node' until a connect succeeds again;
  // true before the first attempt. False for unknown nodes.
  bool Reachable(uint64_t node) const override;

  PeerTransportStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvd::rpc
