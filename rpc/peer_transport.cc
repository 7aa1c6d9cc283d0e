#include "rpc/peer_transport.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "rpc/host_port.h"
#include "rpc/peer_context.h"
#include "rpc/peer_frame.h"
#include "rpc/peer_link.h"
#include "rpc/peer_listener.h"

namespace kvd::rpc {

namespace asio = boost::asio;
using asio::ip::tcp;
using internal::PeerCounters;

namespace internal {

PeerTransportStats PeerCounters::Snapshot() const {
  constexpr auto kOrder = std::memory_order_relaxed;
  PeerTransportStats s;
  s.frames_sent = frames_sent.load(kOrder);
  s.bytes_sent = bytes_sent.load(kOrder);
  s.write_batches = write_batches.load(kOrder);
  s.frames_received = frames_received.load(kOrder);
  s.bytes_received = bytes_received.load(kOrder);
  s.frames_dropped = frames_dropped.load(kOrder);
  s.frames_lost = frames_lost.load(kOrder);
  s.connect_failures = connect_failures.load(kOrder);
  s.connections_accepted = connections_accepted.load(kOrder);
  s.inbound_rejected = inbound_rejected.load(kOrder);
  return s;
}

void PeerContext::Log(std::string_view line) const {
  const std::string text =
      "peer transport, node " + std::to_string(self) + ": " + std::string(line);
  if (options.log) {
    options.log(text);
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
}

}  // namespace internal

namespace {

std::optional<std::string> ValidateOptions(const PeerTransportOptions& o) {
  if (o.max_queued_frames == 0 || o.max_queued_bytes == 0) return "queue bounds must be > 0";
  if (o.max_frame_bytes > static_cast<size_t>(INT_MAX)) return "max_frame_bytes above 2^31-1";
  if (o.max_write_batch_bytes == 0) return "max_write_batch_bytes must be > 0";
  if (o.reconnect_backoff_min.count() <= 0 || o.reconnect_backoff_max < o.reconnect_backoff_min) {
    return "need 0 < reconnect_backoff_min <= reconnect_backoff_max";
  }
  if (o.connect_timeout.count() <= 0 || o.write_stall_timeout.count() <= 0) {
    return "timeouts must be > 0";
  }
  if (o.max_inbound_connections == 0 || o.max_inbound_per_source == 0) {
    return "max_inbound_connections and max_inbound_per_source must be > 0";
  }
  if (o.max_inbound_buffer_bytes / 2 < o.max_frame_bytes) {
    return "max_inbound_buffer_bytes must be at least 2 * max_frame_bytes";
  }
  if (o.inbound_stall_timeout.count() <= 0) return "inbound_stall_timeout must be > 0";
  return std::nullopt;
}

}  // namespace

struct PeerTransport::Impl {
  Impl(uint64_t self, std::string listen, InboundHandler handler, PeerTransportOptions options)
      : ctx(self, std::move(options), std::move(handler)),
        listen_config(std::move(listen)),
        listener(io, ctx) {}

  internal::PeerLink* FindLink(uint64_t node) const {
    std::shared_lock lock(links_mu);
    const auto it = links.find(node);
    return it == links.end() ? nullptr : it->second.get();
  }

  PeerStatus Listen();
  void Run();
  void ShutdownOnTransportThread();

