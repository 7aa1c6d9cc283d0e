// Integration tests of a sharded cluster (label: integration): five real kvd processes with 16
// data shards of 3 replicas each. They check what sharding promises an operator: losing the node
// that leads the most shards loses no acknowledged write and every shard elects a new leader and
// serves again; any node serves any key, also of a shard it holds no replica of; a request routed
// by a stale directory is served under the current one and told the current version; keys that
// share a {tag} share a shard; and a node started with the wrong --vnodes still routes by the
// cluster's committed directory.
//
// The oracle for "which shard owns a key" is the ring rebuilt here from a node's GET /v1/directory
// (kv/ring.h, as a smart client does), never the node's own answer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "kv/ring.h"
#include "tests/integration/process_cluster.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kNodes = 5;
constexpr int kShards = 16;
constexpr int kReplication = 3;

std::string TestName() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return info != nullptr ? info->name() : "suite";
}

// Every node gets the same layout flags. Fast elections (0.5-1 s) keep the failover test short;
// a node reports a write it could not commit (504) before the client's 3 s timeout.
std::vector<std::string> ShardedFlags() {
  return {"--shards",
          std::to_string(kShards),
          "--replication",
          std::to_string(kReplication),
          "--tick-ms",
          "50",
          "--election-ticks",
          "10",
          "--request-timeout-ms",
          "2000"};
}

// A client id unique to this process and call, for idempotency keys.
std::string UniqueClientId(const std::string& who) {
  static std::atomic<uint64_t> instance{std::random_device{}()};
  return "it-" + who + "-" + std::to_string(::getpid()) + "-" + std::to_string(instance++);
}

// A client for one node only. It retries 503 (nothing applied: e.g. a shard between leaders),
// and its writes carry idempotency keys, so an unknown outcome is retried too (exactly once).
rpc::HttpClient Through(ProcessCluster& c, int node) {
  rpc::ClientOptions o = c.Client(node, 3s).options();
  o.max_attempts = 8;
  o.retry_unavailable = true;
  o.retry_backoff = 50ms;
  o.max_backoff = 400ms;
  o.client_id = UniqueClientId("n" + std::to_string(node));
  return rpc::HttpClient(o);
}

// A client for every node whose writes carry idempotency keys (safe to retry after a timeout).
rpc::HttpClient IdempotentClusterClient(ProcessCluster& c, const std::string& who) {
  rpc::ClientOptions o = c.ClusterClient(3s).options();
  o.client_id = UniqueClientId(who);
  return rpc::HttpClient(o);
}

std::string Describe(const rpc::Result& r) {
  return "status " + std::to_string(r.status) + " " + r.error_code + " " + r.error_message + " " +
         r.transport_error + " via " + r.endpoint;
}

// The last lines of every node's log, for failure messages.
std::string LogTails(ProcessCluster& c, size_t lines = 25) {
  std::string out;
  for (int node = 1; node <= kNodes; ++node) {
    const std::string log = c.Log(node);
    size_t from = log.size();
    for (size_t n = 0; n <= lines && from > 0;) {
      from = log.rfind('\n', from - 1);
      if (from == std::string::npos) {
        from = 0;
        break;
      }
      ++n;
    }
    out += "--- n" + std::to_string(node) + " log tail:\n" + log.substr(from) + "\n";
  }
  return out;
}

// The committed directory as `node` knows it (503 before the meta shard committed one).
rpc::DirectoryResult DirectoryOf(ProcessCluster& c, int node) {
  return c.Client(node, 2s).Directory();
}

// Polls node's directory until `done` holds for it or `timeout` passes; returns the last answer.
template <typename Pred>
rpc::DirectoryResult WaitDirectory(ProcessCluster& c, int node, std::chrono::milliseconds timeout,
                                   Pred done) {
  const auto deadline = Clock::now() + timeout;
  rpc::DirectoryResult d = DirectoryOf(c, node);
  while (!(d.ok() && done(d)) && Clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    d = DirectoryOf(c, node);
  }
  return d;
}

