// Copyright (c) kvd authors.
//
// The lock workload's checks (lock_check.h) on small hand-made histories, passing and failing,
// and the workload's pure helpers (lock_workload.h).

#include "jepsen/harness/lock_check.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "jepsen/harness/lock_workload.h"

namespace kvd::jepsen {
namespace {

using lincheck::Outcome;

constexpr char kLock[] = "{g0}lock";
constexpr char kKey[] = "{g0}data";

// Builds histories in time order: each op takes the next two ticks as call and return.
class H {
 public:
  H& Acquire(int worker, uint64_t token, Outcome outcome = Outcome::kOk, std::string error = "") {
    HistoryOp op = Base(worker, "acquire", kLock, outcome, std::move(error));
    op.token = token;
    op.revision = outcome == Outcome::kOk ? token : 0;
    ops.push_back(op);
    return *this;
  }
  // A fenced write; revision (and version) only if accepted.
  H& Write(int worker, uint64_t token, uint64_t revision, Outcome outcome = Outcome::kOk,
           std::string error = "", bool stale = false) {
    HistoryOp op = Base(worker, "write", kKey, outcome, std::move(error));
    op.token = token;
    op.value = "w" + std::to_string(worker) + ":" + std::to_string(token) + ":" +
               std::to_string(ops.size());
    op.stale = stale;
    if (outcome == Outcome::kOk) {
      op.revision = revision;
      op.version = revision;  // grows with the revision, as versions do
    }
    ops.push_back(op);
    return *this;
  }
  H& Release(int worker, uint64_t token, uint64_t revision, Outcome outcome = Outcome::kOk,
             std::string error = "") {
    HistoryOp op = Base(worker, "release", kLock, outcome, std::move(error));
    op.token = token;
    op.revision = revision;
    ops.push_back(op);
    return *this;
  }
  H& Keepalive(int worker, uint64_t token, uint64_t revision, Outcome outcome = Outcome::kOk,
               std::string error = "") {
    HistoryOp op = Base(worker, "keepalive", kLock, outcome, std::move(error));
    op.token = token;
    op.revision = revision;
    ops.push_back(op);
    return *this;
  }
  // One worker's whole critical section: acquire T, write at T+1 and T+2, release at T+3.
  H& Section(int worker, uint64_t token) {
    return Acquire(worker, token)
        .Write(worker, token, token + 1)
        .Write(worker, token, token + 2)
        .Release(worker, token, token + 3);
  }

  std::vector<HistoryOp> ops;

