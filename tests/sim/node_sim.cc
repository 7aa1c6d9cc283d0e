#include "tests/sim/node_sim.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "jepsen/checker/checker.h"
#include "kv/fault_env.h"
#include "kv/node_core.h"
#include "kv/node_impl.h"  // white-box state for failure reports
#include "raft/check.h"
#include "tests/sim/event_queue.h"
#include "tests/sim/network.h"
#include "tests/sim/rng.h"

namespace kvd::sim {
namespace {

constexpr uint64_t kShard = 1;
constexpr int64_t kTickMs = 10;
constexpr int64_t kRequestTimeoutMs = 1000;
constexpr int64_t kClientTimeoutMs = 1300;
constexpr int kMaxWriteAttempts = 4;

// Thrown from a node's crash-point hook: the node dies there.
struct SimCrash {
  kv::CrashPoint point;
};

// The run's "swarm" parameters, drawn from the seed.
struct Params {
  NetworkOptions net;
  double crash_point_chance = 0;  // per CrashPoint visited while faults are on
  int64_t fault_interval = 500;
  int64_t restart_max = 300;
  uint64_t compact_every = 50;
  size_t chunk_bytes = 1 << 20;
  uint64_t max_size_per_msg = 1 << 20;
  int max_inflight = 256;
  int clients = 4;
  int keys = 3;
  double read_share = 0.4;
  int64_t session_ttl_ms = 8000;  // small enough that a clock jump would expire sessions
  int64_t max_clock_offset_ms = 0;  // nodes' wall clocks differ by up to this
  double defer_rounds = 0;  // chance that a delivered frame waits in the inbox for a later round
  bool storm = false;       // kill leaders soon after they are elected (short-lived leaders)
  double pause_on_snapshot = 0;  // chance a snapshot's recipient is stopped as it arrives
};

// What a replica applied at one index.
struct AppliedRecord {
  std::string client;
  uint64_t seq = 0;
  std::string key, value;
  std::string result;  // serialized kvpb::Result
  bool operator==(const AppliedRecord&) const = default;
};

class NodeSim;

class SimTransport final : public kv::Transport {
 public:
  SimTransport(NodeSim& sim, uint64_t self) : sim_(sim), self_(self) {}
  bool Send(kvpb::PeerBatch batch) override;
  bool Reachable(uint64_t node) const override;

 private:
  NodeSim& sim_;
  uint64_t self_;
};

struct SimNode {
  uint64_t id = 0;
  std::string dir;
  std::unique_ptr<kv::FaultEnv> env;
  std::unique_ptr<SimTransport> transport;
  std::unique_ptr<kv::NodeCore> core;
  uint64_t incarnation = 0;
  bool restart_scheduled = false;
  bool round_scheduled = false;  // inputs wait in the "inbox" for a later round
  int64_t paused_until = 0;      // SIGSTOP: frames queue, nothing runs, until then
  std::vector<std::shared_ptr<kvpb::PeerBatch>> paused_inbox;
  int64_t clock_offset_ms = 0;   // this machine's wall clock minus true time
  bool up() const { return core != nullptr; }
};

struct Client {
  uint64_t id = 0;
  uint64_t seq = 0;
  bool busy = false;
  uint64_t token = 0;  // the attempt in flight; answers to older attempts are ignored
  size_t hist = 0;     // index in history_ of the operation in flight
  uint64_t hint = 0;   // node that last answered
  bool is_write = false;
  int attempts = 0;
  bool maybe_applied = false;  // an earlier attempt's outcome is unknown
};

class NodeSim {
 public:
  explicit NodeSim(const NodeSimOptions& options)
      : options_(options), rng_(options.seed), net_(NetworkOptions{}, rng_) {}
  ~NodeSim();
  NodeSimResult Run();

  // Transport.
  bool Send(uint64_t from, kvpb::PeerBatch batch);
  bool Reachable(uint64_t from, uint64_t to) const {
    return !net_.Blocked(from, to) && nodes_.count(to) && nodes_.at(to)->up();
  }

 private:
  void DrawParams();
  void Trace(const std::string& what, uint64_t node = 0, uint64_t a = 0, uint64_t b = 0);
  void Fail(const std::string& why);
  bool failed() const { return !result_.failure.empty(); }

  // Nodes.
  void Start(SimNode& n);
  kv::NodeConfig ConfigFor(SimNode& n);
  // Runs f on the core, then (or, if !round_now, a little later) its rounds; handles crashes.
  template <typename F>
  void OnNode(SimNode& n, F&& f, bool round_now = true);
  void Pump(SimNode& n);
  void DeferredRound(uint64_t id, uint64_t incarnation);  // the rounds a delivery deferred
  static void NoInput(kv::NodeCore&) {}
  void Crash(SimNode& n, const std::string& why);
  void ScheduleRestart(SimNode& n, int64_t delay);
  void TickLoop(uint64_t id);
  uint64_t Leader() const;
  std::vector<uint64_t> UpNodes() const;

  // Faults.
  void FaultLoop();
  void StormLoop();
  void Pause(SimNode& n, int64_t ms);  // SIGSTOP for ms
  void Resume(uint64_t id, uint64_t incarnation);  // end of a pause
  void Heal();

