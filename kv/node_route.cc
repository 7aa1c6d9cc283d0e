// Routing (node_core.h): a request goes to the shard that owns its key under this node's
// directory. If this node hosts a replica of it, the replica serves it (a follower proposes
// through Raft or asks the leader for a read index); otherwise the request is forwarded over the
// peer transport to a node hosting it (the leader hint first), which routes it again by its own
// directory, so a request never reaches a shard that does not own its key under the directory
// of the node that serves it. A multi-shard scan asks every shard and merges.
#include <algorithm>

#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

constexpr uint32_t kMaxHops = 2;           // origin -> host -> (a host that re-routed) at most
constexpr int64_t kForwardSlackMs = 1000;  // the host answers its own timeouts before ours fire
constexpr size_t kMaxSeenPerSender = 65536;
constexpr size_t kScanBudgetBytes = size_t{4} << 20;  // one merged page, all shards together
constexpr size_t kMinShardScanBytes = 64 << 10;
constexpr size_t kMaxOutboxFrameBytes = size_t{6} << 20;  // under the 8 MiB peer frame cap
constexpr size_t kMaxForwardedKeyBytes = 4096;            // the HTTP API's key bound

enum Kind : uint32_t { kWrite = 1, kRead = 2, kScan = 3, kLock = 4, kLockRead = 5 };

kvpb::ForwardedResponse FromWrite(const WriteResponse& w) {
  kvpb::ForwardedResponse r;
  r.set_code(static_cast<uint32_t>(w.code));
  r.set_message(w.message);
  r.set_shard(w.shard);
  r.set_version(w.version);
  r.set_revision(w.revision);
  r.set_current_version(w.current_version);
  r.set_deleted(w.deleted);
  r.set_directory_version(w.directory_version);
  return r;
}

kvpb::ForwardedResponse FromRead(const ReadResponse& rd) {
  kvpb::ForwardedResponse r;
  r.set_code(static_cast<uint32_t>(rd.code));
  r.set_message(rd.message);
  r.set_shard(rd.shard);
  if (rd.record) *r.mutable_record() = *rd.record;
  r.set_applied_index(rd.applied_index);
  r.set_directory_version(rd.directory_version);
  return r;
}

kvpb::ForwardedResponse FromScan(ScanResponse sc) {
  kvpb::ForwardedResponse r;
  r.set_code(static_cast<uint32_t>(sc.code));
  r.set_message(sc.message);
  for (auto& [key, record] : sc.items) {
    kvpb::KvPair* p = r.add_items();
    p->set_key(std::move(key));
    *p->mutable_record() = std::move(record);
  }
  r.set_more(sc.more);
  r.set_directory_version(sc.directory_version);
  return r;
}

ErrorCode CodeOf(uint32_t c) {
  return c <= static_cast<uint32_t>(ErrorCode::kConflict) ? static_cast<ErrorCode>(c)
                                                          : ErrorCode::kUnavailable;
}

// The pages of a multi-shard scan, merged once every shard answered. A shard that stopped early
// (more) may hold keys after its last one, so the merged page ends at the smallest such key.
struct ScanMerge {
  size_t limit = 0;
  size_t pending = 0;
  ScanDone done;
  ScanResponse first_error;
  bool failed = false;
  bool more = false;
  std::optional<std::string> cutoff;
  std::vector<std::pair<std::string, kvpb::KeyRecord>> items;

  void Add(ScanResponse r) {
    if (r.code != ErrorCode::kOk) {
      if (!failed) first_error = std::move(r);
      failed = true;
    } else {
      if (r.more && !r.items.empty() && (!cutoff || r.items.back().first < *cutoff)) {
        cutoff = r.items.back().first;
      }
      more = more || r.more;
      for (auto& item : r.items) items.push_back(std::move(item));
    }
    if (--pending == 0) Finish();
  }

