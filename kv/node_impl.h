// Private to kv/node*.cc (and white-box tests): the state behind kv::NodeCore. Everything below
// "driver-owned" is touched only by the thread driving the core; the rest is guarded as annotated.
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <set>

#include "kv/directory.h"
#include "kv/node_core.h"
#include "kv/raft_log_store.h"
#include "kv/state_machine.h"
#include "raft/raw_node.h"

namespace kvd::kv {

using WriteDone = std::function<void(WriteResponse)>;
using ReadDone = std::function<void(ReadResponse)>;
using ScanDone = std::function<void(ScanResponse)>;
using LockDone = std::function<void(LockResponse)>;
using LockListDone = std::function<void(LockListResponse)>;
using TxnDone = std::function<void(TxnResponse)>;
using TxnListDone = std::function<void(TxnListResponse)>;
// The outcome of a command proposed to a shard (CoreImpl::ProposeToShard): kOk and the applied
// result, or an error (kTimeout: it may have been applied; any other: it was not).
using CommandDone = std::function<void(ErrorCode, const std::string&, const kvpb::Result&)>;
// A shard's transaction records as of its clock (a listing of in-doubt transactions).
using TxnRecordsDone =
    std::function<void(ErrorCode, const std::string&,
                       std::vector<std::pair<std::string, kvpb::TxnRecord>>, int64_t clock_ms)>;

// Request ids: the boot count in the high bits, a per-boot sequence in the low bits, so that an
// id is never reused by a later incarnation of the node (a late answer to a request of the
// previous incarnation must not answer a new one).
inline constexpr int kRequestSeqBits = 40;

// A proposed command waiting for its outcome. 'done' answers errors (timeouts, a lost slot);
// 'on_result', if set, answers the applied result instead of converting it for 'done' (locks).
struct PendingWrite {
  uint64_t shard = 0;
  std::function<void(WriteResponse)> done;
  int64_t deadline_ms = 0;
  uint64_t index = 0;  // log slot, once seen in a Ready (0: not yet known)
  std::function<void(const kvpb::Result&)> on_result;
  int64_t wait_ms = 0;  // a lock acquire may queue this long once applied
  bool queued = false;  // applied and queued: its outcome comes as a LockWakeup
};

// A linearizable get or scan waiting for its ReadIndex round and for the replica to apply up to
// the index it confirmed.
struct PendingRead {
  uint64_t shard = 0;
  bool is_scan = false;
  ReadRequest get;
  ScanRequest scan;
  std::function<void(ReadResponse)> get_done;
  std::function<void(ScanResponse)> scan_done;
  bool is_locks = false;  // a lock read (GET /v1/locks[/{name}]) of this shard
  LockListRequest locks;
  LockListDone locks_done;
  int64_t locks_now = 0;  // the shard clock estimate lock reads show times by (ServeReads)
  int64_t deadline_ms = 0;
  int intent_rounds = 0;   // times it met committed intents and was served again after them
  bool has_index = false;  // leadership confirmed; serve once applied reaches read_index
  uint64_t read_index = 0;