// Every data shard is listed and hinted to be led by a running node.
bool EveryShardLedByARunningNode(ProcessCluster& c, const rpc::DirectoryResult& d) {
  if (d.shards.size() != static_cast<size_t>(kShards)) return false;
  for (const auto& s : d.shards) {
    if (s.leader == 0 || !c.Running(static_cast<int>(s.leader))) return false;
  }
  return true;
}

// Waits until every running node has the committed directory with a leader for every shard, and
// all of them agree on its layout. Returns node `node`'s copy.
rpc::DirectoryResult WaitShardsLed(ProcessCluster& c, int node) {
  for (int n = 1; n <= kNodes; ++n) {
    if (!c.Running(n)) continue;
    auto d =
        WaitDirectory(c, n, 30s, [&](const auto& d) { return EveryShardLedByARunningNode(c, d); });
    EXPECT_TRUE(d.ok() && EveryShardLedByARunningNode(c, d))
        << "n" << n << ": " << Describe(d) << "\n"
        << d.body;
  }
  return DirectoryOf(c, node);
}

// The ring the directory describes (kv/ring.h).
kv::Ring RingOf(const rpc::DirectoryResult& d, int vnodes) {
  std::vector<uint64_t> ids;
  for (const auto& s : d.shards) ids.push_back(s.id);
  std::string error;
  std::optional<kv::Ring> ring = kv::Ring::Build(ids, vnodes, &error);
  EXPECT_TRUE(ring.has_value()) << error;
  return std::move(*ring);
}
kv::Ring RingOf(const rpc::DirectoryResult& d) { return RingOf(d, d.vnodes_per_shard); }

// One key per shard, owned by it under `ring`: "<prefix><n>" for the smallest such n.
std::map<uint64_t, std::string> KeyPerShard(const kv::Ring& ring, const std::string& prefix) {
  std::map<uint64_t, std::string> keys;
  for (int n = 0; keys.size() < static_cast<size_t>(kShards) && n < 100000; ++n) {
    const std::string key = prefix + std::to_string(n);
    keys.emplace(ring.ShardFor(key), key);
  }
  EXPECT_EQ(keys.size(), static_cast<size_t>(kShards));
  return keys;
}

// How many shards each node leads, by the directory's leader hints.
std::map<int, int> LeadersPerNode(const rpc::DirectoryResult& d) {
  std::map<int, int> led;
  for (const auto& s : d.shards) led[static_cast<int>(s.leader)]++;
  return led;
}

// The node (other than `except`) leading the most shards; 0 if none leads any.
int BusiestLeader(const rpc::DirectoryResult& d, int except) {
  int best = 0, most = 0;
  for (const auto& [node, count] : LeadersPerNode(d)) {
    if (node != except && node != 0 && count > most) best = node, most = count;
  }
  return best;
}

// Writers: threads writing distinct keys through every node, remembering what was acknowledged.
class Writers {
 public:
  Writers(ProcessCluster& c, int threads) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, &c, t] {
        rpc::HttpClient client = IdempotentClusterClient(c, "writer" + std::to_string(t));
        for (int i = 0; !stop_; ++i) {
          const std::string key = "w/" + std::to_string(t) + "/" + std::to_string(i);
          const std::string value = "v" + std::to_string(t) + "." + std::to_string(i);
          rpc::Result r = client.Put(key, value);
          if (!r.ok()) {  // failed or unknown: asserts nothing, counted for the log
            (r.indeterminate ? unknown_ : failed_)++;
            continue;
          }
          std::lock_guard<std::mutex> lock(mu_);
          acked_[key] = value;
          if (r.shard) shards_.insert(*r.shard);
        }
      });
    }
  }
  ~Writers() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  size_t Acked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_.size();
  }
  // Waits (bounded) until at least `n` writes were acknowledged.
  bool WaitAcked(size_t n, std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (Acked() < n) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }
  std::map<std::string, std::string> acked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  std::set<uint64_t> shards() const {
    std::lock_guard<std::mutex> lock(mu_);
    return shards_;
  }
  int failed() const { return failed_; }
  int unknown() const { return unknown_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> failed_{0}, unknown_{0};
  mutable std::mutex mu_;
  std::map<std::string, std::string> acked_;  // GUARDED_BY(mu_)
  std::set<uint64_t> shards_;                 // GUARDED_BY(mu_): X-Kv-Shard of acked writes
  std::vector<std::thread> threads_;
};

