// NodeCore: the steppable heart of kv::Node, what raft::RawNode is to its driver. It owns the
// node's stores (raftdb, kvdb) and every shard replica, and does one thing at a time when told:
// take an input (a peer frame, a client request), tick, or run one driver round. It has no thread,
// reads time only through NodeConfig's clocks, and reaches peers only through a Transport.
//
// kv::Node (node.h) is a thin shell around it: a thread, an inbox and the real clocks. The
// deterministic simulator (tests/sim) runs the same core with simulated clocks, a simulated
// transport and stores on a fault-injecting leveldb::Env, and crashes it at every CrashPoint.
//
// A driver round (Round()):
//   1. install an incoming snapshot into kvdb (synced)        CrashPoint::kAfterSnapshotInstall
//   2. a stable leader sends its appends and heartbeats early (thesis 10.2.1)
//   3. every shard's log entries, snapshot point and hard state in ONE synced raftdb batch
//                                                             CrashPoint::kAfterLogWrite
//   4. send every other message
//   5. apply committed entries (one kvdb batch per shard), answer waiters, Advance()
//                                                             CrashPoint::kAfterApply
//   6. compact the log of shards far enough past the last compaction: kvdb sync
//      (CrashPoint::kAfterCompactionSync), then the raftdb compaction (kAfterCompaction)
//
// Outcomes (node.h): a write is answered kOk only after its entry is committed and applied;
// kUnavailable when it certainly was not applied; kTimeout when neither is known by its deadline.
// A linearizable read is served only after a ReadIndex round confirmed leadership and the replica
// applied up to that index.
//
// Callbacks passed to Write/Read/Scan are called at most once, from within a later call on the
// core (or FailPending()); a core destroyed without FailPending() drops them uncalled, which is
// what a crash is. Thread-safety: one thread at a time, except StaleRead/HostsShardOf/Directory/
// Status/IsReady/Metrics, which any thread may call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kv/node_config.h"
#include "kv/service.h"
#include "kv/transport.h"
#include "raft/status.h"

namespace kvd::kv {

struct CoreImpl;

class NodeCore {
 public:
  // Opens (or creates) the stores under config.data_dir and recovers every shard replica.
  // 'transport' is borrowed for the core's lifetime (may be null: every send is dropped).
  static raft::Status Open(NodeConfig config, Transport* transport, std::unique_ptr<NodeCore>* out);
  ~NodeCore();
  NodeCore(const NodeCore&) = delete;
  NodeCore& operator=(const NodeCore&) = delete;

  // Inputs. Each is handled at once; what it produces goes out in the next Round().
  void Deliver(kvpb::PeerBatch batch);
  void Write(WriteRequest req, std::function<void(WriteResponse)> done);
  // Linearizable unless req.stale (then served from this replica's state at once).
  void Read(ReadRequest req, std::function<void(ReadResponse)> done);
  void Scan(ScanRequest req, std::function<void(ScanResponse)> done);
  // Lock commands and reads (docs/api.md, Locks): routed like writes and reads by the name.
  void Lock(LockRequest req, std::function<void(LockResponse)> done);
  void Locks(LockListRequest req, std::function<void(LockListResponse)> done);
  // Transactions (docs/api.md, Transactions): this node coordinates; and the in-doubt ones.
  void Txn(TxnRequest req, std::function<void(TxnResponse)> done);
  void Txns(TxnListRequest req, std::function<void(TxnListResponse)> done);
  // One logical clock tick (NodeConfig::tick_ms): Raft timers, request deadlines, status.
  void Tick();
  // Milliseconds until the earliest timer (a transaction's retry) is due, 0 if due now, -1 if
  // none; Round() runs the due ones. A shell waits no longer than this between rounds.
  int64_t MsUntilNextTimer() const;
  // One driver round over every replica with a Ready. Returns true if more is ready at once.
  bool Round();
  // Answers every waiting request (node stopping): writes kTimeout, reads kUnavailable.
  void FailPending(const std::string& why);

  // Served from this node's replica of the key's shard on the calling thread (any thread);
  // kUnavailable if it hosts none (HostsShardOf).
  ReadResponse StaleRead(const ReadRequest& req) const;
  bool HostsShardOf(const std::string& key) const;  // any thread
  DirectoryView Directory() const;                  // any thread

  uint64_t id() const;
  ClusterStatus Status() const;  // as of the last tick or role change (any thread)
  bool IsReady() const;
  std::string Metrics() const;
  void CountDroppedFrame();     // an inbound frame the shell could not queue
  void CountOverloaded();       // a request the shell shed before it reached the core
  uint64_t boot_count() const;  // this store's opens so far, this one included

  CoreImpl& impl() { return *impl_; }  // for kv/node*.cc and white-box tests only

 private:
  explicit NodeCore(std::unique_ptr<CoreImpl> impl);
  std::unique_ptr<CoreImpl> impl_;
};

}  // namespace kvd::kv