  // Answers with an error (a read has no effect: a failed one is safe to retry).
  void Fail(ErrorCode code, const std::string& why);
  // Answers from 'sm', which has applied at least read_index.
  void Serve(const ShardStateMachine& sm);
};

// Whether a read is answered from this replica's applied state at once, without confirming
// leadership through ReadIndex: exactly the reads that asked for stale consistency.
bool ServeFromLocalState(bool stale_requested);
// Whether a write is acknowledged as soon as it is proposed: never.
bool AckOnPropose();
// The boot count that request ids embed: this boot's.
uint64_t RequestIdBoot(uint64_t boot);
// Whether Open reconciles raftdb with a kvdb a crash left ahead of it: always.
bool ReconcileOnOpen();
// Whether the image Raft was handed moves aside from the staging area: always.
bool KeepAcceptedImageAside();
// Whether keys are routed by the directory the meta shard committed (not by the node's flags):
// always.
bool RouteByCommittedDirectory();
// Whether leaders stamp entries with the monotonic clock (not the wall clock): always.
bool StampWithMonotonicClock();
// Whether a write's fence goes into its command: always. These decisions live in
// kv/node_bug_hooks.cc, where planted-bug test builds change them.
bool HonourFences();
// The crash-test build of kvd (kvd_crash_at) exits at once, like kill -9, at the crash point
// that the environment variable KVD_CRASH_AT names (CrashPointName); other builds never do.
void DieIfAsked(CrashPoint p);
// Whether a transaction's coordinator answers success only once the record is COMMITTED: always.
bool AnswerAtCommitPoint();
// Whether a participant asks the record before dropping an intent that outlived its TTL: always.
bool AskRecordForStaleIntents();

// A lock read served from 'sm' (GET /v1/locks[/{name}]); times left are measured from 'now',
// an estimate of the shard clock (CoreImpl::ShardClockEstimate), for display only.
LockListResponse ReadLocks(const ShardStateMachine& sm, uint64_t shard, const LockListRequest& req,
                           int64_t now);

struct Replica {
  uint64_t shard = 0;
  std::unique_ptr<raft::RawNode> raw;
  ShardLog* log = nullptr;          // owned by the RaftLogStore
  ShardStateMachine* sm = nullptr;  // owned by the KvStore
  raft::SoftState soft;
  uint64_t last_compacted = 0;
  std::map<uint64_t, uint64_t> slot_to_request;  // log index -> pending write's request id
  // Snapshot streaming.
  std::vector<kvpb::SnapshotChunk> staged;  // chunks received for an incoming snapshot
  bool staged_complete = false;
  size_t staged_bytes = 0;
  // The complete image whose MSG_SNAP Raft was handed: installed when Raft's Ready carries it.
  // Kept apart from 'staged', which a resent stream may restart meanwhile.
  std::vector<kvpb::SnapshotChunk> accepted;
  int64_t last_clock_proposal_ms = 0;  // leader: when it last proposed a clock entry
  uint64_t last_report_tick = 0;       // leader: when it last reported itself to the meta shard
  uint64_t last_transfer_tick = 0;  // leader: when it last handed the shard to its preferred node
  uint64_t leader_since_tick = 0;   // when this replica last became leader
  // Quiescence (node_quiesce.cc): an idle group is not ticked, so it sends no heartbeats.
  bool quiesced = false;
  uint64_t idle_ticks = 0;                          // ticks since the group last did anything
  std::map<uint64_t, uint64_t> snapshot_sent_tick;  // follower -> tick the stream was sent
  std::atomic<uint64_t> applied_index{0};           // mirror for other threads
  // Locks with waiters and the shard time each is next due; the leader proposes a LockTick
  // when its estimate of the shard clock reaches it (node_locks.cc).
  std::map<std::string, int64_t> lock_events;
  std::map<std::string, uint64_t> lock_tick_sent;  // name -> tick a LockTick was proposed
  int64_t last_stamp_seen = 0;  // applied().last_stamp_ms() as of stamp_seen_at (local time)
  int64_t stamp_seen_at = 0;
  // Transactions as applied here (node_txn_recovery.cc): the records this shard holds, the
  // transactions prepared here, and when recovery last acted on each (tick).
  std::map<std::string, kvpb::TxnRecord> txn_records;
  std::map<std::string, TxnEffects::Prepared> txn_prepared;
  std::map<std::string, uint64_t> txn_recovery_tick;
};

// Where one driver round's time went, phase by phase (for the slow-round log).
// Allocation-free: it is filled every round and formatted only when a round was slow.
struct RoundPhases {
  explicit RoundPhases(std::chrono::steady_clock::time_point now);
  void Mark(const char* phase);  // the time since the previous mark was spent on `phase`
  int64_t CpuMicros() const;     // the driver thread's CPU time since construction
  std::chrono::steady_clock::time_point start, last;
  int64_t cpu_start_micros = 0;
  std::array<std::pair<const char*, int64_t>, 8> micros{};
  size_t marks = 0;
  uint64_t entries_written = 0, entries_applied = 0;
};

struct Counters {
  std::atomic<uint64_t> rounds{0}, fsyncs{0}, fsync_micros{0}, persisted_entries{0};
  std::atomic<uint64_t> proposals{0}, writes_ok{0}, writes_failed{0}, writes_unknown{0};
  std::atomic<uint64_t> reads_linearizable{0}, reads_stale{0}, reads_failed{0};
  std::atomic<uint64_t> applied_entries{0}, messages_sent{0}, frames_dropped{0};
  std::atomic<uint64_t> snapshots_sent{0}, snapshots_installed{0}, compactions{0};
  std::atomic<uint64_t> leader_changes{0}, overloaded{0};
  std::atomic<uint64_t> forwarded{0}, leader_transfers{0}, directory_changes{0};
  std::atomic<uint64_t> quiesced_groups{0};  // a gauge: replicas not ticking now
  std::atomic<uint64_t> quiesces{0};         // times a replica stopped ticking
  // Locks, as answered to this node's clients: grants, refusals (held), fenced answers (writes,
  // keepalives, releases), and LockTicks this node proposed as a leader.
  std::atomic<uint64_t> lock_grants{0}, lock_held{0}, fenced{0}, lock_ticks{0};
  // Transactions this node coordinated: committed (single- and cross-shard), aborted or failed,
  // attempts that met another transaction's intents, outcomes unknown; their latency; and
  // transactions this node's recovery finished (aborted or resolved) for dead coordinators.
  std::atomic<uint64_t> txn_single{0}, txn_cross{0}, txn_failed{0}, txn_conflicts{0};
  std::atomic<uint64_t> txn_read_only{0};  // cross-shard read-only ones (no intents)
  std::atomic<uint64_t> txn_unknown{0}, txn_micros{0}, txn_recoveries{0}, txn_recovery_micros{0};
};

// A request this node forwarded to a node hosting the key's shard (node_route.cc), waiting for
// the answer. Exactly one of the callbacks is set.
struct PendingForward {
  uint64_t shard = 0;
  int64_t deadline_ms = 0;
  WriteDone write_done;
  ReadDone read_done;
  ScanDone scan_done;
  LockDone lock_done;
  LockListDone locks_done;
  CommandDone command_done;
  TxnRecordsDone records_done;
  int64_t extra_wait_ms = 0;  // a lock acquire may wait this long on top of the request timeout