  void Finish() {
    if (failed) return done(std::move(first_error));
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    if (cutoff) {
      auto end =
          std::upper_bound(items.begin(), items.end(), *cutoff,
                           [](const std::string& k, const auto& item) { return k < item.first; });
      items.erase(end, items.end());
    }
    ScanResponse resp;
    resp.more = more || items.size() > limit;
    if (items.size() > limit) items.resize(limit);
    resp.items = std::move(items);
    done(std::move(resp));
  }
};

}  // namespace

void PendingForward::Fail(ErrorCode code, const std::string& why) {
  if (write_done) return write_done(WriteError(code, why, shard));
  if (read_done) return read_done(ReadError(code, why, shard));
  if (lock_done) {
    return lock_done(LockError(code, why, shard));
  }
  if (locks_done) return locks_done(LockListError(code, why));
  if (command_done) return command_done(code, why, kvpb::Result());
  if (records_done) return records_done(code, why, {}, 0);
  scan_done(ScanError(code, why));
}

void PendingForward::Answer(const kvpb::ForwardedResponse& r) {
  const ErrorCode code = CodeOf(r.code());
  if (write_done) {
    WriteResponse w = WriteError(code, r.message(), r.shard());
    w.version = r.version();
    w.revision = r.revision();
    w.current_version = r.current_version();
    w.deleted = r.deleted();
    return write_done(std::move(w));
  }
  if (read_done) {
    ReadResponse rd = ReadError(code, r.message(), r.shard());
    if (r.has_record()) rd.record = r.record();
    rd.applied_index = r.applied_index();
    return read_done(std::move(rd));
  }
  if (lock_done) return lock_done(LockFromForwarded(r, code));
  if (locks_done) return locks_done(LockListFromForwarded(r, code));
  if (command_done) return command_done(code, r.message(), r.lock_result());
  if (records_done) {
    std::vector<std::pair<std::string, kvpb::TxnRecord>> records;
    for (const kvpb::TxnStatePair& p : r.txns()) {
      kvpb::TxnRecord rec;
      if (rec.ParseFromString(p.value())) records.emplace_back(p.key(), std::move(rec));
    }
    return records_done(code, r.message(), std::move(records), r.clock_ms());
  }
  ScanResponse sc = ScanError(code, r.message());
  sc.more = r.more();
  for (const auto& p : r.items()) sc.items.emplace_back(p.key(), p.record());
  scan_done(std::move(sc));
}

std::shared_ptr<const Directory> CoreImpl::Dir() const {
  std::lock_guard<std::mutex> lock(dir_mu);
  return directory;
}

namespace {

constexpr char kNoDirectory[] =
    "this node has not yet applied the cluster's directory (the meta shard has no leader yet); "
    "retry";

}  // namespace

void CoreImpl::RouteWrite(WriteRequest& req, WriteDone done, uint32_t hops) {
  const std::shared_ptr<const Directory> dir = Dir();
  if (dir->version() == 0) return done(WriteError(ErrorCode::kUnavailable, kNoDirectory));
  const uint64_t shard = dir->ShardFor(req.key);
  if (replicas.count(shard)) return HandleWrite(shard, req, done);
  kvpb::ForwardedRequest f;
  f.set_hops(hops);
  f.set_kind(kWrite);
  f.set_key(std::move(req.key));
  f.set_is_delete(req.is_delete);
  f.set_value(std::move(req.value));
  f.set_has_if_version(req.if_version.has_value());
  f.set_if_version(req.if_version.value_or(0));
  f.set_client_id(std::move(req.client_id));
  f.set_seq(req.seq);
  if (req.fence) {
    f.mutable_fence()->set_lock(req.fence->lock);
    f.mutable_fence()->set_token(req.fence->token);
  }
  PendingForward pf;
  pf.write_done = std::move(done);
  Forward(*dir, shard, std::move(f), std::move(pf));
}

