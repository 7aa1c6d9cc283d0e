// Node: one kvd process's host for many shard replicas (multi-Raft, docs/design.md).
//
// A thin shell around NodeCore (kv/node_core.h), which holds every raft::RawNode, the stores and
// the driver round. The shell adds one driver thread, an inbox and the real clocks. Each loop
// the thread steps queued inbound messages and client requests into the core, ticks on schedule
// and runs the core's rounds: collect the Ready of every shard, persist all of them in ONE
// LevelDB WriteBatch with sync (group commit across shards and requests), send the round's
// messages batched per destination node (one PeerBatch frame each), apply committed entries (one
// kvdb batch per shard), answer waiting requests, and advance.
//
// Requests (KvService) may come from any thread: they are queued (bounded; over the bound they
// fail with kOverloaded) and answered through their callback on the driver thread, except stale
// reads of a key whose shard this node hosts, which are served directly from the calling thread
// (LevelDB reads are thread-safe).
//
// Outcomes: a write is answered kOk only after its entry is committed and applied; kUnavailable
// when it was certainly not applied (no leader, or its log slot was taken by another entry);
// kTimeout (outcome unknown) when neither is known by the deadline. A linearizable read is served
// only after a ReadIndex round confirmed leadership and the replica applied up to that index.
//
// Ownership: Node owns its stores and replicas; the Transport is borrowed and must outlive Stop().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kv/node_config.h"
#include "kv/service.h"
#include "kv/transport.h"
#include "raft/status.h"

namespace kvd::kv {

class Node final : public KvService {
 public:
  static raft::Status Open(NodeConfig config, std::unique_ptr<Node>* out);
  ~Node() override;

  // Starts the driver thread. 'transport' is borrowed until Stop().
  void Start(Transport* transport);
  void Stop();  // idempotent; pending requests are answered kUnavailable/kTimeout

  // Inbound frames from the transport (any thread).
  void Deliver(kvpb::PeerBatch batch);

  // KvService
  void Write(WriteRequest req, std::function<void(WriteResponse)> done) override;
  void Read(ReadRequest req, std::function<void(ReadResponse)> done) override;
  void Scan(ScanRequest req, std::function<void(ScanResponse)> done) override;
  void Lock(LockRequest req, std::function<void(LockResponse)> done) override;
  void Locks(LockListRequest req, std::function<void(LockListResponse)> done) override;
  void Txn(TxnRequest req, std::function<void(TxnResponse)> done) override;
  void Txns(TxnListRequest req, std::function<void(TxnListResponse)> done) override;
  ClusterStatus Status() const override;
  DirectoryView Directory() const override;
  bool IsReady() const override;
  std::string Metrics() const override;

  uint64_t id() const;

  struct Impl;  // opaque; defined in node.cc

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvd::kv