  // Answers with an error that applied nothing (a write whose request may have been applied is
  // answered kTimeout by the caller instead).
  void Fail(ErrorCode code, const std::string& why);
  void Answer(const kvpb::ForwardedResponse& r);
};

// One client transaction at the node that coordinates it (node_txn.cc). Everything it knows
// that matters after a crash is in Raft (the record, the intents); this is only the request.
struct TxnRun {
  TxnRequest req;
  TxnDone done;
  int64_t started_ms = 0;
  int64_t deadline_ms = 0;  // the client is answered by then
  int attempt = 0;
  bool answered = false;
  // The current attempt (cross-shard).
  std::string txn_id;
  uint64_t record_shard = 0;
  std::map<uint64_t, kvpb::TxnPrepare> parts;  // by participant shard
  std::map<uint64_t, kvpb::TxnVote> votes;
  size_t waiting = 0;                  // prepares not yet answered
  ErrorCode refusal = ErrorCode::kOk;  // the first refusing participant's answer
  std::string refusal_message;
  bool commit_sent = false;  // a TxnDecide(COMMITTED) was proposed: the outcome may be commit
};

// What a read-only transaction's pass read: every key's record (absent: nullopt) and the shards.
struct ReadOnlySnapshot {
  std::map<std::string, std::optional<kvpb::KeyRecord>> records;
  std::set<uint64_t> shards;
};
// Whether a transaction writes nothing in either branch (node_txn_readonly.cc).
bool IsReadOnly(const TxnRequest& req);

struct CoreImpl {
  NodeConfig cfg;
  Transport* transport = nullptr;  // borrowed; may be null
  std::unique_ptr<RaftLogStore> raftdb;
  std::unique_ptr<KvStore> kvdb;
  std::map<uint64_t, std::unique_ptr<Replica>> replicas;
  Counters counters;
  uint64_t boot = 0;  // this store's opens so far: the high bits of every request id

  // The routing view: provisional (version 0, from the configuration; routes no request) until
  // the meta shard applies the directory. Swapped by the driver; read by any thread via Dir().
  mutable std::mutex dir_mu;
  std::shared_ptr<const Directory> directory;  // GUARDED_BY(dir_mu)
  std::shared_ptr<const Directory> Dir() const;