void CoreImpl::RouteRead(ReadRequest& req, ReadDone done, uint32_t hops) {
  const std::shared_ptr<const Directory> dir = Dir();
  if (dir->version() == 0) return done(ReadError(ErrorCode::kUnavailable, kNoDirectory));
  const uint64_t shard = dir->ShardFor(req.key);
  if (replicas.count(shard)) {
    if (ServeFromLocalState(req.stale)) {
      counters.reads_stale++;
      ReadResponse resp;
      resp.shard = shard;
      resp.applied_index = replicas.at(shard)->applied_index;
      raft::Status s = replicas.at(shard)->sm->Get(req.key, &resp.record);
      if (!s.ok()) return done(ReadError(ErrorCode::kUnavailable, s.ToString(), shard));
      if (!resp.record) resp.code = ErrorCode::kNotFound;
      return done(std::move(resp));
    }
    PendingRead read;
    read.shard = shard;
    read.get = std::move(req);
    read.get_done = std::move(done);
    return HandleRead(read);
  }
  kvpb::ForwardedRequest f;
  f.set_hops(hops);
  f.set_kind(kRead);
  f.set_key(std::move(req.key));
  f.set_stale(req.stale);
  PendingForward pf;
  pf.read_done = std::move(done);
  Forward(*dir, shard, std::move(f), std::move(pf));
}

void CoreImpl::RouteScan(ScanRequest& req, ScanDone done) {
  const std::shared_ptr<const Directory> dir = Dir();
  if (dir->version() == 0) return done(ScanError(ErrorCode::kUnavailable, kNoDirectory));
  auto merge = std::make_shared<ScanMerge>();
  merge->limit = req.limit;
  merge->done = std::move(done);
  merge->pending = static_cast<size_t>(dir->record.shards_size());
  ScanRequest part = req;
  part.max_bytes =
      std::max(kMinShardScanBytes, kScanBudgetBytes / std::max<size_t>(1, merge->pending));
  for (const auto& s : dir->record.shards()) {
    ScanShard(
        s.id(), part, [merge](ScanResponse r) { merge->Add(std::move(r)); }, 0);
  }
}

ScanResponse CoreImpl::LocalStaleScan(uint64_t shard, const ScanRequest& req) {
  counters.reads_stale++;
  ScanResponse resp;
  std::vector<ScanItem> items;
  raft::Status s = replicas.at(shard)->sm->Scan(
      req.prefix, req.after, req.limit, &items, &resp.more,
      req.max_bytes ? req.max_bytes : ShardStateMachine::kDefaultScanMaxBytes);
  if (!s.ok()) return ScanError(ErrorCode::kUnavailable, s.ToString());
  for (auto& item : items) resp.items.emplace_back(std::move(item.key), std::move(item.record));
  return resp;
}

void CoreImpl::ScanShard(uint64_t shard, const ScanRequest& req, ScanDone done, uint32_t hops) {
  if (replicas.count(shard)) {
    if (ServeFromLocalState(req.stale)) return done(LocalStaleScan(shard, req));
    PendingRead read;
    read.shard = shard;
    read.is_scan = true;
    read.scan = req;
    read.scan_done = std::move(done);
    return HandleRead(read);
  }
  const std::shared_ptr<const Directory> dir = Dir();
  kvpb::ForwardedRequest f;
  f.set_hops(hops);
  f.set_kind(kScan);
  f.set_shard(shard);
  f.set_prefix(req.prefix);
  f.set_after(req.after);
  f.set_limit(req.limit);
  f.set_max_bytes(req.max_bytes);
  f.set_stale(req.stale);
  PendingForward pf;
  pf.scan_done = std::move(done);
  Forward(*dir, shard, std::move(f), std::move(pf));
}

