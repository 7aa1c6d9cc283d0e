// Integration test of cross-shard transactions whose coordinator dies mid-protocol (label:
// integration): three real kvd processes, 8 data shards of 3 replicas, so the cluster keeps a
// quorum in every shard when one node dies. The node that takes the transfer runs kvd_crash_at,
// which exits at once (like kill -9, status 137) at the crash point named by $KVD_CRASH_AT:
//   txn-after-record   the record (PENDING) is written, nothing prepared;
//   txn-after-prepare  one participant voted yes (its intents are placed);
//   txn-after-decide-proposed  every participant voted yes and the commit is proposed, not known
//                      to be applied (either outcome may follow, but one everywhere);
//   txn-after-commit   the record is COMMITTED (the commit point), no intent resolved.
// What the contract promises (docs/api.md, Transactions): the client gets no answer; recovery
// by the other nodes finishes the transaction within the record's TTL (3 s) plus elections, so
// GET /v1/txns empties; the transfer is all-or-nothing (nothing before the commit point, both
// writes after it), seen through the surviving nodes and through the dead node restarted as a
// plain kvd on its data directory; and its keys take plain writes again.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kv/ring.h"
#include "tests/integration/process_cluster.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kNodes = 3;
constexpr int kShards = 8;
constexpr int kCoordinator = 3;  // runs kvd_crash_at, takes the transfer
constexpr int kCrashExitStatus = 137;

enum class Outcome { kAborted, kCommitted, kEither };

struct CrashCase {
  std::string point;     // $KVD_CRASH_AT
  Outcome outcome;       // kCommitted: the commit point was reached before the crash
  std::string in_doubt;  // the record's state while recovery has not finished it (kEither: any)
};

void PrintTo(const CrashCase& c, std::ostream* os) { *os << c.point; }

std::string Describe(const rpc::Result& r) {
  return "status " + std::to_string(r.status) + " " + r.error_code + " " + r.error_message + " " +
         r.transport_error + " (" + rpc::TransportName(r.transport) + ") via " + r.endpoint;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += " " + s;
  return out;
}