  mutable std::mutex status_mu;
  ClusterStatus status_cache;  // GUARDED_BY(status_mu)
  bool ready_cache = false;    // GUARDED_BY(status_mu)

  // ---- driver-owned ----
  uint64_t next_request_seq = 1;                // the low bits of the next request id
  std::map<uint64_t, PendingWrite> writes;      // by request id
  std::map<uint64_t, PendingRead> reads;        // by request id (the ReadIndex context)
  std::map<uint64_t, PendingForward> forwards;  // by the id in the ForwardedRequest
  std::map<uint64_t, kvpb::PeerBatch> outbox;   // forwarded requests and answers, per node
  std::map<uint64_t, size_t> outbox_bytes;      // their approximate sizes
  // Forwarded requests already taken, per sender (a duplicated frame must not apply twice).
  std::map<uint64_t, std::set<uint64_t>> forwarded_seen;
  uint64_t ticks = 0;
  struct Deferred {  // transport feedback, reported after Advance
    uint64_t shard, node;
    bool snapshot, failed;
  };
  std::vector<Deferred> deferred;
  // Transactions this node coordinates, by run id; timers (retries, backoff) by due time.
  std::map<uint64_t, TxnRun> txns;
  std::multimap<int64_t, std::function<void()>> timers;
  std::map<std::string, uint64_t> txn_helping;  // blocking transactions being resolved: tick
  uint64_t txn_rng = 0;
  bool stopping = false;

  // node_core.cc
  uint64_t NextRequestId();
  void HandleBatch(kvpb::PeerBatch& batch);
  void HandleWrite(uint64_t shard, WriteRequest& req, WriteDone& done);
  // Proposes a client's command through the shard's replica (stamped if it leads) and waits
  // for its outcome, or answers 'pending.done' at once if it cannot be proposed.
  void ProposeForClient(Replica& r, kvpb::Command& cmd, PendingWrite pending);
  // The time a leader stamps on its entries (Command.leader_time_ms): its monotonic clock.
  int64_t StampMs() const { return StampWithMonotonicClock() ? NowMs() : WallMs(); }
  // A leader stamps the proposals followers forward to it (MsgProp), so lock leases and
  // sessions run on its clock even for commands that entered through a follower.
  void StampForwardedProposals(Replica& r, raftpb::Message& m);
  void HandleRead(PendingRead& read);
  bool LeaderUnreachable(const Replica& r) const;
  void Tick();
  void MaybeProposeClock(Replica& r);
  void ExpireRequests();
  void FailAll(const std::string& why);
  void RefreshStatus();
  int64_t NowMs() const;
  int64_t WallMs() const;
  void Crash(CrashPoint p) const {
    DieIfAsked(p);
    if (cfg.crash_point) cfg.crash_point(p);
  }

  // node_route.cc: requests routed by the directory to a local replica or forwarded
  void RouteWrite(WriteRequest& req, WriteDone done, uint32_t hops);
  void RouteRead(ReadRequest& req, ReadDone done, uint32_t hops);
  void RouteScan(ScanRequest& req, ScanDone done);
  void ScanShard(uint64_t shard, const ScanRequest& req, ScanDone done, uint32_t hops);
  void Forward(const Directory& dir, uint64_t shard, kvpb::ForwardedRequest f, PendingForward pf);
  void ServeForwarded(uint64_t from, const kvpb::ForwardedRequest& f);
  void AnswerForwarded(const kvpb::ForwardedResponse& r);
  void ExpireForwards(int64_t now);
  void FlushOutbox();
  void SendOut(uint64_t to);  // sends the outbox frame for 'to' now
  ScanResponse LocalStaleScan(uint64_t shard, const ScanRequest& req);

  // node_locks.cc: locks routed by name, their waiters and their timers
  void RouteLock(LockRequest& req, LockDone done, uint32_t hops);
  void HandleLock(uint64_t shard, LockRequest& req, LockDone done);
  void RouteLockRead(LockListRequest& req, LockListDone done);
  void LockReadShard(uint64_t shard, const LockListRequest& req, LockListDone done, uint32_t hops);
  void NoteLockEffects(Replica& r, const AppliedCommand& a);  // every replica, after apply
  void LoadLockEvents(Replica& r);                            // after open or a snapshot
  void MaybeTickLocks(Replica& r);                            // leader, each tick
  // The shard clock now, estimated for display: the applied clock plus the local time since
  // this replica applied the latest stamp (exact on the leader that stamped it). Never decides.
  int64_t ShardClockEstimate(const Replica& r) const;