void CoreImpl::Forward(const Directory& dir, uint64_t shard, kvpb::ForwardedRequest f,
                       PendingForward pf) {
  pf.shard = shard;
  if (f.hops() >= kMaxHops) {
    return pf.Fail(ErrorCode::kUnavailable, "request routed in a loop; retry");
  }
  if (writes.size() + reads.size() + forwards.size() >= cfg.max_pending_requests) {
    counters.overloaded++;
    return pf.Fail(ErrorCode::kOverloaded, "too many requests in flight");
  }
  // The leader hint first (it serves without another hop), else any reachable replica.
  uint64_t target = 0;
  const kvpb::DirectoryShard* entry = dir.Find(shard);
  if (entry == nullptr) return pf.Fail(ErrorCode::kUnavailable, "shard not in the directory");
  auto usable = [&](uint64_t n) {
    return n != 0 && n != cfg.node_id && (transport == nullptr || transport->Reachable(n));
  };
  if (usable(entry->leader()) && dir.HasReplica(shard, entry->leader())) target = entry->leader();
  for (size_t i = 0; target == 0 && i < static_cast<size_t>(entry->replicas_size()); ++i) {
    // Spread the fallback over the replicas by request, not always the first one.
    const uint64_t n = entry->replicas((i + next_request_seq) % entry->replicas_size());
    if (usable(n)) target = n;
  }
  if (target == 0) {
    return pf.Fail(ErrorCode::kUnavailable,
                   "no replica of shard " + std::to_string(shard) + " is reachable; retry");
  }
  const uint64_t id = NextRequestId();
  f.set_id(id);
  f.set_directory_version(dir.version());
  const size_t bytes = f.ByteSizeLong();
  if (outbox_bytes[target] + bytes > kMaxOutboxFrameBytes) SendOut(target);
  outbox_bytes[target] += bytes;
  *outbox[target].add_requests() = std::move(f);
  counters.forwarded++;
  pf.deadline_ms = NowMs() + cfg.request_timeout_ms + kForwardSlackMs + pf.extra_wait_ms;
  forwards.emplace(id, std::move(pf));
}

void CoreImpl::ServeForwarded(uint64_t from, const kvpb::ForwardedRequest& f) {
  // Only members forward (the sender id is not authenticated, but it bounds what a confused or
  // hostile peer can make this node remember), and keys obey the HTTP API's bound.
  if (std::none_of(cfg.members.begin(), cfg.members.end(),
                   [from](const NodeInfo& m) { return m.id == from; })) {
    return;
  }
  std::set<uint64_t>& seen = forwarded_seen[from];
  if (!seen.insert(f.id()).second) return;  // a duplicate: the first copy answers
  if (seen.size() > kMaxSeenPerSender) seen.erase(seen.begin());
  const uint64_t id = f.id();
  auto reply = [this, from, id](kvpb::ForwardedResponse r) {
    r.set_id(id);
    // A frame stays well under the peer transport's frame cap: a full batch goes out first.
    const size_t bytes = r.ByteSizeLong();
    if (outbox_bytes[from] + bytes > kMaxOutboxFrameBytes) SendOut(from);
    outbox_bytes[from] += bytes;
    *outbox[from].add_responses() = std::move(r);
  };
  const uint32_t hops = f.hops() + 1;
  switch (f.kind()) {
    case kWrite: {
      WriteRequest req;
      req.key = f.key();
      req.is_delete = f.is_delete();
      req.value = f.value();
      if (f.has_if_version()) req.if_version = f.if_version();
      req.client_id = f.client_id();
      req.seq = f.seq();
      if (f.has_fence()) req.fence = Fence{f.fence().lock(), f.fence().token()};
      if (req.key.empty() || req.key.size() > kMaxForwardedKeyBytes) {
        return reply(FromWrite(WriteError(ErrorCode::kInvalidArgument, "bad key")));
      }
      return RouteWrite(
          req, [reply](WriteResponse w) { reply(FromWrite(w)); }, hops);
    }
    case kRead: {
      if (f.key().empty() || f.key().size() > kMaxForwardedKeyBytes) {
        return reply(FromRead(ReadError(ErrorCode::kInvalidArgument, "bad key")));
      }
      ReadRequest req;
      req.key = f.key();
      req.stale = f.stale();
      return RouteRead(
          req, [reply](ReadResponse r) { reply(FromRead(r)); }, hops);
    }
    case kScan: {
      ScanRequest req;
      req.prefix = f.prefix();
      req.after = f.after();
      req.limit = std::clamp<uint64_t>(f.limit(), 1, 10000);
      req.max_bytes = std::clamp<uint64_t>(f.max_bytes(), kMinShardScanBytes, kScanBudgetBytes);
      req.stale = f.stale();
      return ScanShard(
          f.shard(), req, [reply](ScanResponse r) { reply(FromScan(std::move(r))); }, hops);
    }
    case kLock: {
      LockRequest req;
      if (f.lock_op() > static_cast<uint32_t>(LockOp::kRelease)) {
        return reply(
            ForwardedFromLock(LockError(ErrorCode::kInvalidArgument, "unknown lock operation")));
      }
      req.op = static_cast<LockOp>(f.lock_op());
      req.name = f.key();
      req.owner = f.owner();
      req.ttl_ms = f.ttl_ms();
      req.wait_ms = f.wait_ms();
      req.token = f.token();
      req.client_id = f.client_id();
      req.seq = f.seq();
      return RouteLock(
          req, [reply](LockResponse l) { reply(ForwardedFromLock(l)); }, hops);
    }
    case kLockRead: {
      if (f.key().size() > kMaxForwardedKeyBytes) {
        return reply(
            ForwardedFromLockList(LockListError(ErrorCode::kInvalidArgument, "bad lock name")));
      }
      LockListRequest req;
      req.name = f.key();
      req.after = f.after();
      req.limit = std::clamp<uint64_t>(f.limit(), 1, 1000);
      req.stale = f.stale();
      return LockReadShard(
          f.shard(), req, [reply](LockListResponse l) { reply(ForwardedFromLockList(l)); }, hops);
    }
    case 6:
    case 7:
      return ServeForwardedTxn(f, hops, reply);
    default:
      return reply(FromWrite(WriteError(ErrorCode::kInvalidArgument, "unknown request kind")));
  }
}