  // Clients.
  void Issue(Client& c);
  void SubmitWrite(Client& c);
  void WriteDone(uint64_t cid, uint64_t token, const kv::WriteResponse& r);
  void ReadDone(uint64_t cid, uint64_t token, const kv::ReadResponse& r);
  void ClientTimeout(uint64_t cid, uint64_t token);
  void Finish(Client& c, lincheck::Outcome outcome);
  SimNode* PickNode(uint64_t hint);
  void OnApply(uint64_t node, uint64_t index, const kvpb::Command& cmd, const kvpb::Result& r);
  void CheckAck(const Client& c, const kv::WriteResponse& r);

  // End of run.
  bool Converged(std::string* why) const;
  std::string Describe() const;  // every node's Raft state, for failure reports
  void FinalReads();
  void CheckReplicasEqual();
  bool ReplicasEqual(std::string* why) const;
  void CheckHistory();

  NodeSimOptions options_;
  Rng rng_;
  EventQueue q_;
  Network net_;
  Params p_;
  std::string root_;
  std::map<uint64_t, std::unique_ptr<SimNode>> nodes_;
  std::map<std::pair<uint64_t, uint64_t>, int64_t> link_tail_;  // last delivery time per link
  std::vector<kv::NodeInfo> members_;
  bool faults_on_ = true;
  bool clients_stop_ = false;
  int64_t heal_time_ = 0;
  bool acked_after_heal_ = false;