  // node_txn.cc: transactions, coordinated by the node that took the request
  void RouteTxn(TxnRequest& req, TxnDone done);
  void StartTxnAttempt(uint64_t run);
  void OnTxnExecuted(uint64_t run, uint64_t shard, ErrorCode code, const std::string& why,
                     const kvpb::Result& res);
  void OnTxnBegun(uint64_t run, ErrorCode code, const std::string& why, const kvpb::Result& res);
  void OnTxnPrepared(uint64_t run, uint64_t shard, ErrorCode code, const std::string& why,
                     const kvpb::Result& res);
  void DecideTxn(uint64_t run);
  void OnTxnDecided(uint64_t run, ErrorCode code, const std::string& why, const kvpb::Result& res);
  void RetryTxnOrFail(uint64_t run, ErrorCode code, const std::string& why);
  void AnswerTxn(uint64_t run, TxnResponse resp);
  void OnTxnDeadline(uint64_t run);
  // node_txn_readonly.cc: a read-only transaction over several shards reads every key twice.
  void ReadOnlyTxnPass(uint64_t run, std::shared_ptr<const ReadOnlySnapshot> previous);
  void AnswerReadOnlyTxn(uint64_t run, const ReadOnlySnapshot& state);
  // A plain write that met a transaction's intent is retried until its deadline.
  void WriteRetryingConflicts(WriteRequest req, WriteDone done, int64_t deadline_ms, int attempt);
  int64_t Backoff(int attempt);
  void After(int64_t delay_ms, std::function<void()> fn);
  void RunTimers();

  // node_txn_shard.cc: transaction commands for a shard, wherever it is hosted
  void ProposeToShard(uint64_t shard, kvpb::Command cmd, CommandDone done, uint32_t hops);
  void ServeForwardedTxn(const kvpb::ForwardedRequest& f, uint32_t hops,
                         std::function<void(kvpb::ForwardedResponse)> reply);
  // Asks the record of 'txn' (aborting it if pending past its deadline) and resolves its intents
  // in 'shard' if it is decided: what a request that met its intent does, once per transaction
  // at a time.
  void HelpResolve(uint64_t shard, const std::string& txn, uint64_t record_shard);
  // Decided: resolves every participant, then forgets the record (any node, any time).
  void FinishTxn(const std::string& txn, uint64_t record_shard, std::vector<uint64_t> participants,
                 bool commit, bool succeeded, int64_t recovery_started_ms);
  void RouteTxnList(TxnListRequest& req, TxnListDone done);
  void ReadTxnRecords(uint64_t shard, TxnRecordsDone done, uint32_t hops);

  // node_txn_reads.cc: serves a read that reached its index. One that meets intents is answered
  // as of before them if their transactions are not committed, else after resolving them.
  void ServeCheckingIntents(Replica& r, PendingRead& read);

  // node_txn_recovery.cc: every replica tracks the records and prepared transactions it holds;
  // the leader of a record's shard aborts it past its deadline and finishes decided ones, and a
  // participant's leader asks the record about intents that outlived their TTL.
  void NoteTxnEffects(Replica& r, const AppliedCommand& a);
  void LoadTxnState(Replica& r);
  void MaybeRecoverTxns(Replica& r);

  // node_quiesce.cc: idle groups stop ticking
  void Wake(Replica& r) {
    r.quiesced = false;
    r.idle_ticks = 0;
  }
  void WakeFor(Replica& r, const raftpb::Message& m);  // unless 'm' needs no action
  void MaybeQuiesce(Replica& r);                       // leader, each tick
  void OnQuiesceNotice(uint64_t from, const kvpb::QuiesceNotice& n);
  bool StaysQuiet(Replica& r);  // for a quiesced replica at a tick: false once it must wake

  // node_meta.cc: the directory and the meta shard
  void LoadDirectory();                // after the meta shard applied entries
  void MaintainDirectory(Replica& r);  // each tick: init, leader reports, leader balancing
  DirectoryView DirectoryViewNow() const;