  // Declaration order is destruction order in reverse: 'io' outlives the links and the
  // listener (whose sockets it serves) and is outlived by 'ctx' (which its handlers use).
  internal::PeerContext ctx;
  const std::string listen_config;
  std::atomic<bool> stopped{false};
  std::mutex lifecycle_mu;  // serialises Start() and Stop()
  bool started = false;     // GUARDED_BY(lifecycle_mu)
  mutable std::mutex bound_mu;
  std::string bound;  // GUARDED_BY(bound_mu): "ip:port" once listening
  std::atomic<uint16_t> port{0};
  asio::io_context io{1};  // one thread runs it
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  internal::PeerListener listener;
  mutable std::shared_mutex links_mu;
  // GUARDED_BY(links_mu). Never erased, so a PeerLink* stays valid for the transport's life.
  std::map<uint64_t, std::unique_ptr<internal::PeerLink>> links;
  std::thread thread;
};

PeerStatus PeerTransport::Impl::Listen() {
  std::string error;
  const std::optional<HostPort> host_port = ParseHostPort(listen_config, &error);
  if (!host_port) return PeerStatus::Error("listen address: " + error);
  boost::system::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address(host_port->host, ec), host_port->port);
  if (ec) {  // a name: resolve it once, now
    tcp::resolver resolver(io);
    const auto results = resolver.resolve(host_port->host, std::to_string(host_port->port), ec);
    if (ec || results.empty()) {
      return PeerStatus::Error("resolve " + listen_config + ": " +
                               (ec ? ec.message() : std::string("no address")));
    }
    endpoint = results.begin()->endpoint();
  }
  PeerStatus status = listener.Listen(endpoint);
  if (!status.ok()) return status;
  const tcp::endpoint& local = listener.local_endpoint();
  std::ostringstream out;
  out << local;
  {
    std::lock_guard lock(bound_mu);
    bound = out.str();
  }
  port.store(local.port());
  ctx.bind_address = local.address();
  ctx.bind_outbound = !local.address().is_unspecified();
  return PeerStatus::Ok();
}

void PeerTransport::Impl::Run() {
  try {
    io.run();
  } catch (const std::exception& e) {
    // Only a callback can throw here (all socket calls take error codes): a caller's bug.
    ctx.Log(std::string("uncaught exception on the transport thread: ") + e.what());
    std::abort();
  }
}

void PeerTransport::Impl::ShutdownOnTransportThread() {
  listener.Shutdown();
  {
    std::shared_lock lock(links_mu);
    for (auto& entry : links) entry.second->Shutdown();
  }
  io.stop();  // handlers of the aborted operations need not run
}

PeerTransport::PeerTransport(uint64_t self, std::string listen_address,
                             std::map<uint64_t, std::string> peers, InboundHandler handler,
                             PeerTransportOptions options)
    : impl_(std::make_unique<Impl>(self, std::move(listen_address), std::move(handler),
                                   std::move(options))) {
  for (auto& [node, address] : peers) {
    if (node == self) continue;  // a cluster map may list this node too
    impl_->links.emplace(node, std::make_unique<internal::PeerLink>(impl_->io, impl_->ctx, node,
                                                                    std::move(address)));
  }
}

PeerTransport::~PeerTransport() { Stop(); }

PeerStatus PeerTransport::Start() {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.lifecycle_mu);
  if (impl.started || impl.stopped.load()) {
    return PeerStatus::Error("Start() called twice or after Stop()");
  }
  if (std::optional<std::string> error = ValidateOptions(impl.ctx.options)) {
    return PeerStatus::Error("options: " + *error);
  }
  if (!impl.ctx.handler) return PeerStatus::Error("no inbound handler");
  {
    std::shared_lock links_lock(impl.links_mu);
    for (const auto& [node, link] : impl.links) {
      std::string error;
      if (!ParseHostPort(link->address(), &error)) {
        return PeerStatus::Error("node " + std::to_string(node) + ": " + error);
      }
    }
  }
  PeerStatus status = impl.Listen();
  if (!status.ok()) return status;
  impl.listener.StartAccepting();
  impl.work.emplace(impl.io.get_executor());
  impl.thread = std::thread([&impl] { impl.Run(); });
  impl.started = true;
  return PeerStatus::Ok();
}

void PeerTransport::Stop() {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.lifecycle_mu);
  if (impl.stopped.exchange(true)) return;
  if (!impl.thread.joinable()) return;
  if (impl.thread.get_id() == std::this_thread::get_id()) {
    impl.ctx.Log("Stop() called from the transport thread (a handler); that would deadlock");
    std::abort();
  }
  asio::post(impl.io, [&impl] { impl.ShutdownOnTransportThread(); });
  impl.thread.join();
  impl.work.reset();
}