// A write and a linearizable read of a key of every shard succeed (retried until `timeout`, as
// a shard may still be settling); the answers name the shard the ring assigns.
void EveryShardServes(ProcessCluster& c, const kv::Ring& ring, const std::string& round) {
  rpc::HttpClient client = IdempotentClusterClient(c, "probe");
  for (const auto& [shard, key] : KeyPerShard(ring, "probe/")) {
    SCOPED_TRACE("shard " + std::to_string(shard) + " key " + key);
    const std::string value = round + "-" + key;
    const auto deadline = Clock::now() + 15s;
    rpc::Result put = client.Put(key, value);
    while (!put.ok() && Clock::now() < deadline) put = client.Put(key, value);
    ASSERT_TRUE(put.ok()) << Describe(put) << "\n" << LogTails(c);
    EXPECT_EQ(put.shard, shard);
    rpc::Result get = client.Get(key);
    while (!get.ok() && Clock::now() < deadline) get = client.Get(key);
    ASSERT_TRUE(get.ok()) << Describe(get) << "\n" << LogTails(c);
    EXPECT_EQ(get.body, value);
    EXPECT_EQ(get.shard, shard);
  }
}

// Kills the node leading the most shards (other than `spare`) under load and checks that every
// shard it led elects another leader in a later term, that every shard serves, and that the load
// goes on. Returns the killed node.
int KillBusiestLeader(ProcessCluster& c, Writers& writers, int spare) {
  const int observer = spare != 0 ? spare : 1;
  const rpc::DirectoryResult before = WaitShardsLed(c, observer);
  const int victim = BusiestLeader(before, spare);
  EXPECT_NE(victim, 0) << before.body;
  if (victim == 0) return 0;
  std::map<uint64_t, uint64_t> led_terms;  // shard -> term, of the shards the victim led
  for (const auto& s : before.shards) {
    if (s.leader == static_cast<uint64_t>(victim)) led_terms[s.id] = s.leader_term;
  }
  const size_t acked_at_kill = writers.Acked();
  c.Kill(victim);

  int live = victim % kNodes + 1;
  auto moved = [&](const rpc::DirectoryResult& d) {
    if (!EveryShardLedByARunningNode(c, d)) return false;
    for (const auto& s : d.shards) {
      auto it = led_terms.find(s.id);
      if (it != led_terms.end() && s.leader_term <= it->second) return false;
    }
    return true;
  };
  const rpc::DirectoryResult after = WaitDirectory(c, live, 20s, moved);
  EXPECT_TRUE(after.ok() && moved(after)) << "shards led by n" << victim << " (" << led_terms.size()
                                          << ") did not all elect another leader:\n"
                                          << after.body << "\n"
                                          << c.Log(live);
  EXPECT_GT(after.version, before.version);
  std::cout << "killed n" << victim << " leading " << led_terms.size() << " shards; directory v"
            << before.version << " -> v" << after.version << ", leaders per node after:";
  for (const auto& [node, count] : LeadersPerNode(after)) std::cout << " n" << node << "=" << count;
  std::cout << std::endl;

  EveryShardServes(c, RingOf(after), "after-kill-n" + std::to_string(victim));
  EXPECT_TRUE(writers.WaitAcked(acked_at_kill + 100, 20s))
      << "writes stalled after killing n" << victim << ": " << writers.Acked() << " acked, "
      << acked_at_kill << " at the kill";
  return victim;
}

