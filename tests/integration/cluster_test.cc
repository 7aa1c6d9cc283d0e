// Integration tests against real kvd processes on loopback (label: integration). They check the
// promises an operator relies on: any node serves any request, losing the leader loses no
// acknowledged write, restarted nodes catch up (through a snapshot when the log was compacted),
// retries with an idempotency key apply once, and bad input gets the documented error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "tests/integration/process_cluster.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;

std::string TestName() { return ::testing::UnitTest::GetInstance()->current_test_info()->name(); }

// Waits (bounded) until 'node' serves 'key' from its own state (a stale read), i.e. caught up.
bool WaitCaughtUp(ProcessCluster& c, int node, const std::string& key) {
  for (int i = 0; i < 400; ++i) {
    if (c.Client(node, 1s).Get(key, /*stale=*/true).ok()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

TEST(ClusterTest, WritesThroughAnyNodeAreVisibleThroughEveryNode) {
  ProcessCluster c(TestName(), 3);
  c.StartAll();
  ASSERT_TRUE(c.WaitReady()) << c.Log(1);
  // Requests go through one given node only; a 503 (nothing applied, e.g. an election right
  // after start) is retried, as the API tells clients to.
  auto through = [&](int node) {
    rpc::ClientOptions o = c.Client(node).options();
    o.max_attempts = 5;
    o.retry_unavailable = true;
    return rpc::HttpClient(o);
  };
  for (int node = 1; node <= 3; ++node) {
    auto put = through(node).Put("via" + std::to_string(node), "value" + std::to_string(node));
    ASSERT_TRUE(put.ok()) << put.status << " " << put.error_message << put.transport_error << "\n"
                          << c.Log(node);
    EXPECT_EQ(put.version, 1u);
  }
  for (int reader = 1; reader <= 3; ++reader) {
    for (int writer = 1; writer <= 3; ++writer) {
      auto got = through(reader).Get("via" + std::to_string(writer));
      ASSERT_TRUE(got.ok()) << got.status << " " << got.error_message << "\n" << c.Log(reader);
      EXPECT_EQ(got.body, "value" + std::to_string(writer));
      EXPECT_EQ(got.shard, 1u);
    }
  }
}

TEST(ClusterTest, KillingTheLeaderMidLoadLosesNoAcknowledgedWrite) {
  ProcessCluster c(TestName(), 3);
  c.StartAll();
  ASSERT_TRUE(c.WaitReady());
  const uint64_t leader = c.WaitLeader();
  ASSERT_NE(leader, 0u);

  std::atomic<bool> stop{false};
  std::atomic<int> acked_count{0};
  std::vector<std::string> acked;  // written only by the writer thread
  std::thread writer([&] {
    rpc::HttpClient client = c.ClusterClient(3s);
    for (int i = 0; !stop; ++i) {
      const std::string key = "load" + std::to_string(i);
      auto r = client.Put(key, "v" + std::to_string(i));
      if (r.ok()) {
        acked.push_back(key);
        acked_count++;
      }
    }
  });
  while (acked_count < 50) std::this_thread::sleep_for(5ms);
  c.Kill(static_cast<int>(leader));  // kill -9 mid-load
  const int at_kill = acked_count;
  const uint64_t next = c.WaitLeader();
  ASSERT_NE(next, 0u);
  ASSERT_NE(next, leader);
  while (acked_count < at_kill + 50) std::this_thread::sleep_for(5ms);  // survivors keep going
  stop = true;
  writer.join();

  c.Start(static_cast<int>(leader));
  ASSERT_TRUE(WaitCaughtUp(c, static_cast<int>(leader), acked.back())) << c.Log(leader);
  for (int node = 1; node <= 3; ++node) {
    // A read answered 503 applied nothing and is retried, as the API tells clients: the restarted
    // node is the preferred leader, and leadership moving back to it fails in-flight reads.
    rpc::ClientOptions o = c.Client(node).options();
    o.max_attempts = 10;
    o.retry_unavailable = true;
    rpc::HttpClient client(o);
    for (const auto& key : acked) {
      auto r = client.Get(key, /*stale=*/node == static_cast<int>(leader));
      ASSERT_TRUE(r.ok()) << "node " << node << " lost acknowledged " << key << ": " << r.status;
    }
  }
}

// Regression: right after the leader died, followers forwarded writes to it until they noticed,
// and clients got 504 (outcome unknown) for writes that were never applied.
TEST(ClusterTest, WriteRightAfterLeaderKillIsNotReportedUnknown) {
  ProcessCluster c(TestName(), 3);
  c.StartAll();
  ASSERT_TRUE(c.WaitReady());
  const uint64_t leader = c.WaitLeader();
  ASSERT_NE(leader, 0u);
  c.Kill(static_cast<int>(leader));
  rpc::HttpClient client = c.ClusterClient();
  auto r = client.Put("right-after", "v");
  EXPECT_FALSE(r.indeterminate) << r.status << " " << r.error_message;
  ASSERT_TRUE(r.ok()) << r.status << " " << r.error_message << r.transport_error;
}

TEST(ClusterTest, NodeDownWhileLogCompactedComesBackThroughASnapshot) {
  ProcessCluster c(TestName(), 3, {"--compact-every", "50"});
  c.StartAll();
  ASSERT_TRUE(c.WaitReady());
  ASSERT_NE(c.WaitLeader(), 0u);
  // Take down a follower (never the leader, so that the others keep their log position).
  int down = 0;
  const uint64_t leader = c.WaitLeader();
  down = leader == 3 ? 2 : 3;
  c.Kill(down);
  // Writes carry idempotency keys, so an unknown outcome (504) is retried with the same key: a
  // write forwarded by a follower while leadership moves to the shard's preferred replica is
  // dropped by the old leader and times out (it is not lost: the retry learns its outcome).
  rpc::ClientOptions options = c.ClusterClient().options();
  options.client_id = "snapshot-test-" + std::to_string(::getpid());
  rpc::HttpClient client(options);
  for (int i = 0; i < 300; ++i) {
    auto r = client.Put("snap" + std::to_string(i), std::string(100, 'x'));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status << " " << r.error_message;
  }
  ASSERT_GE(c.Metric(static_cast<int>(leader), "kvd_log_compactions_total"), 1);
  c.Start(down);
  ASSERT_TRUE(WaitCaughtUp(c, down, "snap299")) << c.Log(down);
  EXPECT_GE(c.Metric(down, "kvd_snapshots_installed_total"), 1);
  rpc::HttpClient direct = c.Client(down);
  for (int i = 0; i < 300; ++i) {
    EXPECT_TRUE(direct.Get("snap" + std::to_string(i), true).ok()) << i;
  }
}

TEST(ClusterTest, FullClusterRestartKeepsEveryAcknowledgedWrite) {
  ProcessCluster c(TestName(), 3);
  c.StartAll();
  ASSERT_TRUE(c.WaitReady());
  rpc::HttpClient client = c.ClusterClient();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(client.Put("durable" + std::to_string(i), std::to_string(i)).ok());
  }
  for (int node = 1; node <= 3; ++node) c.Kill(node);  // no graceful shutdown
  c.StartAll();
  ASSERT_TRUE(c.WaitReady());
  rpc::HttpClient after = c.ClusterClient();
  for (int i = 0; i < 100; ++i) {
    auto r = after.Get("durable" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status;
    EXPECT_EQ(r.body, std::to_string(i));
  }
}

TEST(ClusterTest, RetryWithTheSameIdempotencyKeyAppliesOnce) {
  ProcessCluster c(TestName(), 3);
  c.StartAll();
  ASSERT_TRUE(c.WaitReady());
  rpc::HttpClient client = c.ClusterClient();
  rpc::IdempotencyKey key{"client-7", 1};
  auto first = client.Put("counter", "a", std::nullopt, key);
  ASSERT_TRUE(first.ok());
  auto retry = client.Put("counter", "a", std::nullopt, key);
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry.revision, first.revision);  // the first outcome, not a second write
  EXPECT_EQ(client.Get("counter").version, 1u);
  auto next = client.Put("counter", "b", std::nullopt, rpc::IdempotencyKey{"client-7", 2});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(client.Get("counter").version, 2u);
}

TEST(ClusterTest, BadInputGetsTheDocumentedErrorAndLeavesDataIntact) {
  ProcessCluster c(TestName(), 3, {"--max-value-bytes", "1024"});
  c.StartAll();
  ASSERT_TRUE(c.WaitReady());
  rpc::HttpClient client = c.Client(1);
  ASSERT_TRUE(client.Put("keep", "original").ok());
  struct Case {
    std::string method, target, body;
    int status;
    std::string code;
  } cases[] = {
      {"PUT", "/v1/kv/keep", std::string(1025, 'v'), 413, "too_large"},
      {"PUT", "/v1/kv/", "x", 400, "bad_key"},
      {"PUT", "/v1/kv/" + std::string(4097, 'k'), "x", 413, "too_large"},  // docs/api.md: 413
      {"GET", "/v1/nope", "", 404, "no_route"},  // docs/api.md: not_found is for keys and locks
      {"POST", "/v1/kv/keep", "x", 405, "method_not_allowed"},
      {"PUT", "/v1/kv/keep?if_version=abc", "x", 400, "invalid_argument"},
      {"GET", "/v1/kv/keep?consistency=sometimes", "", 400, "invalid_argument"},
      {"PUT", "/v1/kv/keep?if_version=7", "x", 412, "version_mismatch"},
      {"GET", "/v1/kv/%zz", "", 400, "bad_key"},
  };
  for (const auto& t : cases) {
    auto r = client.Request(t.method, t.target, t.body);
    EXPECT_EQ(r.status, t.status) << t.method << " " << t.target.substr(0, 40);
    EXPECT_EQ(r.error_code, t.code) << t.method << " " << t.target.substr(0, 40);
  }
  auto r = client.Get("keep");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.body, "original");
  EXPECT_EQ(r.version, 1u);
  EXPECT_TRUE(client.Get("missing").not_found());
}

}  // namespace
}  // namespace kvd::test