uint16_t PeerTransport::listen_port() const { return impl_->port.load(); }

std::string PeerTransport::listen_address() const {
  std::lock_guard lock(impl_->bound_mu);
  return impl_->bound;
}

PeerStatus PeerTransport::SetPeerAddress(uint64_t node, std::string address) {
  Impl& impl = *impl_;
  if (node == impl.ctx.self) return PeerStatus::Error("node is this node");
  std::string error;
  if (!ParseHostPort(address, &error)) return PeerStatus::Error(error);
  std::unique_lock lock(impl.links_mu);
  const auto it = impl.links.find(node);
  if (it == impl.links.end()) {
    impl.links.emplace(
        node, std::make_unique<internal::PeerLink>(impl.io, impl.ctx, node, std::move(address)));
  } else {
    it->second->SetAddress(std::move(address));
  }
  return PeerStatus::Ok();
}

namespace {

// Splits a batch too large for one frame into batches of whole messages, in order: the snapshot
// chunk (with its term) first, alone, then the messages, as many per batch as fit 'max_bytes'.
// A single message or chunk above the cap still makes a batch of its own (and is then refused).
std::vector<kvpb::PeerBatch> SplitBatch(kvpb::PeerBatch& batch, size_t max_bytes) {
  std::vector<kvpb::PeerBatch> out;
  auto fresh = [&] {
    kvpb::PeerBatch b;
    b.set_from_node(batch.from_node());
    b.set_to_node(batch.to_node());
    return b;
  };
  if (batch.has_snapshot_chunk()) {
    kvpb::PeerBatch b = fresh();
    *b.mutable_snapshot_chunk() = std::move(*batch.mutable_snapshot_chunk());
    b.set_snapshot_term(batch.snapshot_term());
    out.push_back(std::move(b));
  }
  constexpr size_t kSlack = 64;  // field tags, length varints and the node ids
  kvpb::PeerBatch current = fresh();
  size_t bytes = kSlack;
  for (auto& m : *batch.mutable_messages()) {
    const size_t size = m.ByteSizeLong() + 8;
    if (current.messages_size() > 0 && bytes + size > max_bytes) {
      out.push_back(std::move(current));
      current = fresh();
      bytes = kSlack;
    }
    *current.add_messages() = std::move(m);
    bytes += size;
  }
  if (current.messages_size() > 0) out.push_back(std::move(current));
  return out;
}

}  // namespace

bool PeerTransport::Send(kvpb::PeerBatch batch) {
  Impl& impl = *impl_;
  internal::PeerLink* link = impl.stopped.load() ? nullptr : impl.FindLink(batch.to_node());
  std::string frame;
  if (link != nullptr) {
    batch.set_from_node(impl.ctx.self);
    const size_t max = impl.ctx.options.max_frame_bytes;
    if (EncodeFrame(batch, max, &frame)) return link->Enqueue(std::move(frame));
    const int parts = batch.messages_size() + (batch.has_snapshot_chunk() ? 1 : 0);
    if (parts > 1) {
      // Over the frame cap only because several messages travel together: send them in turns.
      bool all = true;
      for (kvpb::PeerBatch& part : SplitBatch(batch, max)) {
        if (EncodeFrame(part, max, &frame)) {
          all = link->Enqueue(std::move(frame)) && all;
        } else {
          PeerCounters::Add(impl.ctx.counters.frames_dropped, 1);
          all = false;
        }
      }
      return all;
    }
  }
  PeerCounters::Add(impl.ctx.counters.frames_dropped, 1);
  return false;
}

bool PeerTransport::Reachable(uint64_t node) const {
  const internal::PeerLink* link = impl_->FindLink(node);
  return link != nullptr && link->reachable();
}

PeerTransportStats PeerTransport::Stats() const { return impl_->ctx.counters.Snapshot(); }

}  // namespace kvd::rpc