  std::vector<Client> clients_;
  std::vector<lincheck::Operation> history_;
  std::vector<bool> dropped_;  // parallel to history_: failed reads carry no information
  int64_t clock_ = 0;
  uint64_t next_token_ = 1;
  std::map<uint64_t, AppliedRecord> applied_;                       // index -> record
  std::map<std::pair<std::string, uint64_t>, uint64_t> executed_;   // (client, seq) -> index
  std::map<std::pair<std::string, uint64_t>, std::string> acked_;   // (client, seq) -> result
  NodeSimResult result_;
};

bool SimTransport::Send(kvpb::PeerBatch batch) { return sim_.Send(self_, std::move(batch)); }
bool SimTransport::Reachable(uint64_t node) const { return sim_.Reachable(self_, node); }

NodeSim::~NodeSim() {
  for (auto& [id, n] : nodes_) {
    if (n->env) n->env->RunHeldWork();
    n->core.reset();
  }
  std::error_code ec;
  if (!root_.empty()) std::filesystem::remove_all(root_, ec);
}

void NodeSim::Trace(const std::string& what, uint64_t node, uint64_t a, uint64_t b) {
  uint64_t h = result_.trace_hash ^ static_cast<uint64_t>(q_.now());
  for (char ch : what) h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001b3ull;
  h = (h ^ node) * 0x100000001b3ull;
  h = (h ^ a) * 0x100000001b3ull;
  result_.trace_hash = (h ^ b) * 0x100000001b3ull;
  if (options_.trace) {
    std::fprintf(stderr, "%8lld %-22s n%llu %llu %llu\n", static_cast<long long>(q_.now()),
                 what.c_str(), static_cast<unsigned long long>(node),
                 static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
  }
}

void NodeSim::Fail(const std::string& why) {
  if (failed()) return;
  result_.ok = false;
  result_.failure = "t=" + std::to_string(q_.now()) + "ms: " + why;
  Trace("FAIL " + why);
}

void NodeSim::DrawParams() {
  const double drops[] = {0.0, 0.01, 0.05};
  const double dups[] = {0.0, 0.02, 0.05};
  const int64_t max_delays[] = {2, 5, 20};
  const double crash_chances[] = {0.0, 0.0005, 0.002, 0.01};
  const uint64_t compactions[] = {10, 50, 400};
  const size_t chunks[] = {64, 4096, 1 << 20};
  const uint64_t msg_sizes[] = {1, 200, 1 << 20};
  const int inflights[] = {1, 4, 256};
  const int64_t intervals[] = {200, 500, 1000};
  auto pick = [&](const auto& arr) { return arr[rng_.Below(std::size(arr))]; };
  p_.net.drop = pick(drops);
  p_.net.duplicate = pick(dups);
  p_.net.min_delay = 1;
  p_.net.max_delay = pick(max_delays);
  p_.net.slow = rng_.Chance(0.5) ? 0.0 : 0.02;
  p_.net.slow_delay = 150;
  p_.crash_point_chance = pick(crash_chances);
  p_.compact_every = pick(compactions);
  p_.chunk_bytes = pick(chunks);
  p_.max_size_per_msg = pick(msg_sizes);
  p_.max_inflight = pick(inflights);
  p_.fault_interval = pick(intervals);
  p_.restart_max = rng_.Chance(0.5) ? 100 : 800;
  p_.clients = static_cast<int>(rng_.Range(2, 5));
  p_.keys = static_cast<int>(rng_.Range(1, 3));
  const int64_t offsets[] = {0, 1000, 3600 * 1000, 86400 * 1000};
  p_.max_clock_offset_ms = pick(offsets);
  p_.session_ttl_ms = rng_.Chance(0.5) ? 8000 : 600000;
  p_.defer_rounds = rng_.Chance(0.5) ? 0.0 : 0.3;
  p_.storm = rng_.Chance(0.25);
  p_.pause_on_snapshot = rng_.Chance(0.5) ? 0.0 : 0.3;
  if (p_.storm && rng_.Chance(0.5)) p_.max_size_per_msg = 1;  // split replication finely
  net_.set_options(p_.net);
}

// ---- nodes ----

kv::NodeConfig NodeSim::ConfigFor(SimNode& n) {
  kv::NodeConfig cfg;
  cfg.node_id = n.id;
  cfg.members = members_;
  cfg.data_dir = n.dir;
  cfg.env = n.env.get();
  cfg.tick_ms = static_cast<int>(kTickMs);
  cfg.election_ticks = 10;
  cfg.heartbeat_ticks = 1;
  cfg.request_timeout_ms = kRequestTimeoutMs;
  cfg.compact_every = p_.compact_every;
  cfg.snapshot_chunk_bytes = p_.chunk_bytes;
  cfg.max_size_per_msg = p_.max_size_per_msg;
  cfg.max_inflight_msgs = p_.max_inflight;
  cfg.random_seed = options_.seed * 1000003 + n.id * 7919 + n.incarnation;
  cfg.monotonic_ms = [this] { return q_.now(); };
  cfg.session_ttl_ms = p_.session_ttl_ms;
  const int64_t offset = n.clock_offset_ms;
  cfg.wall_ms = [this, offset] { return 1'000'000'000'000 + offset + q_.now(); };
  const uint64_t id = n.id;
  cfg.crash_point = [this, id](kv::CrashPoint point) {
    // Rare points (a snapshot install, a compaction, a restart) are where crashes matter most.
    const double weight = point == kv::CrashPoint::kAfterLogWrite ||
                                  point == kv::CrashPoint::kAfterApply
                              ? 1.0
                              : 30.0;
    if (!faults_on_ || !rng_.Chance(std::min(0.5, p_.crash_point_chance * weight))) return;
    result_.crash_points_hit++;
    Trace(std::string("crash-point ") + kv::CrashPointName(point), id);
    // From here nothing reaches the disk, and no held compaction may keep the databases from
    // closing while the core unwinds (a crash in Open destroys them on the way out).
    kv::FaultEnv& env = *nodes_.at(id)->env;
    env.SetCrashed(true);
    env.RunHeldWork();
    throw SimCrash{point};
  };
  if (options_.trace) {
    cfg.log = [this, id](std::string_view line) {
      std::fprintf(stderr, "%8lld n%llu log: %.*s\n", static_cast<long long>(q_.now()),
                   static_cast<unsigned long long>(id), static_cast<int>(line.size()),
                   line.data());
    };
  }
  cfg.on_apply = [this, id](uint64_t shard, uint64_t index, const kvpb::Command& cmd,
                            const kvpb::Result& r) {
    if (shard == kShard) OnApply(id, index, cmd, r);
  };
  return cfg;
}

void NodeSim::Start(SimNode& n) {
  n.restart_scheduled = false;
  std::unique_ptr<kv::NodeCore> core;
  try {
    raft::Status s = kv::NodeCore::Open(ConfigFor(n), n.transport.get(), &core);
    if (!s.ok()) {
      Fail("n" + std::to_string(n.id) + " cannot restart: " + s.ToString());
      return;
    }
  } catch (const SimCrash&) {
    Crash(n, "while starting");
    ScheduleRestart(n, rng_.Range(1, 50));
    return;
  } catch (const CheckFailure& e) {
    Fail("n" + std::to_string(n.id) + " failed a check while starting: " + e.what());
    return;
  }
  n.core = std::move(core);
  n.env->RunHeldWork();
  result_.restarts++;
  Trace("start", n.id, n.incarnation);
}

template <typename F>
void NodeSim::OnNode(SimNode& n, F&& f, bool round_now) {
  if (!n.up() || failed() || n.paused_until > q_.now()) return;  // a paused node does nothing
  try {
    f(*n.core);
    if (!round_now) {
      // Like kv::Node's inbox: several inputs (e.g. two snapshot streams after a pause) are
      // handled before the round that persists and applies what they produced.
      if (!n.round_scheduled) {
        n.round_scheduled = true;
        const uint64_t id = n.id, incarnation = n.incarnation;
        q_.After(rng_.Range(1, 30), [this, id, incarnation] { DeferredRound(id, incarnation); });
      }
      return;
    }
    Pump(n);
  } catch (const SimCrash& c) {
    Crash(n, std::string("at ") + kv::CrashPointName(c.point));
    ScheduleRestart(n, rng_.Range(1, p_.restart_max));
  } catch (const CheckFailure& e) {
    Fail("n" + std::to_string(n.id) + ": " + e.what());
  }
}

void NodeSim::DeferredRound(uint64_t id, uint64_t incarnation) {
  SimNode& n = *nodes_.at(id);
  if (n.incarnation != incarnation) return;
  n.round_scheduled = false;
  OnNode(n, NoInput);
}

void NodeSim::Pump(SimNode& n) {
  for (int i = 0; i < 64 && n.core->Round(); ++i) {
  }
  n.env->RunHeldWork();
}

void NodeSim::Crash(SimNode& n, const std::string& why) {
  Trace("crash " + why, n.id);
  result_.crashes++;
  n.env->SetCrashed(true);
  n.env->RunHeldWork();
  n.core.reset();  // pending callbacks are dropped uncalled: clients time out
  n.round_scheduled = false;
  n.paused_until = 0;
  n.paused_inbox.clear();
  leveldb::Status s = n.env->DropUnsyncedData();
  if (!s.ok()) Fail("dropping unsynced data: " + s.ToString());
  n.env->SetCrashed(false);
  n.incarnation++;
}

void NodeSim::ScheduleRestart(SimNode& n, int64_t delay) {
  if (n.restart_scheduled) return;
  n.restart_scheduled = true;
  const uint64_t id = n.id;
  q_.After(delay, [this, id] {
    SimNode& node = *nodes_.at(id);
    if (!node.up() && !failed()) Start(node);
  });
}

void NodeSim::TickLoop(uint64_t id) {
  q_.After(kTickMs, [this, id] {
    if (failed()) return;
    SimNode& n = *nodes_.at(id);
    OnNode(n, [](kv::NodeCore& core) { core.Tick(); });
    TickLoop(id);
  });
}

uint64_t NodeSim::Leader() const {
  uint64_t leader = 0, term = 0;
  for (const auto& [id, n] : nodes_) {
    if (!n->up()) continue;
    kv::ClusterStatus st = n->core->Status();
    if (st.shards.empty() || st.shards[0].role != "leader") continue;
    if (st.shards[0].term >= term) {
      term = st.shards[0].term;
      leader = id;
    }
  }
  return leader;
}

std::vector<uint64_t> NodeSim::UpNodes() const {
  std::vector<uint64_t> up;
  for (const auto& [id, n] : nodes_) {
    if (n->up()) up.push_back(id);
  }
  return up;
}

bool NodeSim::Send(uint64_t from, kvpb::PeerBatch batch) {
  const uint64_t to = batch.to_node();
  if (!Reachable(from, to)) return false;
  // The transport's contract (kv/transport.h): frames to one peer arrive in order while a
  // connection lasts. A link is FIFO, with random delays; a lost frame is a broken connection
  // (the stream has a gap). TCP never duplicates a frame, but a duplicate Raft message is what
  // a resend looks like, so frames without snapshot data may arrive twice.
  int64_t delays[2];
  int copies = net_.Route(from, to, delays);
  if (batch.has_snapshot_chunk()) {
    copies = std::min(copies, 1);
    // Stop the recipient as a snapshot streams in, for longer than the leader waits for its
    // acknowledgement: the leader resends, and both streams queue up for one batch.
    SimNode& n = *nodes_.at(to);
    if (faults_on_ && batch.snapshot_chunk().seq() == 0 && n.paused_until <= q_.now() &&
        rng_.Chance(p_.pause_on_snapshot)) {
      Pause(n, rng_.Range(1100, 2500));
    }
  }
  int64_t& tail = link_tail_[{from, to}];
  for (int i = 0; i < copies; ++i) {
    auto frame = std::make_shared<kvpb::PeerBatch>(i + 1 < copies ? batch : std::move(batch));
    tail = std::max(tail, q_.now() + delays[i]);
    q_.After(tail - q_.now(), [this, from, to, frame] {
      if (net_.Blocked(from, to)) return;  // a partition that began in flight
      SimNode& n = *nodes_.at(to);
      if (n.up() && n.paused_until > q_.now()) {
        n.paused_inbox.push_back(frame);  // read by the kernel, handled after the pause
        return;
      }
      const bool round_now = !rng_.Chance(p_.defer_rounds);
      OnNode(n, [&](kv::NodeCore& core) { core.Deliver(std::move(*frame)); }, round_now);
    });
  }
  return true;
}

// ---- faults ----

void NodeSim::FaultLoop() {
  q_.After(p_.fault_interval, [this] {
    if (failed() || !faults_on_) return;
    const uint64_t roll = rng_.Below(10);
    std::vector<uint64_t> up = UpNodes();
    const uint64_t leader = Leader();
    if (roll == 5 && !up.empty()) {
      // SIGSTOP long enough for the leader to give up on a snapshot stream and resend it.
      Pause(*nodes_.at(up[rng_.Below(up.size())]), rng_.Range(100, 2500));
    } else if (roll < 3 && !up.empty()) {
      const uint64_t victim = (roll == 0 && leader != 0) ? leader : up[rng_.Below(up.size())];
      SimNode& n = *nodes_.at(victim);
      Crash(n, victim == leader ? "leader killed" : "killed");
      ScheduleRestart(n, rng_.Range(1, p_.restart_max));
    } else if (roll < 5) {
      std::vector<uint64_t> all, a, b;
      for (const auto& [id, n] : nodes_) all.push_back(id);
      if (roll == 3 && leader != 0) {
        net_.Isolate(leader, all);
        Trace("isolate leader", leader);
      } else {
        for (uint64_t id : all) (rng_.Chance(0.5) ? a : b).push_back(id);
        net_.Split(a, b);
        Trace("split", 0, a.size(), b.size());
      }
      q_.After(rng_.Range(50, 800), [this] {
        if (!faults_on_) return;
        net_.HealAll();
        Trace("heal links");
      });
    }
    FaultLoop();
  });
}

void NodeSim::Pause(SimNode& n, int64_t ms) {
  n.paused_until = q_.now() + ms;
  Trace("pause", n.id, static_cast<uint64_t>(ms));
  const uint64_t id = n.id, incarnation = n.incarnation;
  q_.After(ms, [this, id, incarnation] { Resume(id, incarnation); });
}

void NodeSim::Resume(uint64_t id, uint64_t incarnation) {
  SimNode& n = *nodes_.at(id);
  if (n.incarnation != incarnation || !n.up()) return;
  n.paused_until = 0;
  Trace("resume", id, n.paused_inbox.size());
  std::vector<std::shared_ptr<kvpb::PeerBatch>> inbox;
  inbox.swap(n.paused_inbox);
  // Everything that queued up is handled before the next round, as kv::Node's inbox does.
  OnNode(n, [&](kv::NodeCore& core) {
    for (auto& frame : inbox) core.Deliver(std::move(*frame));
  });
}

void NodeSim::StormLoop() {
  q_.After(rng_.Range(30, 150), [this] {
    if (failed() || !faults_on_) return;
    const uint64_t leader = Leader();
    if (leader != 0) {
      SimNode& n = *nodes_.at(leader);
      Crash(n, "storm: leader killed");
      ScheduleRestart(n, rng_.Range(5, 100));
    }
    StormLoop();
  });
}

void NodeSim::Heal() {
  faults_on_ = false;
  heal_time_ = q_.now();
  net_.HealAll();
  NetworkOptions calm = p_.net;
  calm.drop = 0;
  calm.duplicate = 0;
  calm.slow = 0;
  net_.set_options(calm);
  Trace("heal");
  for (auto& [id, n] : nodes_) {
    if (!n->up()) ScheduleRestart(*n, 1);
  }
  // Paused nodes resume at their own time (at most 2.5 s from now).
}

// ---- clients ----

SimNode* NodeSim::PickNode(uint64_t hint) {
  if (hint != 0 && nodes_.at(hint)->up() && rng_.Chance(0.8)) return nodes_.at(hint).get();
  std::vector<uint64_t> up = UpNodes();
  if (up.empty()) return nullptr;
  return nodes_.at(up[rng_.Below(up.size())]).get();
}

void NodeSim::Issue(Client& c) {
  if (clients_stop_ || failed()) return;
  const std::string key = "k" + std::to_string(rng_.Below(static_cast<uint64_t>(p_.keys)));
  lincheck::Operation op;
  op.process = static_cast<int64_t>(c.id);
  op.key = key;
  op.call = ++clock_;
  op.outcome = lincheck::Outcome::kUnknown;
  c.busy = true;
  c.attempts = 0;
  c.maybe_applied = false;
  c.is_write = !rng_.Chance(p_.read_share);
  if (c.is_write) {
    c.seq++;
    op.type = lincheck::OpType::kWrite;
    op.value = "c" + std::to_string(c.id) + "s" + std::to_string(c.seq);
  } else {
    op.type = lincheck::OpType::kRead;
  }
  c.hist = history_.size();
  history_.push_back(op);
  dropped_.push_back(false);
  if (c.is_write) return SubmitWrite(c);
  SimNode* n = PickNode(c.hint);
  const uint64_t token = next_token_++;
  c.token = token;
  const uint64_t cid = c.id;
  q_.After(kClientTimeoutMs, [this, cid, token] { ClientTimeout(cid, token); });
  if (n == nullptr) return;
  kv::ReadRequest req;
  req.key = key;
  c.hint = n->id;
  OnNode(*n, [&](kv::NodeCore& core) {
    core.Read(req, [this, cid, token](kv::ReadResponse r) { ReadDone(cid, token, r); });
  });
}

void NodeSim::SubmitWrite(Client& c) {
  const lincheck::Operation& op = history_[c.hist];
  SimNode* n = PickNode(c.hint);
  const uint64_t token = next_token_++;
  c.token = token;
  c.attempts++;
  const uint64_t cid = c.id;
  q_.After(kClientTimeoutMs, [this, cid, token] { ClientTimeout(cid, token); });
  if (n == nullptr) return;
  kv::WriteRequest req;
  req.key = op.key;
  req.value = *op.value;
  req.client_id = "c" + std::to_string(c.id);
  req.seq = c.seq;
  c.hint = n->id;
  Trace("write", n->id, c.id, c.seq);
  OnNode(*n, [&](kv::NodeCore& core) {
    core.Write(req, [this, cid, token](kv::WriteResponse r) { WriteDone(cid, token, r); });
  });
}

void NodeSim::WriteDone(uint64_t cid, uint64_t token, const kv::WriteResponse& r) {
  Client& c = clients_[cid - 1];
  if (!c.busy || c.token != token) return;
  c.token = 0;  // this attempt is answered; its timeout is moot
  switch (r.code) {
    case kv::ErrorCode::kOk:
      CheckAck(c, r);
      result_.writes_acked++;
      if (!faults_on_) acked_after_heal_ = true;
      return Finish(c, lincheck::Outcome::kOk);
    case kv::ErrorCode::kUnavailable:
    case kv::ErrorCode::kOverloaded:
      // Certainly not applied by this attempt; an earlier unknown one may still apply.
      if (!c.maybe_applied) return Finish(c, lincheck::Outcome::kFail);
      break;
    case kv::ErrorCode::kTimeout:
      c.maybe_applied = true;
      break;
    default:
      Fail("client c" + std::to_string(cid) + " seq " + std::to_string(c.seq) +
           ": unexpected write answer: " + r.message);
      return;
  }
  if (c.attempts >= kMaxWriteAttempts) return Finish(c, lincheck::Outcome::kUnknown);
  q_.After(rng_.Range(1, 50), [this, cid] {
    Client& cl = clients_[cid - 1];
    if (cl.busy && cl.token == 0) SubmitWrite(cl);
  });
}

void NodeSim::ReadDone(uint64_t cid, uint64_t token, const kv::ReadResponse& r) {
  Client& c = clients_[cid - 1];
  if (!c.busy || c.token != token) return;
  c.token = 0;
  lincheck::Operation& op = history_[c.hist];
  if (r.code == kv::ErrorCode::kOk || r.code == kv::ErrorCode::kNotFound) {
    if (r.code == kv::ErrorCode::kOk) op.result = r.record->value();
    result_.reads_ok++;
    return Finish(c, lincheck::Outcome::kOk);
  }
  dropped_[c.hist] = true;  // a failed read took no effect and tells nothing
  Finish(c, lincheck::Outcome::kFail);
}

void NodeSim::ClientTimeout(uint64_t cid, uint64_t token) {
  Client& c = clients_[cid - 1];
  if (!c.busy || c.token != token) return;
  c.token = 0;
  if (!c.is_write) {
    dropped_[c.hist] = true;
    return Finish(c, lincheck::Outcome::kFail);
  }
  // The node may have crashed with the request, or it is slow: the outcome is unknown; retry
  // with the same seq to learn it.
  c.maybe_applied = true;
  if (c.attempts >= kMaxWriteAttempts) return Finish(c, lincheck::Outcome::kUnknown);
  SubmitWrite(c);
}

void NodeSim::Finish(Client& c, lincheck::Outcome outcome) {
  lincheck::Operation& op = history_[c.hist];
  op.outcome = outcome;
  op.ret = ++clock_;
  if (outcome == lincheck::Outcome::kUnknown) result_.unknown++;
  c.busy = false;
  c.token = 0;
  Trace("done", c.hint, c.id, static_cast<uint64_t>(outcome));
  if (!faults_on_ && acked_after_heal_) clients_stop_ = true;
  const uint64_t cid = c.id;
  q_.After(rng_.Range(0, 20), [this, cid] {
    Client& cl = clients_[cid - 1];
    if (!cl.busy) Issue(cl);
  });
}

void NodeSim::OnApply(uint64_t node, uint64_t index, const kvpb::Command& cmd,
                      const kvpb::Result& r) {
  AppliedRecord rec;
  rec.client = cmd.client_id();
  rec.seq = cmd.seq();
  rec.key = cmd.put().key();
  rec.value = cmd.put().value();
  rec.result = r.SerializeAsString();
  auto [it, inserted] = applied_.emplace(index, rec);
  if (!inserted && !(it->second == rec)) {
    return Fail("n" + std::to_string(node) + " applied at index " + std::to_string(index) +
                " a command or outcome other replicas did not (" + rec.client + "/" +
                std::to_string(rec.seq) + " vs " + it->second.client + "/" +
                std::to_string(it->second.seq) + ")");
  }
  // Executed here: not a retry answered from the session (its revision is the first one's), nor
  // a stale duplicate refused because the client had moved on (RESULT_INVALID).
  if (rec.client.empty() || r.revision() != index || r.code() == kvpb::RESULT_INVALID) return;
  auto [ex, fresh] = executed_.emplace(std::make_pair(rec.client, rec.seq), index);
  if (!fresh && ex->second != index) {
    Fail(rec.client + " seq " + std::to_string(rec.seq) + " executed twice: at " +
         std::to_string(ex->second) + " and " + std::to_string(index));
  }
}

void NodeSim::CheckAck(const Client& c, const kv::WriteResponse& r) {
  const std::string client = "c" + std::to_string(c.id);
  const std::string who = client + " seq " + std::to_string(c.seq);
  auto it = applied_.find(r.revision);
  if (it == applied_.end()) {
    return Fail(who + " acknowledged at revision " + std::to_string(r.revision) +
                ", which no replica applied");
  }
  kvpb::Result applied;
  applied.ParseFromString(it->second.result);
  if (it->second.client != client || it->second.seq != c.seq ||
      applied.version() != r.version || it->second.value != *history_[c.hist].value) {
    return Fail(who + " acknowledged with version " + std::to_string(r.version) +
                " revision " + std::to_string(r.revision) + ", but the entry applied there is " +
                it->second.client + " seq " + std::to_string(it->second.seq) + " version " +
                std::to_string(applied.version()));
  }
  const std::string ack = std::to_string(r.version) + "@" + std::to_string(r.revision);
  auto [prev, fresh] = acked_.emplace(std::make_pair(client, c.seq), ack);
  if (!fresh && prev->second != ack) {
    Fail(who + " acknowledged twice with different outcomes: " + prev->second + " and " + ack);
  }
}

// ---- end of run ----

bool NodeSim::Converged(std::string* why) const {
  uint64_t applied = 0;
  bool first = true;
  for (const auto& [id, n] : nodes_) {
    if (!n->up()) {
      *why = "n" + std::to_string(id) + " is down";
      return false;
    }
    kv::ClusterStatus st = n->core->Status();
    const kv::ShardStatus& s = st.shards.at(0);
    if (s.leader == 0) {
      *why = "n" + std::to_string(id) + " knows no leader";
      return false;
    }
    if (!first && s.applied_index != applied) {
      *why = "applied indexes differ (n" + std::to_string(id) + " at " +
             std::to_string(s.applied_index) + ", others at " + std::to_string(applied) + ")";
      return false;
    }
    if (s.applied_index < s.commit_index) {
      *why = "n" + std::to_string(id) + " has not applied its commit index";
      return false;
    }
    applied = s.applied_index;
    first = false;
  }
  for (const auto& c : clients_) {
    if (c.busy) {
      *why = "client c" + std::to_string(c.id) + " is still busy";
      return false;
    }
  }
  return true;
}

std::string NodeSim::Describe() const {
  std::string out;
  for (const auto& [id, n] : nodes_) {
    out += "  n" + std::to_string(id) + ": ";
    if (!n->up()) {
      out += "down\n";
      continue;
    }
    for (const auto& [shard, r] : n->core->impl().replicas) {
      raft::NodeStatus st = r->raw->GetStatus();
      out += std::string(raft::StateName(st.soft_state.state)) + " term " +
             std::to_string(st.hard_state.term()) + " lead " +
             std::to_string(st.soft_state.lead) + " commit " +
             std::to_string(st.hard_state.commit()) + " log [" +
             std::to_string(st.first_index) + ".." + std::to_string(st.last_index) +
             "] applied " + std::to_string(r->sm->applied().index()) + " staged " +
             std::to_string(r->staged.size()) + (r->staged_complete ? " complete" : "") +
             " accepted " + std::to_string(r->accepted.size());
      for (const auto& [peer, pr] : st.progress) {
        out += " | n" + std::to_string(peer) + " " + pr.state + " match " +
               std::to_string(pr.match) + " next " + std::to_string(pr.next) + " inflight " +
               std::to_string(pr.inflight);
      }
      out += "\n";
    }
  }
  return out;
}

void NodeSim::FinalReads() {
  // A linearizable read of every key, through the leader, into the checked history: every
  // acknowledged write must still be there (or overwritten by a later one).
  for (int k = 0; k < p_.keys; ++k) {
    const uint64_t leader = Leader();
    if (leader == 0) return Fail("no leader for the final reads");
    lincheck::Operation op;
    op.process = 0;
    op.key = "k" + std::to_string(k);
    op.type = lincheck::OpType::kRead;
    op.call = ++clock_;
    op.outcome = lincheck::Outcome::kUnknown;
    const size_t idx = history_.size();
    history_.push_back(op);
    dropped_.push_back(false);
    bool done = false;
    kv::ReadRequest req;
    req.key = op.key;
    OnNode(*nodes_.at(leader), [&](kv::NodeCore& core) {
      core.Read(req, [this, idx, &done](kv::ReadResponse r) {
        lincheck::Operation& o = history_[idx];
        if (r.code == kv::ErrorCode::kOk) o.result = r.record->value();
        o.outcome = (r.code == kv::ErrorCode::kOk || r.code == kv::ErrorCode::kNotFound)
                        ? lincheck::Outcome::kOk
                        : lincheck::Outcome::kFail;
        o.ret = ++clock_;
        done = true;
      });
    });
    const int64_t deadline = q_.now() + 5000;
    while (!done && !failed() && !q_.empty() && q_.now() < deadline) q_.RunNext();
    if (!done || history_[idx].outcome != lincheck::Outcome::kOk) {
      return Fail("the final read of " + op.key + " did not succeed");
    }
  }
}

void NodeSim::CheckReplicasEqual() {
  // Followers may still be a round or a heartbeat behind: give them a bounded time to catch up.
  std::string why;
  const int64_t deadline = q_.now() + 2000;
  while (!failed() && !q_.empty() && q_.now() < deadline && !ReplicasEqual(&why)) {
    const int64_t until = q_.now() + 20;
    while (!failed() && !q_.empty() && q_.now() < until) q_.RunNext();
  }
  if (!failed() && !ReplicasEqual(&why)) Fail(why);
}

bool NodeSim::ReplicasEqual(std::string* why) const {
  std::string reference;
  uint64_t reference_node = 0;
  for (const auto& [id, n] : nodes_) {
    if (!n->up()) {
      *why = "n" + std::to_string(id) + " is down at the end";
      return false;
    }
    kv::ScanRequest req;
    req.limit = 100000;
    kv::ScanResponse resp = n->core->StaleScan(req);
    std::string image;
    for (const auto& [key, rec] : resp.items) {
      image += key + "=" + rec.value() + "/" + std::to_string(rec.version()) + "/" +
               std::to_string(rec.revision()) + ";";
    }
    if (reference_node == 0) {
      reference = image;
      reference_node = id;
    } else if (image != reference) {
      *why = "replicas diverge after healing: n" + std::to_string(reference_node) + " {" +
             reference + "} n" + std::to_string(id) + " {" + image + "}";
      return false;
    }
  }
  return true;
}

void NodeSim::CheckHistory() {
  std::vector<lincheck::Operation> ops;
  for (size_t i = 0; i < history_.size(); ++i) {
    if (!dropped_[i]) ops.push_back(history_[i]);
  }
  lincheck::CheckOptions opts;
  opts.model = lincheck::ModelKind::kRegister;
  opts.time_budget = std::chrono::milliseconds(20000);
  lincheck::CheckResult r = lincheck::Check(ops, opts);
  if (r.verdict == lincheck::Verdict::kInvalid) {
    Fail("history not linearizable:\n" + lincheck::FormatResult(r));
  }
}

NodeSimResult NodeSim::Run() {
  DrawParams();
  std::string base = options_.dir;
  if (base.empty()) {
    base = std::filesystem::exists("/dev/shm") ? "/dev/shm"
                                               : std::filesystem::temp_directory_path().string();
  }
  root_ = base + "/kvd-node-sim-" + std::to_string(::getpid()) + "-" +
          std::to_string(options_.seed);
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
  for (int i = 1; i <= options_.nodes; ++i) {
    kv::NodeInfo info;
    info.id = static_cast<uint64_t>(i);
    members_.push_back(info);
  }
  for (const auto& m : members_) {
    auto n = std::make_unique<SimNode>();
    n->id = m.id;
    n->dir = root_ + "/n" + std::to_string(m.id);
    n->env = std::make_unique<kv::FaultEnv>();
    n->env->HoldBackgroundWork(true);
    n->transport = std::make_unique<SimTransport>(*this, m.id);
    if (p_.max_clock_offset_ms > 0) {
      n->clock_offset_ms = rng_.Range(-p_.max_clock_offset_ms, p_.max_clock_offset_ms);
    }
    nodes_.emplace(m.id, std::move(n));
  }
  for (auto& [id, n] : nodes_) {
    Start(*n);
    const uint64_t node = id;
    q_.After(static_cast<int64_t>(id), [this, node] { TickLoop(node); });
  }
  for (int i = 1; i <= p_.clients; ++i) {
    Client c;
    c.id = static_cast<uint64_t>(i);
    clients_.push_back(c);
  }
  for (auto& c : clients_) {
    const uint64_t cid = c.id;
    q_.After(rng_.Range(200, 400), [this, cid] { Issue(clients_[cid - 1]); });
  }
  FaultLoop();
  if (p_.storm) q_.After(300, [this] { StormLoop(); });
  q_.After(options_.fault_ms, [this] { Heal(); });

  std::string why = "not started";
  int64_t next_check = 0;
  while (!failed() && !q_.empty()) {
    q_.RunNext();
    if (faults_on_ || q_.now() < next_check) continue;
    next_check = q_.now() + 50;
    if (clients_stop_ && Converged(&why)) break;
    if (q_.now() - heal_time_ > options_.converge_ms) {
      Fail("no convergence " + std::to_string(options_.converge_ms) + " ms after healing: " +
           (clients_stop_ ? why : "no write acknowledged since") + "\n" + Describe());
    }
  }
  if (!failed()) FinalReads();
  if (!failed()) CheckReplicasEqual();
  if (!failed()) CheckHistory();
  result_.summary = std::to_string(history_.size()) + " ops (" +
                    std::to_string(result_.writes_acked) + " writes acked, " +
                    std::to_string(result_.reads_ok) + " reads, " +
                    std::to_string(result_.unknown) + " unknown), " +
                    std::to_string(result_.crashes) + " crashes (" +
                    std::to_string(result_.crash_points_hit) + " at crash points), " +
                    std::to_string(result_.restarts) + " starts, " +
                    std::to_string(applied_.size()) + " entries applied";
  return result_;
}

}  // namespace

NodeSimResult RunNodeSimulation(const NodeSimOptions& options) {
  NodeSim sim(options);
  return sim.Run();
}

std::string NodeSimReplayCommand(const NodeSimOptions& options) {
  return options.binary + " --seed " + std::to_string(options.seed) + " --nodes " +
         std::to_string(options.nodes) + " --trace";
}

}  // namespace kvd::sim
