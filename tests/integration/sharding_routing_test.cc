// Routing in a sharded cluster (label: integration): any node serves any key, also of a shard it
// holds no replica of; a request routed by a stale directory is served under the current one and
// told the current version; keys that share a {tag} share a shard; a node started with the wrong
// --vnodes still routes by the cluster's committed directory. The shard oracle is the ring rebuilt
// from GET /v1/directory (sharding_util.h), never the node's own answer.
#include "tests/integration/sharding_util.h"

namespace kvd::test {
namespace {

using namespace sharding;  // NOLINT: the helpers of this suite
using namespace std::chrono_literals;

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
