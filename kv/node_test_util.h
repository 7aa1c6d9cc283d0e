// The in-process three-node cluster the kv::Node tests share (node_test.cc, node_lock_test.cc):
// real LevelDB in temp directories, real threads, an in-memory transport.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kv/node.h"

namespace kvd::kv {

using namespace std::chrono_literals;

// Delivers frames by handing them to the target node's inbox; a node can be cut off.
class MemTransport final : public Transport {
 public:
  MemTransport(uint64_t self, std::map<uint64_t, Node*>* nodes, std::mutex* mu,
               std::set<uint64_t>* down)
      : self_(self), nodes_(nodes), mu_(mu), down_(down) {}
  bool Send(kvpb::PeerBatch batch) override {
    std::lock_guard<std::mutex> lock(*mu_);
    if (down_->count(self_) || down_->count(batch.to_node())) return false;
    auto it = nodes_->find(batch.to_node());
    if (it == nodes_->end() || it->second == nullptr) return false;
    it->second->Deliver(std::move(batch));
    return true;
  }
  bool Reachable(uint64_t node) const override {
    std::lock_guard<std::mutex> lock(*mu_);
    return !down_->count(node);
  }

 private:
  uint64_t self_;
  std::map<uint64_t, Node*>* nodes_;
  std::mutex* mu_;
  std::set<uint64_t>* down_;
};

class NodeClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("kvd_node_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    for (uint64_t id = 1; id <= 3; ++id) members_.push_back({id, "mem", "mem", true});
    for (uint64_t id = 1; id <= 3; ++id) StartNode(id);
  }
  void TearDown() override {
    for (uint64_t id = 1; id <= 3; ++id) StopNode(id);
    std::filesystem::remove_all(dir_);
  }

  NodeConfig Config(uint64_t id) {
    NodeConfig c;
    c.node_id = id;
    c.members = members_;
    c.data_dir = (dir_ / ("node" + std::to_string(id))).string();
    c.tick_ms = 10;
    c.request_timeout_ms = 3000;
    c.compact_every = compact_every_;
    c.random_seed = id;
    c.shards = shards_;
    c.replication = replication_;
    return c;
  }
  void StartNode(uint64_t id) {
    std::unique_ptr<Node> node;
    ASSERT_TRUE(Node::Open(Config(id), &node).ok());
    transports_[id] = std::make_unique<MemTransport>(id, &ptrs_, &mu_, &down_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ptrs_[id] = node.get();
    }
    node->Start(transports_[id].get());
    nodes_[id] = std::move(node);
  }
  void StopNode(uint64_t id) {
    if (!nodes_[id]) return;
    nodes_[id]->Stop();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ptrs_[id] = nullptr;
    }
    nodes_[id].reset();
  }
  // The leader of shard 1 as every running node agrees, waiting up to 10 s.
  uint64_t WaitLeader() {
    for (int i = 0; i < 1000; ++i) {
      uint64_t leader = 0;
      bool agree = true;
      for (auto& [id, n] : nodes_) {
        if (!n) continue;
        uint64_t l = 0;
        for (const auto& sh : n->Status().shards) {
          if (sh.id == 1) l = sh.leader;  // the data shard (shard 0 is the meta shard)
        }
        if (l == 0 || (leader != 0 && l != leader)) agree = false;
        leader = l;
      }
      if (agree && leader != 0 && nodes_[leader]) return leader;
      std::this_thread::sleep_for(10ms);
    }
    return 0;
  }
  WriteResponse Put(uint64_t via, const std::string& key, const std::string& value,
                    std::optional<uint64_t> if_version = std::nullopt, std::string client = "",
                    uint64_t seq = 0) {
    std::promise<WriteResponse> p;
    WriteRequest req;
    req.key = key;
    req.value = value;
    req.if_version = if_version;
    req.client_id = client;
    req.seq = seq;
    nodes_[via]->Write(req, [&](WriteResponse r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  ScanResponse Scan(uint64_t via, const std::string& after, size_t limit) {
    std::promise<ScanResponse> p;
    ScanRequest req;
    req.after = after;
    req.limit = limit;
    nodes_[via]->Scan(req, [&](ScanResponse r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  ReadResponse Get(uint64_t via, const std::string& key, bool stale = false) {
    std::promise<ReadResponse> p;
    nodes_[via]->Read({key, stale}, [&](ReadResponse r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  uint64_t MetricValue(uint64_t node, const std::string& name) {
    const std::string text = nodes_[node]->Metrics();
    const size_t at = text.find("\n" + name + " ");
    if (at == std::string::npos) return 0;
    return std::stoull(text.substr(at + name.size() + 2));
  }
  // Retries a write through 'via' until it is applied (kOk) or definitely fails.
  WriteResponse PutRetrying(uint64_t via, const std::string& key, const std::string& value) {
    WriteResponse r;
    for (int i = 0; i < 100; ++i) {
      r = Put(via, key, value);
      if (r.code != ErrorCode::kUnavailable) return r;
      std::this_thread::sleep_for(20ms);
    }
    return r;
  }

  std::filesystem::path dir_;
  std::vector<NodeInfo> members_;
  uint64_t compact_every_ = 10000;
  std::vector<uint64_t> shards_ = {1};
  int replication_ = 3;
  std::mutex mu_;
  std::set<uint64_t> down_;
  std::map<uint64_t, Node*> ptrs_;
  std::map<uint64_t, std::unique_ptr<MemTransport>> transports_;
  std::map<uint64_t, std::unique_ptr<Node>> nodes_;
};

}  // namespace kvd::kv
