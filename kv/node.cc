// kv::Node: the thread, inbox and real clocks around NodeCore (node.h).
#include "kv/node.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <variant>

#include "kv/node_core.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

// The transport given to Start(), for a core opened before it: until then every frame is
// dropped (and counted) and every peer counts as reachable.
class LateTransport final : public Transport {
 public:
  void Set(Transport* t) { target_.store(t); }
  bool Send(kvpb::PeerBatch batch) override {
    Transport* t = target_.load();
    return t != nullptr && t->Send(std::move(batch));
  }
  bool Reachable(uint64_t node) const override {
    Transport* t = target_.load();
    return t == nullptr || t->Reachable(node);
  }

 private:
  std::atomic<Transport*> target_{nullptr};
};

struct WriteInput {
  WriteRequest req;
  std::function<void(WriteResponse)> done;
};
struct ReadInput {
  ReadRequest req;
  std::function<void(ReadResponse)> done;
};
struct ScanInput {
  ScanRequest req;
  std::function<void(ScanResponse)> done;
};
struct LockInput {
  LockRequest req;
  std::function<void(LockResponse)> done;
};
struct LocksInput {
  LockListRequest req;
  std::function<void(LockListResponse)> done;
};
struct TxnInput {
  TxnRequest req;
  std::function<void(TxnResponse)> done;
};
struct TxnsInput {
  TxnListRequest req;
  std::function<void(TxnListResponse)> done;
};
using Input = std::variant<kvpb::PeerBatch, WriteInput, ReadInput, ScanInput, LockInput, LocksInput,
                           TxnInput, TxnsInput>;

template <typename Response>
Response Refusal(ErrorCode code, const char* why) {
  Response r;
  r.code = code;
  r.message = why;
  return r;
}

}  // namespace

struct Node::Impl {
  LateTransport transport;
  std::unique_ptr<NodeCore> core;
  size_t max_inbox = 0;
  int tick_ms = 100;
  std::thread driver;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<Input> inbox;  // GUARDED_BY(mu), bounded by max_inbox
  bool stopping = false;     // GUARDED_BY(mu)
  bool started = false;      // GUARDED_BY(mu)

  void Run();
  void Handle(Input& in);
  void FailInbox();
  // Queues an input unless the node is stopping or the inbox is full. Returns false if dropped.
  bool Enqueue(Input in);
};

void Node::Impl::Run() {
  using Clock = std::chrono::steady_clock;
  const auto tick = std::chrono::milliseconds(tick_ms);
  auto next_tick = Clock::now() + tick;
  bool more_ready = false;
  std::vector<Input> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu);
      if (!more_ready) {
        // Wake for the next tick, or sooner for a transaction's retry timer.
        auto until = next_tick;
        const int64_t timer = core->MsUntilNextTimer();
        if (timer >= 0) until = std::min(until, Clock::now() + std::chrono::milliseconds(timer));
        cv.wait_until(lock, until, [&] { return stopping || !inbox.empty(); });
      }
      if (stopping) break;
      batch.swap(inbox);
    }
    for (auto& in : batch) Handle(in);
    batch.clear();
    if (Clock::now() >= next_tick) {
      core->Tick();
      next_tick += tick;
      if (next_tick < Clock::now()) next_tick = Clock::now() + tick;  // fell behind: no bursts
    }
    more_ready = core->Round();
  }
  core->FailPending("node stopping");
  FailInbox();
}

void Node::Impl::Handle(Input& in) {
  if (auto* b = std::get_if<kvpb::PeerBatch>(&in)) {
    core->Deliver(std::move(*b));
  } else if (auto* w = std::get_if<WriteInput>(&in)) {
    core->Write(std::move(w->req), std::move(w->done));
  } else if (auto* r = std::get_if<ReadInput>(&in)) {
    core->Read(std::move(r->req), std::move(r->done));
  } else if (auto* s = std::get_if<ScanInput>(&in)) {
    core->Scan(std::move(s->req), std::move(s->done));
  } else if (auto* l = std::get_if<LockInput>(&in)) {
    core->Lock(std::move(l->req), std::move(l->done));
  } else if (auto* ls = std::get_if<LocksInput>(&in)) {
    core->Locks(std::move(ls->req), std::move(ls->done));
  } else if (auto* t = std::get_if<TxnInput>(&in)) {
    core->Txn(std::move(t->req), std::move(t->done));
  } else {
    auto& ts = std::get<TxnsInput>(in);
    core->Txns(std::move(ts.req), std::move(ts.done));
  }
}