TEST(ShardingTest, KillingShardLeadersUnderLoadLosesNoAcknowledgedWrite) {
  ProcessCluster c(TestName(), kNodes, ShardedFlags());
  c.StartAll();
  ASSERT_TRUE(c.WaitReady(30s)) << c.Log(1);
  const rpc::DirectoryResult start = WaitShardsLed(c, 1);
  ASSERT_TRUE(start.ok());
  const kv::Ring ring = RingOf(start);

  Writers writers(c, 3);
  ASSERT_TRUE(writers.WaitAcked(200, 20s)) << writers.Acked() << " writes acknowledged";
  const int first = KillBusiestLeader(c, writers, 0);
  ASSERT_NE(first, 0);
  c.Start(first);
  ASSERT_TRUE(c.WaitReady(30s)) << c.Log(first);
  const int second = KillBusiestLeader(c, writers, first);
  ASSERT_NE(second, 0);
  writers.Stop();
  c.Start(second);
  ASSERT_TRUE(c.WaitReady(30s)) << c.Log(second);

  // The writes spread over every shard, and none acknowledged is lost: each reads back with its
  // value through every node (linearizable reads, in parallel, one thread per node).
  const std::map<std::string, std::string> acked = writers.acked();
  EXPECT_EQ(writers.shards().size(), static_cast<size_t>(kShards));
  std::set<uint64_t> predicted;
  for (const auto& [key, value] : acked) predicted.insert(ring.ShardFor(key));
  EXPECT_EQ(predicted.size(), static_cast<size_t>(kShards));
  std::vector<std::string> lost[kNodes + 1];
  std::vector<std::thread> readers;
  for (int node = 1; node <= kNodes; ++node) {
    readers.emplace_back([&, node] {
      rpc::HttpClient client = Through(c, node);
      for (const auto& [key, value] : acked) {
        rpc::Result r = client.Get(key);
        if (!r.ok() || r.body != value || r.shard != ring.ShardFor(key)) {
          lost[node].push_back(key + " (" + Describe(r) + " body '" + r.body + "')");
        }
      }
    });
  }
  for (auto& t : readers) t.join();
  for (int node = 1; node <= kNodes; ++node) {
    EXPECT_TRUE(lost[node].empty())
        << "n" << node << " misread " << lost[node].size() << " of " << acked.size()
        << " acknowledged writes, e.g. " << lost[node].front();
  }
  std::cout << acked.size() << " acknowledged writes (" << writers.failed() << " failed, "
            << writers.unknown() << " unknown) read back through " << kNodes << " nodes"
            << std::endl;

  // Placement survived: 3 distinct replicas per shard, and every node holds its share +-1.
  const rpc::DirectoryResult end = DirectoryOf(c, 1);
  ASSERT_TRUE(end.ok()) << Describe(end);
  ASSERT_EQ(end.shards.size(), static_cast<size_t>(kShards));
  std::map<uint64_t, int> held;
  for (const auto& s : end.shards) {
    EXPECT_EQ(std::set<uint64_t>(s.replicas.begin(), s.replicas.end()).size(),
              static_cast<size_t>(kReplication))
        << "shard " << s.id;
    for (uint64_t n : s.replicas) held[n]++;
  }
  const double share = static_cast<double>(kShards) * kReplication / kNodes;
  ASSERT_EQ(held.size(), static_cast<size_t>(kNodes));
  for (const auto& [node, count] : held) {
    EXPECT_LE(std::abs(count - share), 1.0) << "n" << node << " holds " << count << " replicas";
  }
}

// One cluster for the routing checks below (each reads, writes keys of its own).
class ShardRoutingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new ProcessCluster("routing", kNodes, ShardedFlags());
    cluster_->StartAll();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(cluster_->WaitReady(30s)) << cluster_->Log(1);
    directory_ = WaitShardsLed(*cluster_, 1);
    ASSERT_TRUE(directory_.ok()) << Describe(directory_);
  }

  static ProcessCluster* cluster_;
  rpc::DirectoryResult directory_;
};
ProcessCluster* ShardRoutingTest::cluster_ = nullptr;

