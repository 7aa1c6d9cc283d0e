// Node: one kvd process's host for many shard replicas (multi-Raft, DESIGN.md §4).
//
// One driver thread owns every raft::RawNode of the node. Each round it: steps queued inbound
// messages and client requests, ticks on schedule, collects the Ready of every shard, persists
// all of them in ONE LevelDB WriteBatch with sync (group commit across shards and requests),
// sends the round's messages batched per destination node (one PeerBatch frame each), applies
// committed entries (one kvdb batch per shard), answers waiting requests, and advances.
//
// Requests (KvService) may come from any thread: they are queued (bounded; over the bound they
// fail with kOverloaded) and answered through their callback on the driver thread, except stale
// reads, which are served directly from the calling thread (LevelDB reads are thread-safe).
//
// Outcomes: a write is answered kOk only after its entry is committed and applied; kUnavailable
// when it was certainly not applied (no leader, or its log slot was taken by another entry);
// kTimeout (outcome unknown) when neither is known by the deadline. A linearizable read is served
// only after a ReadIndex round confirmed leadership and the replica applied up to that index.
//
// Ownership: Node owns its stores and replicas; the Transport is borrowed and must outlive Stop().
#pragma once

#include <leveldb/env.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kv/service.h"
#include "kv/transport.h"
#include "raft/status.h"

namespace kvd::kv {

struct NodeConfig {
  uint64_t node_id = 0;
  std::vector<NodeInfo> members;  // the initial cluster: every node is a voter of every shard
  std::vector<uint64_t> shards = {1};
  std::string data_dir;         // holds raftdb/ and kvdb/
  leveldb::Env* env = nullptr;  // borrowed; null = leveldb::Env::Default()

  int tick_ms = 100;
  int election_ticks = 10;  // election timeout: 1-2 s at 100 ms ticks
  int heartbeat_ticks = 1;
  int64_t request_timeout_ms = 5000;
  size_t max_pending_requests = 20000;
  size_t max_inbox = 8192;         // queued inbound frames and requests
  uint64_t compact_every = 10000;  // entries applied between log compactions
  size_t snapshot_chunk_bytes = 1 << 20;
  int64_t session_ttl_ms = 10 * 60 * 1000;
  uint64_t random_seed = 0;  // 0: derived from the node id and the clock
  // One line per change of a replica's role or leader (e.g. "shard 1: follower, term 3, leader
  // n2"), called on the driver thread; may be empty.
  std::function<void(std::string_view line)> log;
};

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
  ClusterStatus Status() const override;
  bool IsReady() const override;
  std::string Metrics() const override;

  uint64_t id() const;

  struct Impl;  // opaque; defined in node_impl.h

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Which shard owns a key. One data shard for now; the consistent-hash directory replaces this.
uint64_t ShardForKey(const std::vector<uint64_t>& shards, const std::string& key);

}  // namespace kvd::kv
