// Transport: how a node reaches its peers. kv/ declares it; rpc/ implements it over TCP
// (rpc/peer_transport.h) and tests implement it in memory. (docs/design.md: Layers, Testing.)
//
// Contract: Send() never blocks and never fails loudly: a frame that cannot be queued (peer down,
// queue full) is dropped and counted; Raft tolerates loss. Frames to one peer are delivered in
// order while a connection lasts. Inbound frames are handed to the InboundHandler from a
// transport thread; the handler must be thread-safe and quick (it enqueues).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "proto/kv.pb.h"

namespace kvd::kv {

class Transport {
 public:
  using InboundHandler = std::function<void(kvpb::PeerBatch batch)>;

  virtual ~Transport() = default;

  // Queues a frame for batch.to_node(). Returns false if it was dropped.
  virtual bool Send(kvpb::PeerBatch batch) = 0;

  // Whether frames to 'node' currently flow (connected, or not yet known to be down).
  virtual bool Reachable(uint64_t node) const = 0;
};

}  // namespace kvd::kv