void Node::Impl::FailInbox() {
  std::vector<Input> left;
  {
    std::lock_guard<std::mutex> lock(mu);
    left.swap(inbox);
  }
  for (auto& in : left) {
    if (auto* w = std::get_if<WriteInput>(&in)) {
      w->done(Refusal<WriteResponse>(ErrorCode::kUnavailable, "node stopping"));
    } else if (auto* r = std::get_if<ReadInput>(&in)) {
      r->done(Refusal<ReadResponse>(ErrorCode::kUnavailable, "node stopping"));
    } else if (auto* s = std::get_if<ScanInput>(&in)) {
      s->done(Refusal<ScanResponse>(ErrorCode::kUnavailable, "node stopping"));
    } else if (auto* l = std::get_if<LockInput>(&in)) {
      l->done(Refusal<LockResponse>(ErrorCode::kUnavailable, "node stopping"));
    } else if (auto* ls = std::get_if<LocksInput>(&in)) {
      ls->done(Refusal<LockListResponse>(ErrorCode::kUnavailable, "node stopping"));
    } else if (auto* t = std::get_if<TxnInput>(&in)) {
      t->done(Refusal<TxnResponse>(ErrorCode::kUnavailable, "node stopping"));
    } else if (auto* ts = std::get_if<TxnsInput>(&in)) {
      ts->done(Refusal<TxnListResponse>(ErrorCode::kUnavailable, "node stopping"));
    }
  }
}

bool Node::Impl::Enqueue(Input in) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stopping || inbox.size() >= max_inbox) return false;
    inbox.push_back(std::move(in));
  }
  cv.notify_one();
  return true;
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Node::~Node() { Stop(); }

uint64_t Node::id() const { return impl_->core->id(); }

raft::Status Node::Open(NodeConfig cfg, std::unique_ptr<Node>* out) {
  auto impl = std::make_unique<Impl>();
  impl->max_inbox = cfg.max_inbox;
  impl->tick_ms = cfg.tick_ms;
  raft::Status s = NodeCore::Open(std::move(cfg), &impl->transport, &impl->core);
  if (!s.ok()) return s;
  out->reset(new Node(std::move(impl)));
  return raft::Status::Ok();
}

void Node::Start(Transport* transport) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  KVD_CHECK_MSG(!impl_->started, "node started twice");
  impl_->started = true;
  impl_->transport.Set(transport);
  impl_->driver = std::thread([impl = impl_.get()] { impl->Run(); });
}

void Node::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->started || impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->driver.join();
  impl_->transport.Set(nullptr);
}

void Node::Deliver(kvpb::PeerBatch batch) {
  if (!impl_->Enqueue(std::move(batch))) impl_->core->CountDroppedFrame();
}

// Each request's callback is shared between the inbox and the shed path, so that a request the
// inbox refuses is still answered exactly once.
template <typename Response, typename InputT, typename Request>
static void Submit(Node::Impl& impl, Request req, std::function<void(Response)> done) {
  auto shared = std::make_shared<std::function<void(Response)>>(std::move(done));
  if (!impl.Enqueue(InputT{std::move(req), [shared](Response r) { (*shared)(std::move(r)); }})) {
    impl.core->CountOverloaded();
    (*shared)(Refusal<Response>(ErrorCode::kOverloaded, "node is overloaded or stopping"));
  }
}

void Node::Write(WriteRequest req, std::function<void(WriteResponse)> done) {
  if (req.key.empty()) {
    done(Refusal<WriteResponse>(ErrorCode::kInvalidArgument, "empty key"));
    return;
  }
  Submit<WriteResponse, WriteInput>(*impl_, std::move(req), std::move(done));
}

void Node::Read(ReadRequest req, std::function<void(ReadResponse)> done) {
  if (req.stale && impl_->core->HostsShardOf(req.key)) {
    done(impl_->core->StaleRead(req));  // on the calling thread (LevelDB reads are thread-safe)
    return;
  }
  Submit<ReadResponse, ReadInput>(*impl_, std::move(req), std::move(done));
}

void Node::Scan(ScanRequest req, std::function<void(ScanResponse)> done) {
  // Every shard is asked (some through other nodes), so even a stale scan goes through the core.
  Submit<ScanResponse, ScanInput>(*impl_, std::move(req), std::move(done));
}

void Node::Lock(LockRequest req, std::function<void(LockResponse)> done) {
  Submit<LockResponse, LockInput>(*impl_, std::move(req), std::move(done));
}

void Node::Locks(LockListRequest req, std::function<void(LockListResponse)> done) {
  Submit<LockListResponse, LocksInput>(*impl_, std::move(req), std::move(done));
}

void Node::Txn(TxnRequest req, std::function<void(TxnResponse)> done) {
  Submit<TxnResponse, TxnInput>(*impl_, std::move(req), std::move(done));
}

void Node::Txns(TxnListRequest req, std::function<void(TxnListResponse)> done) {
  Submit<TxnListResponse, TxnsInput>(*impl_, std::move(req), std::move(done));
}

ClusterStatus Node::Status() const { return impl_->core->Status(); }
DirectoryView Node::Directory() const { return impl_->core->Directory(); }
bool Node::IsReady() const { return impl_->core->IsReady(); }
std::string Node::Metrics() const { return impl_->core->Metrics(); }

}  // namespace kvd::kv
