// Helpers shared by the sharded-cluster integration tests (sharding_test.cc,
// sharding_routing_test.cc): the cluster's flags, clients, and what the directory says.
#pragma once

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

namespace kvd::test::sharding {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kNodes = 5;
constexpr int kShards = 16;
constexpr int kReplication = 3;

inline std::string TestName() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return info != nullptr ? info->name() : "suite";
}

// Every node gets the same layout flags. Fast elections (0.5-1 s) keep the failover test short;
// a node reports a write it could not commit (504) before the client's 3 s timeout.
inline std::vector<std::string> ShardedFlags() {
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
inline std::string UniqueClientId(const std::string& who) {
  static std::atomic<uint64_t> instance{std::random_device{}()};
  return "it-" + who + "-" + std::to_string(::getpid()) + "-" + std::to_string(instance++);
}

// A client for one node only. It retries 503 (nothing applied: e.g. a shard between leaders),
// and its writes carry idempotency keys, so an unknown outcome is retried too (exactly once).
inline rpc::HttpClient Through(ProcessCluster& c, int node) {
  rpc::ClientOptions o = c.Client(node, 3s).options();
  o.max_attempts = 8;
  o.retry_unavailable = true;
  o.retry_backoff = 50ms;
  o.max_backoff = 400ms;
  o.client_id = UniqueClientId("n" + std::to_string(node));
  return rpc::HttpClient(o);
}

// A client for every node whose writes carry idempotency keys (safe to retry after a timeout).
inline rpc::HttpClient IdempotentClusterClient(ProcessCluster& c, const std::string& who) {
  rpc::ClientOptions o = c.ClusterClient(3s).options();
  o.client_id = UniqueClientId(who);
  return rpc::HttpClient(o);
}

inline std::string Describe(const rpc::Result& r) {
  return "status " + std::to_string(r.status) + " " + r.error_code + " " + r.error_message + " " +
         r.transport_error + " via " + r.endpoint;
}

// The last lines of every node's log, for failure messages.
inline std::string LogTails(ProcessCluster& c, size_t lines = 25) {
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
inline rpc::DirectoryResult DirectoryOf(ProcessCluster& c, int node) {
  return c.Client(node, 2s).Directory();
}

// Polls node's directory until `done` holds for it or `timeout` passes; returns the last answer.
template <typename Pred>
inline rpc::DirectoryResult WaitDirectory(ProcessCluster& c, int node,
                                          std::chrono::milliseconds timeout, Pred done) {
  const auto deadline = Clock::now() + timeout;
  rpc::DirectoryResult d = DirectoryOf(c, node);
  while (!(d.ok() && done(d)) && Clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    d = DirectoryOf(c, node);
  }
  return d;
}

// Every data shard is listed and hinted to be led by a running node.
inline bool EveryShardLedByARunningNode(ProcessCluster& c, const rpc::DirectoryResult& d) {
  if (d.shards.size() != static_cast<size_t>(kShards)) return false;
  for (const auto& s : d.shards) {
    if (s.leader == 0 || !c.Running(static_cast<int>(s.leader))) return false;
  }
  return true;
}

// Waits until every running node has the committed directory with a leader for every shard, and
// all of them agree on its layout. Returns node `node`'s copy.
inline rpc::DirectoryResult WaitShardsLed(ProcessCluster& c, int node) {
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
inline kv::Ring RingOf(const rpc::DirectoryResult& d, int vnodes) {
  std::vector<uint64_t> ids;
  for (const auto& s : d.shards) ids.push_back(s.id);
  std::string error;
  std::optional<kv::Ring> ring = kv::Ring::Build(ids, vnodes, &error);
  EXPECT_TRUE(ring.has_value()) << error;
  return std::move(*ring);
}
inline kv::Ring RingOf(const rpc::DirectoryResult& d) { return RingOf(d, d.vnodes_per_shard); }

// One key per shard, owned by it under `ring`: "<prefix><n>" for the smallest such n.
inline std::map<uint64_t, std::string> KeyPerShard(const kv::Ring& ring,
                                                   const std::string& prefix) {
  std::map<uint64_t, std::string> keys;
  for (int n = 0; keys.size() < static_cast<size_t>(kShards) && n < 100000; ++n) {
    const std::string key = prefix + std::to_string(n);
    keys.emplace(ring.ShardFor(key), key);
  }
  EXPECT_EQ(keys.size(), static_cast<size_t>(kShards));
  return keys;
}

// How many shards each node leads, by the directory's leader hints.
inline std::map<int, int> LeadersPerNode(const rpc::DirectoryResult& d) {
  std::map<int, int> led;
  for (const auto& s : d.shards) led[static_cast<int>(s.leader)]++;
  return led;
}

// The node (other than `except`) leading the most shards; 0 if none leads any.
inline int BusiestLeader(const rpc::DirectoryResult& d, int except) {
  int best = 0, most = 0;
  for (const auto& [node, count] : LeadersPerNode(d)) {
    if (node != except && node != 0 && count > most) best = node, most = count;
  }
  return best;
}

}  // namespace kvd::test::sharding
