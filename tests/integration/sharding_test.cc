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
#include "tests/integration/sharding_util.h"

namespace kvd::test {
namespace {

using namespace sharding;  // NOLINT: the helpers of this suite
using namespace std::chrono_literals;

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

}  // namespace
}  // namespace kvd::test