TEST_F(ShardRoutingTest, AnyNodeServesKeysOfShardsItHoldsNoReplicaOf) {
  ProcessCluster& c = *cluster_;
  const kv::Ring ring = RingOf(directory_);
  const auto keys = KeyPerShard(ring, "foreign/");
  int served = 0;
  for (int node = 1; node <= kNodes; ++node) {
    // What the node itself says it hosts (GET /v1/cluster lists this node's replicas).
    const rpc::ClusterStatusResult own = c.Client(node).ClusterStatus();
    ASSERT_TRUE(own.ok()) << Describe(own);
    std::set<uint64_t> hosted;
    for (const auto& s : own.shards) hosted.insert(s.id);
    rpc::HttpClient through = Through(c, node);
    for (const auto& s : directory_.shards) {
      const bool replica = std::count(s.replicas.begin(), s.replicas.end(), node) > 0;
      EXPECT_EQ(hosted.count(s.id) > 0, replica) << "n" << node << " shard " << s.id;
      if (replica) continue;
      const std::string& key = keys.at(s.id);
      const std::string value = "through-n" + std::to_string(node);
      SCOPED_TRACE("n" + std::to_string(node) + " shard " + std::to_string(s.id) + " " + key);
      rpc::Result put = through.Put(key, value);
      ASSERT_TRUE(put.ok()) << Describe(put) << "\n" << LogTails(c);
      EXPECT_EQ(put.shard, s.id);
      rpc::Result get = through.Get(key);
      ASSERT_TRUE(get.ok()) << Describe(get) << "\n" << LogTails(c);
      EXPECT_EQ(get.body, value);
      EXPECT_EQ(get.shard, s.id);
      served++;
    }
  }
  // Each node lacks 16 - (its 9 or 10 replicas) shards.
  EXPECT_EQ(served, kNodes * kShards - kShards * kReplication);
}

TEST_F(ShardRoutingTest, RequestRoutedByAStaleDirectoryIsServedAndToldTheCurrentVersion) {
  ProcessCluster& c = *cluster_;
  const kv::Ring ring = RingOf(directory_);
  // Every shard's first leader reported itself, so the directory is well past version 1.
  const uint64_t version_before = DirectoryOf(c, 2).version;
  ASSERT_GT(version_before, 1u);
  const std::vector<rpc::Header> stale = {{"X-Kv-Directory-Version", "1"}};
  const std::string client_id = UniqueClientId("stale");
  uint64_t seq = 0;
  rpc::HttpClient through = Through(c, 2);
  for (const auto& [shard, key] : KeyPerShard(ring, "stale/")) {
    SCOPED_TRACE("shard " + std::to_string(shard) + " key " + key);
    std::vector<rpc::Header> put_headers = stale;  // retried after a timeout: exactly once
    put_headers.push_back({"Idempotency-Key", rpc::IdempotencyKey{client_id, ++seq}.ToString()});
    rpc::Result put = through.Request("PUT", rpc::KeyPath(key), "v-" + key, put_headers);
    ASSERT_TRUE(put.ok()) << Describe(put) << "\n" << LogTails(c);
    EXPECT_EQ(put.shard, shard);
    ASSERT_TRUE(put.directory_version.has_value());
    EXPECT_GE(*put.directory_version, version_before);
    rpc::Result get = through.Request("GET", rpc::KeyPath(key), "", stale);
    ASSERT_TRUE(get.ok()) << Describe(get) << "\n" << LogTails(c);
    EXPECT_EQ(get.body, "v-" + key);
    EXPECT_EQ(get.shard, shard);
    ASSERT_TRUE(get.directory_version.has_value());
    EXPECT_GE(*get.directory_version, *put.directory_version);
    // Not an echo of what was sent: the version the node itself holds now (or held just before).
    EXPECT_LE(*get.directory_version, DirectoryOf(c, 2).version);
  }
}

TEST_F(ShardRoutingTest, KeysSharingATagShareAShardAndOthersSpread) {
  ProcessCluster& c = *cluster_;
  const kv::Ring ring = RingOf(directory_);
  rpc::HttpClient client = IdempotentClusterClient(c, "tags");
  std::set<uint64_t> tagged;
  for (const std::string key : {"{acct7}.a", "{acct7}.b", "{acct7}.c"}) {
    rpc::Result put = client.Put(key, key);
    ASSERT_TRUE(put.ok()) << key << ": " << Describe(put) << "\n" << LogTails(c);
    ASSERT_TRUE(put.shard.has_value()) << key;
    EXPECT_EQ(*put.shard, ring.ShardFor("acct7")) << key;
    tagged.insert(*put.shard);
  }
  EXPECT_EQ(tagged.size(), 1u);
  // The same names without a tag hash whole and go where the ring sends each.
  std::set<uint64_t> spread;
  for (int i = 0; i < 64; ++i) {
    const std::string key = "acct7." + std::to_string(i);
    rpc::Result put = client.Put(key, key);
    ASSERT_TRUE(put.ok()) << key << ": " << Describe(put) << "\n" << LogTails(c);
    ASSERT_TRUE(put.shard.has_value()) << key;
    EXPECT_EQ(*put.shard, ring.ShardFor(key)) << key;
    spread.insert(*put.shard);
  }
  EXPECT_GE(spread.size(), 12u) << "64 untagged keys landed in only " << spread.size() << " of "
                                << kShards << " shards";
}