 private:
  HistoryOp Base(int worker, const char* f, const char* key, Outcome outcome, std::string error) {
    HistoryOp op;
    op.worker = worker;
    op.process = worker;
    op.f = f;
    op.key = key;
    op.lock = kLock;
    op.outcome = outcome;
    op.error = std::move(error);
    op.call_ns = tick_++;
    op.ret_ns = tick_++;
    return op;
  }
  int64_t tick_ = 0;
};

LockCheckResult Check(const H& h, bool lock_with_key = true, bool stalls = true) {
  return CheckLocks(h.ops, {.lock_with_key = lock_with_key, .stalls_requested = stalls});
}

bool HasAnomaly(const LockCheckResult& r, const std::string& kind) {
  for (const std::string& a : r.anomalies) {
    if (a.find(kind) != std::string::npos) return true;
  }
  return false;
}

std::string Lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

// w1 holds token 10, oversleeps; w2 gets 20 and writes; w1's late write is refused.
H StaleHolderRefused() {
  H h;
  h.Acquire(1, 10).Acquire(2, 20).Write(2, 20, 21).Release(2, 20, 22);
  h.Write(1, 10, 0, Outcome::kFail, "409 fenced", /*stale=*/true)
      .Release(1, 10, 0, Outcome::kFail, "409 fenced");
  return h;
}

TEST(LockCheckTest, SerialSectionsAndARefusedStaleWritePass) {
  H h = StaleHolderRefused();
  h.Section(3, 30).Section(1, 40);
  h.Acquire(2, 0, Outcome::kFail, "409 lock_held").Acquire(3, 0, Outcome::kUnknown, "504 timeout");
  const LockCheckResult r = Check(h);
  EXPECT_TRUE(r.valid()) << Lines(r.anomalies);
  EXPECT_TRUE(r.vacuity.empty()) << Lines(r.vacuity);
  EXPECT_EQ(r.acquires, 6u);
  EXPECT_EQ(r.acquires_ok, 4u);
  EXPECT_EQ(r.acquires_held, 1u);
  EXPECT_EQ(r.acquires_unknown, 1u);
  EXPECT_EQ(r.fenced_writes, 6u);
  EXPECT_EQ(r.fenced_ok, 5u);
  EXPECT_EQ(r.fenced_refused, 1u);
  EXPECT_EQ(r.stale_writes, 1u);
  EXPECT_EQ(r.stale_refused, 1u);
  EXPECT_EQ(r.releases_ok, 3u);
  EXPECT_EQ(r.releases_fenced, 1u);
  EXPECT_EQ(r.keys_checked, 1u);
  EXPECT_NE(LockSummaryLine(r).find("stale writes 1 (refused 1"), std::string::npos);
}

TEST(LockCheckTest, UnknownAndRefusedWritesAreNotOrdered) {
  H h;
  h.Acquire(1, 10).Acquire(2, 20).Write(2, 20, 21);
  h.Write(1, 10, 0, Outcome::kUnknown, "504 timeout").Write(1, 10, 0, Outcome::kFail, "412 x");
  const LockCheckResult r = Check(h, true, false);
  EXPECT_TRUE(r.valid()) << Lines(r.anomalies);
  EXPECT_EQ(r.fenced_unknown, 1u);
  EXPECT_EQ(r.fenced_mismatch, 1u);
}

TEST(LockCheckTest, AStaleWriteAcceptedAfterALargerTokensWriteViolatesTheFenceOrder) {
  H h;
  h.Acquire(1, 10).Write(1, 10, 11).Acquire(2, 20).Write(2, 20, 21);
  h.Write(1, 10, 22, Outcome::kOk, "", /*stale=*/true);  // the fence was ignored
  for (bool lock_with_key : {true, false}) {
    const LockCheckResult r = Check(h, lock_with_key);
    EXPECT_TRUE(HasAnomaly(r, "(b) fenced write accepted after a larger token's"))
        << Lines(r.anomalies);
    EXPECT_EQ(r.stale_accepted, 1u);
  }
}

TEST(LockCheckTest, OrderIsByRevisionNotByCompletionTime) {
  H h;
  h.Acquire(1, 10).Acquire(2, 20);
  // Token 20's write completed first but was applied after token 10's: fine.
  h.Write(2, 20, 31).Write(1, 10, 25);
  EXPECT_TRUE(Check(h, /*lock_with_key=*/false).valid());
  // Token 10 applied after token 20: not fine, whatever the completion order.
  H bad;
  bad.Acquire(1, 10).Acquire(2, 20).Write(1, 10, 31).Write(2, 20, 25);
  EXPECT_TRUE(HasAnomaly(Check(bad, false), "(b)"));
}

TEST(LockCheckTest, TwoWorkersWritingWithOneTokenInterleave) {
  H h;
  h.Acquire(1, 10).Write(1, 10, 11).Write(2, 10, 12).Write(1, 10, 13);
  const LockCheckResult r = Check(h);
  EXPECT_TRUE(HasAnomaly(r, "(c) two workers wrote with one token")) << Lines(r.anomalies);
  EXPECT_TRUE(HasAnomaly(r, "(c) write fenced by a token granted to another worker"))
      << Lines(r.anomalies);
}

TEST(LockCheckTest, AWriteAfterALargerGrantInTheSameShardBreaksTheLease) {
  // Token 20 was granted at index 20 but has not written: a write fenced by 10 at revision 25
  // passes rule 1 (no larger token wrote the key) but not rule 2 (the lock was not held by 10).
  H h;
  h.Acquire(1, 10).Write(1, 10, 11).Acquire(2, 20).Write(1, 10, 25, Outcome::kOk, "", true);
  const LockCheckResult same = Check(h, /*lock_with_key=*/true);
  EXPECT_TRUE(HasAnomaly(same, "lease: fenced write accepted after a larger token was granted"))
      << Lines(same.anomalies);
  // With the lock in another shard, indexes of two logs are not comparable: not checked.
  EXPECT_TRUE(Check(h, /*lock_with_key=*/false).valid());
  // A write at revision 15, before the grant at 20, is fine.
  H ok;
  ok.Acquire(1, 10).Write(1, 10, 11).Acquire(2, 20).Write(1, 10, 15);
  EXPECT_TRUE(Check(ok).valid()) << Lines(Check(ok).anomalies);
}

TEST(LockCheckTest, AWriteAppliedAfterItsTokensReleaseBreaksTheLease) {
  H h;
  h.Acquire(1, 10).Release(1, 10, 12).Write(1, 10, 14);
  EXPECT_TRUE(HasAnomaly(Check(h), "lease: fenced write accepted after its token was released"));
  H ok;
  ok.Acquire(1, 10).Write(1, 10, 11).Release(1, 10, 12);
  EXPECT_TRUE(Check(ok).valid());
}

TEST(LockCheckTest, KeepalivesAndReleasesOfATokenEndWithItsLease) {
  H h;
  h.Acquire(1, 10).Keepalive(1, 10, 11).Write(1, 10, 12).Acquire(2, 20);
  h.Keepalive(1, 10, 0, Outcome::kFail, "409 fenced").Release(1, 10, 0, Outcome::kFail, "409 x");
  h.Keepalive(2, 20, 21).Release(2, 20, 22);
  const LockCheckResult ok = Check(h, /*lock_with_key=*/false, false);
  EXPECT_TRUE(ok.valid()) << Lines(ok.anomalies);
  EXPECT_EQ(ok.keepalives, 3u);
  EXPECT_EQ(ok.keepalives_ok, 2u);
  EXPECT_EQ(ok.keepalives_fenced, 1u);
  // Token 10 kept alive at index 25, after token 20 was granted at 20: the lock's own log, so
  // checked wherever the key lives.
  H late = h;
  late.Keepalive(1, 10, 25);
  EXPECT_TRUE(HasAnomaly(Check(late, false), "lease: keepalive accepted after a larger token"));
  H late_release = h;
  late_release.Release(1, 10, 26);
  EXPECT_TRUE(HasAnomaly(Check(late_release, false), "lease: release accepted after a larger"));
  // Released twice, or kept alive after the release.
  H twice = h;
  twice.Release(2, 20, 30);
  EXPECT_TRUE(HasAnomaly(Check(twice, false), "lease: release accepted after its token was"));
  H after = h;
  after.Keepalive(2, 20, 30);
  EXPECT_TRUE(HasAnomaly(Check(after, false), "lease: keepalive accepted after its token was"));
}

TEST(LockCheckTest, TokensAreGrantedOnceAndGrowInRealTime) {
  H twice;
  twice.Acquire(1, 10).Release(1, 10, 11).Acquire(2, 10);
  EXPECT_TRUE(HasAnomaly(Check(twice), "token granted twice"));
  H backwards;
  backwards.Acquire(1, 20).Release(1, 20, 21).Acquire(2, 15);
  EXPECT_TRUE(HasAnomaly(Check(backwards), "token not above one granted earlier in real time"));
  // Concurrent acquires may return in any order.
  H concurrent;
  concurrent.Acquire(1, 20).Acquire(2, 15);
  concurrent.ops[1].call_ns = concurrent.ops[0].call_ns;
  EXPECT_TRUE(Check(concurrent).valid()) << Lines(Check(concurrent).anomalies);
}

TEST(LockCheckTest, VersionsMustGrowWithRevisions) {
  H h;
  h.Acquire(1, 10).Write(1, 10, 11).Write(1, 10, 12);
  std::swap(h.ops[1].version, h.ops[2].version);
  EXPECT_TRUE(HasAnomaly(Check(h), "key version not growing with revision"));
  h.ops[2].revision = 11;
  EXPECT_TRUE(HasAnomaly(Check(h), "two accepted writes with one revision"));
}

TEST(LockCheckTest, NonVacuity) {
  H none;
  none.Acquire(1, 0, Outcome::kFail, "404 no_route");
  const LockCheckResult r = Check(none);
  EXPECT_EQ(r.vacuity.size(), 3u) << Lines(r.vacuity);  // no acquire, no write, no refusal
  H no_stale;
  no_stale.Section(1, 10);
  EXPECT_EQ(Check(no_stale, true, /*stalls=*/true).vacuity.size(), 1u);
  EXPECT_TRUE(Check(no_stale, true, /*stalls=*/false).vacuity.empty());
  EXPECT_TRUE(Check(StaleHolderRefused()).vacuity.empty());
}

TEST(LockWorkloadTest, JsonTopLevelUint) {
  EXPECT_EQ(JsonTopLevelUint(R"({"token": 12, "ttl_ms": 1000, "revision": 13})", "token"), 12u);
  EXPECT_EQ(JsonTopLevelUint(R"({"ttl_ms":1000,"revision":13,"token":12})", "revision"), 13u);
  // A 409's holder token is nested: not the answer's token.
  EXPECT_EQ(
      JsonTopLevelUint(R"({"error": {"code": "lock_held"}, "holder": {"token": 7}})", "token"),
      std::nullopt);
  EXPECT_EQ(JsonTopLevelUint(R"({"owner": "token", "token": "x"})", "token"), std::nullopt);
  EXPECT_EQ(JsonTopLevelUint(R"({"a": "\"token\"", "token": 5})", "token"), 5u);
  EXPECT_EQ(JsonTopLevelUint("not json", "token"), std::nullopt);
}

TEST(LockWorkloadTest, TargetsShareATagOrLandInAnotherShard) {
  const auto same = LockTargets(2, false, nullptr);
  ASSERT_EQ(same.size(), 2u);
  EXPECT_EQ(same[0].lock, "{g0}lock");
  EXPECT_EQ(same[0].key, "{g0}data");
  EXPECT_EQ(same[1].lock, "{g1}lock");
  ShardOf by_length = [](const std::string& s) { return static_cast<uint64_t>(s.size() % 2); };
  const auto other = LockTargets(2, true, by_length, 2);
  ASSERT_EQ(other.size(), 3u);  // {g0}data and {g1}data share a shard: {g10}data covers the other
  EXPECT_EQ(other[2].key, "{g10}data");
  for (const LockTarget& t : other) EXPECT_NE(by_length(t.lock), by_length(t.key)) << t.lock;
  ShardOf one = [](const std::string&) { return uint64_t{1}; };
  EXPECT_TRUE(LockTargets(2, true, one).empty());
}

TEST(LockWorkloadTest, WithShardsTheKeysCoverEveryShard) {
  // Shards 1..4 by the tag's last digit: {g0} and {g4} share shard 1.
  ShardOf last_digit = [](const std::string& s) {
    return static_cast<uint64_t>(s[s.find('}') - 1] - '0') % 4 + 1;
  };
  const auto targets = LockTargets(2, false, last_digit, 4);
  ASSERT_EQ(targets.size(), 4u);
  EXPECT_EQ(targets[0].key, "{g0}data");  // the first `count` whatever their shards
  EXPECT_EQ(targets[1].key, "{g1}data");
  EXPECT_EQ(targets[2].key, "{g2}data");
  EXPECT_EQ(targets[3].key, "{g3}data");
  std::set<uint64_t> shards;
  for (const LockTarget& t : LockTargets(6, false, last_digit, 4)) shards.insert(last_digit(t.key));
  EXPECT_EQ(shards.size(), 4u);
  EXPECT_EQ(LockTargets(6, false, last_digit, 4).size(), 6u);  // already covered: just `count`
  EXPECT_EQ(LockTargets(1, false, last_digit, 1).size(), 1u);
  EXPECT_EQ(FenceValue("{g0}lock", 42), "{g0}lock:42");
  EXPECT_EQ(LockPath("{g0}lock"), "/v1/locks/%7Bg0%7Dlock");
}

}  // namespace
}  // namespace kvd::jepsen