  // node_driver.cc: one round
  struct Work {  // one shard's Ready in the current round
    Replica* r;
    raft::Ready rd;
  };
  using MessageFilter =
      std::function<bool(const Replica&, const raft::Ready&, const raftpb::Message&)>;
  // Sends the messages 'pick' selects (removing them from the Readys), batched per node.
  void SendMessages(std::vector<Work>& work, const MessageFilter& pick);
  bool ProcessReadies();
  void InstallSnapshots(std::vector<Work>& work);
  void SendEarly(std::vector<Work>& work);
  uint64_t PersistReadies(std::vector<Work>& work);
  void NoteOwnSlots(Replica& r, const std::vector<raftpb::Entry>& entries);
  void ApplyAndAnswer(std::vector<Work>& work);
  void ObserveSoftState(Replica& r, const raft::SoftState& soft);
  void ReportDeferred();
  // Logs a round that took half an election timeout or more (cfg.log), with where it went.
  void LogIfSlow(const RoundPhases& phases);

  // node_apply.cc
  // Apply is staged per shard into one kvdb batch per round, then answered once it is written.
  void StageCommitted(Replica& r, const std::vector<raftpb::Entry>& entries,
                      leveldb::WriteBatch* batch, std::vector<AppliedCommand>* applied);
  void AnswerCommitted(Replica& r, const std::vector<raftpb::Entry>& entries,
                       const std::vector<AppliedCommand>& applied);
  void ServeReads(Replica& r);
  void MaybeCompact(Replica& r);

  // node_snapshot.cc
  void SendSnapshot(Replica& r, raftpb::Message m);
  void StageChunk(Replica& r, const kvpb::SnapshotChunk& chunk);
  // Whether the complete image of MSG_SNAP 'm' is staged; if so it moves to r.accepted.
  bool AcceptStagedSnapshot(Replica& r, const raftpb::Message& m);
  void InstallAcceptedSnapshot(Replica& r, const raftpb::Snapshot& snapshot);
  void RetryStuckSnapshots(Replica& r);

  // node_metrics.cc
  std::string MetricsText() const;
};

// An error answer of any response type (those with a shard say which).
template <typename Response>
Response ErrorResponse(ErrorCode code, std::string message, uint64_t shard = 0) {
  Response r;
  r.code = code;
  r.message = std::move(message);
  if constexpr (requires { r.shard; }) r.shard = shard;
  return r;
}
inline WriteResponse WriteError(ErrorCode code, std::string message, uint64_t shard = 0) {
  return ErrorResponse<WriteResponse>(code, std::move(message), shard);
}
inline ReadResponse ReadError(ErrorCode code, std::string message, uint64_t shard = 0) {
  return ErrorResponse<ReadResponse>(code, std::move(message), shard);
}
inline ScanResponse ScanError(ErrorCode code, std::string message) {
  return ErrorResponse<ScanResponse>(code, std::move(message));
}
inline LockResponse LockError(ErrorCode code, std::string message, uint64_t shard = 0) {
  return ErrorResponse<LockResponse>(code, std::move(message), shard);
}
inline LockListResponse LockListError(ErrorCode code, std::string message) {
  return ErrorResponse<LockListResponse>(code, std::move(message));
}

// A lock holder between its record and its answer: deadline_ms - now is the time it has left
// (forwarded answers carry that time left as deadline_ms, with now = 0).
LockHolder HolderFromProto(const kvpb::LockHolder& h, int64_t now);
kvpb::LockHolder HolderToProto(const LockHolder& h);
// Lock answers over the peer transport (kv/node_locks.cc): to a ForwardedResponse, and back
// (with its already decoded code).
kvpb::ForwardedResponse ForwardedFromLock(const LockResponse& l);
kvpb::ForwardedResponse ForwardedFromLockList(const LockListResponse& l);
LockResponse LockFromForwarded(const kvpb::ForwardedResponse& r, ErrorCode code);
LockListResponse LockListFromForwarded(const kvpb::ForwardedResponse& r, ErrorCode code);

std::string RequestContext(uint64_t request_id);
uint64_t RequestIdFromContext(const std::string& ctx);  // 0 if malformed

}  // namespace kvd::kv