// A node given another --vnodes than the rest builds another ring from its flags; it must route
// by the ring of the directory the cluster committed. The odd node starts after the others have
// committed theirs (the first meta leader's flags win, so it must not be that leader).
TEST(ShardingTest, NodeWithOtherVnodesRoutesByTheCommittedDirectory) {
  constexpr int kOdd = 2;
  ProcessCluster c(TestName(), kNodes, ShardedFlags());
  c.SetNodeFlags(kOdd, {"--vnodes", "101"});
  for (int node = 1; node <= kNodes; ++node) {
    if (node != kOdd) c.Start(node);
  }
  const rpc::DirectoryResult first =
      WaitDirectory(c, 1, 30s, [](const auto& d) { return d.version > 0; });
  ASSERT_TRUE(first.ok()) << Describe(first) << "\n" << c.Log(1);
  ASSERT_EQ(first.vnodes_per_shard, 100) << first.body;
  c.Start(kOdd);
  ASSERT_TRUE(c.WaitReady(30s)) << c.Log(kOdd);
  const rpc::DirectoryResult committed = WaitShardsLed(c, 1);
  ASSERT_TRUE(committed.ok()) << Describe(committed);
  // Every node, the odd one included, describes the committed ring, not its own flags.
  for (int node = 1; node <= kNodes; ++node) {
    const rpc::DirectoryResult d = DirectoryOf(c, node);
    ASSERT_TRUE(d.ok()) << "n" << node << ": " << Describe(d);
    EXPECT_EQ(d.vnodes_per_shard, 100) << "n" << node;
  }
  const kv::Ring ring = RingOf(committed, 100);
  const kv::Ring other = RingOf(committed, 101);  // what the odd node's flags describe

  // Every shard's key, plus keys the two rings place differently (where a node routing by the
  // wrong ring would answer from the wrong shard).
  std::map<std::string, uint64_t> keys;
  for (const auto& [shard, key] : KeyPerShard(ring, "odd/")) keys[key] = shard;
  int disputed = 0;
  for (int n = 0; disputed < 48 && n < 200000; ++n) {
    const std::string key = "disputed/" + std::to_string(n);
    if (ring.ShardFor(key) == other.ShardFor(key)) continue;
    keys[key] = ring.ShardFor(key);
    disputed++;
  }
  ASSERT_GE(disputed, 16);

  rpc::HttpClient odd = Through(c, kOdd);
  for (const auto& [key, shard] : keys) {
    rpc::Result put = odd.Put(key, "via-odd-" + key);
    ASSERT_TRUE(put.ok()) << key << ": " << Describe(put) << "\n" << LogTails(c);
    EXPECT_EQ(put.shard, shard) << key << " written through n" << kOdd;
  }
  for (int node = 1; node <= kNodes; ++node) {
    rpc::HttpClient through = Through(c, node);
    for (const auto& [key, shard] : keys) {
      rpc::Result get = through.Get(key);
      ASSERT_TRUE(get.ok()) << key << " through n" << node << ": " << Describe(get) << "\n"
                            << LogTails(c);
      EXPECT_EQ(get.body, "via-odd-" + key) << key << " through n" << node;
      EXPECT_EQ(get.shard, shard) << key << " through n" << node;
    }
  }
  std::cout << keys.size() << " keys (" << disputed << " the rings dispute) written through n"
            << kOdd << ", read through all " << kNodes << std::endl;
}

}  // namespace
}  // namespace kvd::test