int64_t Millis(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

class TxnKillTest : public ::testing::TestWithParam<CrashCase> {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name) c = (c == '/' ? '_' : c);
    // Fast elections (0.5-1 s) keep recovery short; the record's TTL stays the default 3 s.
    cluster_ = std::make_unique<ProcessCluster>(
        name, kNodes,
        std::vector<std::string>{"--shards", std::to_string(kShards), "--replication", "3",
                                 "--tick-ms", "50", "--election-ticks", "10"});
    cluster_->SetNodeBinary(kCoordinator, KVD_CRASH_AT_BINARY,
                            {"KVD_CRASH_AT=" + GetParam().point});
    cluster_->StartAll();
    ASSERT_TRUE(cluster_->WaitReady()) << cluster_->Log(kCoordinator);
    ASSERT_TRUE(WaitShardsLed(1, 30s));
  }

  // A client for one node that retries what applied nothing (503, 429; a shard between leaders).
  rpc::HttpClient Through(int node) {
    rpc::ClientOptions o = cluster_->Client(node, 5s).options();
    o.max_attempts = 20;
    o.retry_unavailable = true;
    o.retry_backoff = 50ms;
    o.max_backoff = 500ms;
    return rpc::HttpClient(o);
  }

  // Until node's directory lists every data shard with a leader.
  bool WaitShardsLed(int node, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      rpc::DirectoryResult d = cluster_->Client(node, 2s).Directory();
      bool led = d.ok() && d.shards.size() == static_cast<size_t>(kShards);
      for (const auto& s : d.ok() ? d.shards : decltype(d.shards){}) led = led && s.leader != 0;
      if (led) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // Two account keys in different shards, by the ring rebuilt from the directory.
  std::pair<std::string, std::string> AccountsInTwoShards() {
    rpc::DirectoryResult d = cluster_->Client(1, 2s).Directory();
    EXPECT_TRUE(d.ok()) << Describe(d);
    std::vector<uint64_t> ids;
    for (const auto& s : d.shards) ids.push_back(s.id);
    std::string error;
    std::optional<kv::Ring> ring = kv::Ring::Build(ids, d.vnodes_per_shard, &error);
    EXPECT_TRUE(ring.has_value()) << error;
    if (!ring) return {"acct-0", "acct-1"};
    const std::string a = "acct-0";
    for (int n = 1; n < 1000; ++n) {
      const std::string b = "acct-" + std::to_string(n);
      if (ring->ShardFor(b) != ring->ShardFor(a)) return {a, b};
    }
    ADD_FAILURE() << "no key outside " << a << "'s shard";
    return {a, "acct-1"};
  }

  // A transaction retried while it applied nothing (409 conflict with another transaction).
  rpc::TxnResult TxnRetryingConflicts(rpc::HttpClient& c, const rpc::TxnRequest& t) {
    rpc::TxnResult r;
    for (int i = 0; i < 20; ++i) {
      r = c.Txn(t);
      if (r.status != 409 || r.error_code != "conflict") return r;
      std::this_thread::sleep_for(100ms);
    }
    return r;
  }

  // Polls GET /v1/txns on every running node until each lists nothing in doubt (bounded),
  // ignoring the transaction `ignore`. A node lists the records its own replicas hold, so a
  // lagging replica may show a state its leader has moved past, or nothing yet: with
  // `after_seen`, empty lists count only once some node has listed a transaction. Notes each
  // change of what a node lists, as "n<node>:<states>". True when all were empty at once.
  bool WaitNothingInDoubt(std::chrono::milliseconds timeout, std::vector<std::string>* seen,
                          bool after_seen, const std::string& ignore = "") {
    std::map<int, std::string> last;
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      bool empty = true;
      for (int node = 1; node <= kNodes; ++node) {
        if (!cluster_->Running(node)) continue;
        rpc::TxnListResult l = cluster_->Client(node, 2s).TxnList();
        if (!l.ok()) {
          empty = false;
          continue;
        }
        std::string states;
        for (const auto& t : l.txns) {
          if (t.id != ignore) states += (states.empty() ? "" : ",") + t.state;
        }
        if (!states.empty() && states != last[node]) {
          seen->push_back("n" + std::to_string(node) + ":" + states);
        }
        last[node] = states;
        empty = empty && states.empty();
      }
      if (empty && (!after_seen || !seen->empty())) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  // The two balances read (linearizably) through node, or "?" for a failed read.
  std::pair<std::string, std::string> Balances(int node, const std::string& a,
                                               const std::string& b) {
    rpc::HttpClient c = Through(node);
    rpc::Result ra = c.Get(a), rb = c.Get(b);
    EXPECT_TRUE(ra.ok()) << "n" << node << " " << a << ": " << Describe(ra);
    EXPECT_TRUE(rb.ok()) << "n" << node << " " << b << ": " << Describe(rb);
    return {ra.ok() ? ra.body : "?", rb.ok() ? rb.body : "?"};
  }

  std::unique_ptr<ProcessCluster> cluster_;
};

rpc::TxnCompare ValueIs(const std::string& key, const std::string& value) {
  rpc::TxnCompare c;
  c.key = key;
  c.target = rpc::TxnCompare::Target::kValue;
  c.value = value;
  return c;
}

rpc::TxnOp Put(const std::string& key, const std::string& value) {
  return rpc::TxnOp{rpc::TxnOpType::kPut, key, value};
}

TEST_P(TxnKillTest, TheCoordinatorDiesAndTheTransferIsAllOrNothing) {
  const CrashCase& cc = GetParam();
  const auto [a, b] = AccountsInTwoShards();

  // Two accounts of 100, created by a cross-shard transaction through a node that does not crash.
  rpc::HttpClient n1 = Through(1);
  rpc::TxnRequest create;
  for (const auto& key : {a, b}) {
    rpc::TxnCompare absent;
    absent.key = key;
    absent.target = rpc::TxnCompare::Target::kExists;
    absent.exists = false;
    create.compare.push_back(absent);
    create.success.push_back(Put(key, "100"));
  }
  const rpc::TxnResult created = TxnRetryingConflicts(n1, create);
  ASSERT_TRUE(created.ok()) << Describe(created);
  ASSERT_TRUE(created.succeeded);
  ASSERT_EQ(created.shards.size(), 2u) << "the accounts must live in two shards";
  EXPECT_FALSE(created.txn_id.empty());

  // The creation is finished everywhere (its record forgotten) before the transfer starts.
  std::vector<std::string> seen;
  ASSERT_TRUE(WaitNothingInDoubt(30s, &seen, false)) << Join(seen);

  // The transfer of 30 from a to b, sent to the node that dies at the crash point.
  rpc::TxnRequest transfer;
  transfer.compare = {ValueIs(a, "100"), ValueIs(b, "100")};
  transfer.success = {Put(a, "70"), Put(b, "130")};
  ASSERT_TRUE(cluster_->WaitReady());
  const rpc::TxnResult died = cluster_->Client(kCoordinator, 10s).Txn(transfer);
  const auto killed = Clock::now();
  EXPECT_EQ(died.status, 0) << "the coordinator answered: " << Describe(died) << " " << died.body;
  EXPECT_NE(died.transport, rpc::Transport::kOk) << Describe(died);
  const std::optional<int> status = cluster_->WaitExit(kCoordinator, 10s);
  ASSERT_TRUE(status.has_value()) << "the coordinator did not exit at " << cc.point;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == kCrashExitStatus)
      << "wait status " << *status;

  // Recovery by the other nodes: nothing in doubt within the TTL (3 s) plus elections.
  seen.clear();
  ASSERT_TRUE(WaitNothingInDoubt(30s, &seen, true, created.txn_id))
      << "not listed, or still in doubt 30 s after the kill:" << Join(seen);
  const int64_t recovery_ms = Millis(Clock::now() - killed);
  const std::string listed = Join(seen);
  std::cout << "[ txn_kill ] " << cc.point << ": recovery (kill -> GET /v1/txns empty on both "
            << "surviving nodes) " << recovery_ms << " ms; listed in doubt:" << listed << std::endl;
  RecordProperty("recovery_ms", static_cast<int>(recovery_ms));
  ASSERT_FALSE(seen.empty()) << "the transaction was never listed in doubt";
  // Before its commit point recovery aborts it (pending, then aborted, then gone); after it,
  // recovery finishes the commit. A replica that lags may still list it pending.
  const std::pair<std::string, std::string> aborted("100", "100"), committed("70", "130");
  bool commits = cc.outcome == Outcome::kCommitted;
  if (cc.outcome == Outcome::kEither) {  // the outcome the balances show, if it is one of the two
    commits = Balances(1, a, b) == committed;
    std::cout << "[ txn_kill ] " << cc.point << ": " << (commits ? "committed" : "aborted")
              << std::endl;
  } else {
    EXPECT_NE(listed.find(cc.in_doubt), std::string::npos) << listed;
  }
  EXPECT_EQ(listed.find(commits ? "aborted" : "committed"), std::string::npos) << listed;
  const std::pair<std::string, std::string> want = commits ? committed : aborted;
  for (int node : {1, 2}) EXPECT_EQ(Balances(node, a, b), want) << "through n" << node;

  // The dead node restarts as a plain kvd on its data directory and sees the same.
  cluster_->SetNodeBinary(kCoordinator, "");
  cluster_->Start(kCoordinator);
  ASSERT_TRUE(cluster_->WaitReady()) << cluster_->Log(kCoordinator);
  seen.clear();
  ASSERT_TRUE(WaitNothingInDoubt(30s, &seen, false))
      << "the restarted node still lists it in doubt:" << Join(seen);
  EXPECT_EQ(Balances(kCoordinator, a, b), want) << "through the restarted node";

  // The keys the transaction held take plain writes again, through any node.
  rpc::HttpClient n3 = Through(kCoordinator);
  const rpc::Result wa = n3.Put(a, "50");
  EXPECT_TRUE(wa.ok()) << Describe(wa);
  const rpc::Result wb = Through(2).Put(b, "150");
  EXPECT_TRUE(wb.ok()) << Describe(wb);
  EXPECT_EQ(Balances(1, a, b), std::make_pair(std::string("50"), std::string("150")));
}

INSTANTIATE_TEST_SUITE_P(
    CrashPoints, TxnKillTest,
    ::testing::Values(CrashCase{"txn-after-record", Outcome::kAborted, "pending"},
                      CrashCase{"txn-after-prepare", Outcome::kAborted, "pending"},
                      CrashCase{"txn-after-decide-proposed", Outcome::kEither, ""},
                      CrashCase{"txn-after-commit", Outcome::kCommitted, "committed"}),
    [](const ::testing::TestParamInfo<CrashCase>& info) {
      std::string name = info.param.point;
      for (char& c : name) c = (c == '-' ? '_' : c);
      return name;
    });

}  // namespace
}  // namespace kvd::test