void CoreImpl::AnswerForwarded(const kvpb::ForwardedResponse& r) {
  auto it = forwards.find(r.id());
  if (it == forwards.end()) return;  // answered already (timed out, or a duplicate)
  PendingForward pf = std::move(it->second);
  forwards.erase(it);
  pf.Answer(r);
}

void CoreImpl::ExpireForwards(int64_t now) {
  for (auto it = forwards.begin(); it != forwards.end();) {
    if (it->second.deadline_ms > now) {
      ++it;
      continue;
    }
    PendingForward pf = std::move(it->second);
    it = forwards.erase(it);
    if (pf.write_done || pf.lock_done || pf.command_done) {  // it may have been applied
      counters.writes_unknown++;
      pf.Fail(ErrorCode::kTimeout, "outcome unknown: the node it was forwarded to did not answer");
    } else {
      counters.reads_failed++;
      pf.Fail(ErrorCode::kUnavailable, "the node the request was forwarded to did not answer");
    }
  }
}

void CoreImpl::SendOut(uint64_t to) {
  auto node = outbox.extract(to);
  outbox_bytes.erase(to);
  if (node.empty()) return;
  kvpb::PeerBatch& f = node.mapped();
  f.set_from_node(cfg.node_id);
  f.set_to_node(to);
  std::vector<uint64_t> ids;
  for (const auto& req : f.requests()) ids.push_back(req.id());
  if (transport != nullptr && transport->Send(std::move(f))) return;
  counters.frames_dropped++;
  for (uint64_t id : ids) {  // never sent: nothing was applied
    auto it = forwards.find(id);
    if (it == forwards.end()) continue;
    PendingForward pf = std::move(it->second);
    forwards.erase(it);
    pf.Fail(ErrorCode::kUnavailable, "could not reach the node hosting the shard; retry");
  }
}

void CoreImpl::FlushOutbox() {
  while (!outbox.empty()) SendOut(outbox.begin()->first);
}

}  // namespace kvd::kv
