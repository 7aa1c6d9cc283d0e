// Copyright (c) kvd authors.
//
// Hand-built histories with a known answer. Times are small integers; "p" is the process.

#include "jepsen/checker/checker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace kvd::lincheck {
namespace {

using std::nullopt;

Operation Write(int64_t p, std::string value, int64_t call, int64_t ret) {
  return {
      .process = p, .key = "x", .type = OpType::kWrite, .value = value, .call = call, .ret = ret};
}
Operation Read(int64_t p, std::optional<std::string> result, int64_t call, int64_t ret) {
  return {
      .process = p, .key = "x", .type = OpType::kRead, .result = result, .call = call, .ret = ret};
}
Operation Cas(int64_t p, std::optional<std::string> expected, std::string value, Outcome outcome,
              int64_t call, int64_t ret) {
  return {.process = p,
          .key = "x",
          .type = OpType::kCas,
          .value = value,
          .expected = expected,
          .outcome = outcome,
          .call = call,
          .ret = ret};
}
Operation Unknown(Operation op) {
  op.outcome = Outcome::kUnknown;
  op.ret = -1;  // Must be ignored.
  return op;
}
Operation Failed(Operation op) {
  op.outcome = Outcome::kFail;
  return op;
}
Operation OnKey(std::string key, Operation op) {
  op.key = std::move(key);
  return op;
}

Verdict VerdictOf(const std::vector<Operation>& history, CheckOptions options = {}) {
  return Check(history, options).verdict;
}

TEST(CheckerTest, ConcurrentHistoryThatNeedsReorderingIsValid) {
  // write(1) is invoked first but must take effect after write(2) and the read of "2".
  const std::vector<Operation> history = {
      Write(0, "1", 0, 10), Write(1, "2", 1, 5),  Read(2, "2", 2, 7),
      Read(3, "1", 6, 12),  Read(1, "1", 11, 13),
  };
  const CheckResult result = Check(history, {});
  EXPECT_EQ(result.verdict, Verdict::kValid) << FormatResult(result);
  ASSERT_EQ(result.keys.size(), 1u);
  EXPECT_EQ(result.keys[0].ops_checked, 5u);
  EXPECT_GT(result.keys[0].states_explored, 0u);
  // Sequentially (no overlap) the same operations are not linearizable.
  std::vector<Operation> sequential = history;
  for (size_t i = 0; i < sequential.size(); ++i) {
    sequential[i].call = static_cast<int64_t>(2 * i);
    sequential[i].ret = static_cast<int64_t>(2 * i + 1);
  }
  EXPECT_EQ(VerdictOf(sequential), Verdict::kInvalid);
}

TEST(CheckerTest, StaleReadIsInvalidAndExplained) {
  const std::vector<Operation> history = {Write(0, "1", 0, 1), Write(1, "2", 2, 3),
                                          Read(2, "1", 4, 5)};
  const CheckResult result = Check(history, {});
  ASSERT_EQ(result.verdict, Verdict::kInvalid);
  const std::string& why = result.keys[0].explanation;
  EXPECT_NE(why.find("Longest linearizable prefix found: 2 of 3 ops, leaving the state \"2\""),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("must take effect before it returns:\n  " + FormatOperation(history[2])),
            std::string::npos)
      << why;
  EXPECT_NE(FormatResult(result).find("key \"x\": invalid"), std::string::npos);
}

TEST(CheckerTest, LostWriteIsInvalid) {
  // The write was acknowledged, yet a later read finds the key absent.
  EXPECT_EQ(VerdictOf({Write(0, "1", 0, 1), Read(1, nullopt, 2, 3)}), Verdict::kInvalid);
  EXPECT_EQ(VerdictOf({Write(0, "1", 0, 2), Read(1, nullopt, 1, 3)}), Verdict::kValid);
}

TEST(CheckerTest, CasSucceedingTwiceFromTheSameValueIsInvalid) {
  EXPECT_EQ(VerdictOf({Write(0, "0", 0, 1), Cas(1, "0", "1", Outcome::kOk, 2, 5),
                       Cas(2, "0", "2", Outcome::kOk, 2, 5)}),
            Verdict::kInvalid);
  EXPECT_EQ(VerdictOf({Write(0, "0", 0, 1), Cas(1, "0", "1", Outcome::kOk, 2, 5),
                       Cas(2, "0", "2", Outcome::kFail, 2, 5)}),
            Verdict::kValid);
}

TEST(CheckerTest, FailedCasIsALinearizationPoint) {
  // Nothing else runs, so the state was "0" and the comparison cannot have failed.
  EXPECT_EQ(VerdictOf({Write(0, "0", 0, 1), Cas(1, "0", "1", Outcome::kFail, 2, 3)}),
            Verdict::kInvalid);
  EXPECT_EQ(VerdictOf({Write(0, "0", 0, 1), Cas(1, nullopt, "1", Outcome::kFail, 2, 3)}),
            Verdict::kValid);
}

TEST(CheckerTest, UnknownWriteThatLaterAppearsIsValid) {
  EXPECT_EQ(VerdictOf({Write(0, "1", 0, 1), Unknown(Write(1, "2", 2, 3)), Read(2, "1", 4, 5),
                       Read(2, "2", 10, 11)}),
            Verdict::kValid);
  // A cleanly failed write has no effect, so the same read is a violation.
  EXPECT_EQ(VerdictOf({Write(0, "1", 0, 1), Failed(Write(1, "2", 2, 3)), Read(2, "2", 10, 11)}),
            Verdict::kInvalid);
}

TEST(CheckerTest, UnknownWriteThatNeverAppearsIsValid) {
  EXPECT_EQ(VerdictOf({Write(0, "1", 0, 1), Unknown(Write(1, "2", 2, 3)), Read(2, "1", 5, 6),
                       Read(2, "1", 10, 11)}),
            Verdict::kValid);
}

TEST(CheckerTest, UnknownWriteTakesEffectAtMostOnce) {
  EXPECT_EQ(VerdictOf({Write(0, "1", 0, 1), Unknown(Write(1, "2", 2, 3)), Read(2, "2", 4, 5),
                       Read(2, "1", 6, 7)}),
            Verdict::kInvalid);
}

TEST(CheckerTest, UnknownOpSeenBeforeItsCallIsInvalid) {
  EXPECT_EQ(VerdictOf({Write(0, "1", 0, 1), Read(2, "2", 2, 3), Unknown(Write(1, "2", 5, 6))}),
            Verdict::kInvalid);
}

TEST(CheckerTest, UnknownAndFailedReadsAreDropped) {
  const CheckResult result =
      Check({Write(0, "1", 0, 1), Unknown(Read(1, "9", 2, 3)), Failed(Read(2, "9", 4, 5))}, {});
  EXPECT_EQ(result.verdict, Verdict::kValid);
  EXPECT_EQ(result.ops_checked, 1u);
}

TEST(CheckerTest, ConcurrentReadsAreNotInterleavedEveryWay) {
  // 16 reads of "1" race with write(2), then a read of "3" nobody wrote. Refuting this must not
  // try each of the 2^16 subsets of reads before the write (wgl_search.h: read-only ops are
  // linearized greedily).
  std::vector<Operation> history = {Write(0, "1", 0, 1), Write(1, "2", 2, 100)};
  for (int p = 2; p < 18; ++p) history.push_back(Read(p, "1", 2, 100));
  history.push_back(Read(0, "3", 101, 102));
  const CheckResult result = Check(history, {.max_states = 10000});
  EXPECT_EQ(result.verdict, Verdict::kInvalid);
  EXPECT_LT(result.states_explored, 100u);
}

TEST(CheckerTest, UnknownNoOpsAreNotLinearizedEverywhere) {
  // 20 timed-out cas ops that can never apply, a run of writes and reads, then an impossible
  // read. Refuting it must not place the no-ops at every point in every combination (2^20
  // times the work; wgl_search.h: dominated unknown ops are not tried).
  std::vector<Operation> history;
  for (int p = 0; p < 20; ++p) {
    history.push_back(Unknown(Cas(p, "never", "1", Outcome::kOk, 0, 0)));
  }
  for (int i = 1; i <= 100; ++i) {
    history.push_back(Write(20, std::to_string(i % 3), 2 * i, 2 * i));
    history.push_back(Read(21, std::to_string(i % 3), 2 * i + 1, 2 * i + 1));
  }
  std::vector<Operation> invalid = history;
  invalid.push_back(Read(21, "9", 1000, 1001));
  const CheckResult result = Check(invalid, {.max_states = 10000});
  EXPECT_EQ(result.verdict, Verdict::kInvalid);
  EXPECT_LT(result.states_explored, 1000u);
  // An unknown cas that can apply still does.
  history.push_back(Unknown(Cas(22, "1", "applied", Outcome::kOk, 201, 0)));
  history.push_back(Read(21, "applied", 1000, 1001));
  EXPECT_EQ(VerdictOf(history), Verdict::kValid);
}

TEST(CheckerTest, TouchingIntervalsCountAsConcurrent) {
  EXPECT_EQ(VerdictOf({Read(0, "1", 0, 5), Write(1, "1", 5, 6)}), Verdict::kValid);
  EXPECT_EQ(VerdictOf({Read(0, "1", 0, 4), Write(1, "1", 5, 6)}), Verdict::kInvalid);
}

TEST(CheckerTest, OnlyTheInvalidKeyIsReported) {
  const std::vector<Operation> history = {
      OnKey("a", Write(0, "1", 0, 1)), OnKey("b", Write(0, "1", 2, 3)),
      OnKey("c", Write(1, "1", 0, 9)), OnKey("a", Read(1, "1", 2, 3)),
      OnKey("b", Read(1, "2", 4, 5)),  OnKey("c", Read(0, "1", 4, 5)),
  };
  for (int threads : {1, 3}) {
    const CheckResult result = Check(history, {.threads = threads});
    EXPECT_EQ(result.verdict, Verdict::kInvalid);
    ASSERT_EQ(result.keys.size(), 3u);
    EXPECT_EQ(result.keys[0].key, "a");
    EXPECT_EQ(result.keys[0].verdict, Verdict::kValid);
    EXPECT_EQ(result.keys[1].key, "b");
    EXPECT_EQ(result.keys[1].verdict, Verdict::kInvalid);
    EXPECT_EQ(result.keys[2].verdict, Verdict::kValid);
    const std::string report = FormatResult(result);
    EXPECT_NE(report.find("key \"b\": invalid"), std::string::npos) << report;
    EXPECT_EQ(report.find("key \"a\""), std::string::npos) << report;
  }
}

std::vector<Operation> SequentialWrites(const std::string& key, int n) {
  std::vector<Operation> history;
  for (int i = 0; i < n; ++i) history.push_back(OnKey(key, Write(0, std::to_string(i), i, i)));
  return history;
}

TEST(CheckerTest, StateBudgetExceededIsUnknownNeverValid) {
  const std::vector<Operation> history = SequentialWrites("x", 20);
  EXPECT_EQ(VerdictOf(history, {.max_states = 20}), Verdict::kValid);
  const CheckResult result = Check(history, {.max_states = 5});
  EXPECT_EQ(result.verdict, Verdict::kUnknown);
  EXPECT_NE(result.keys[0].explanation.find("state budget"), std::string::npos);
  // An invalid history is not reported invalid either when the search could not finish.
  std::vector<Operation> invalid = history;
  invalid.push_back(Read(1, "0", 30, 31));
  EXPECT_EQ(VerdictOf(invalid, {.max_states = 5}), Verdict::kUnknown);
  EXPECT_EQ(VerdictOf(invalid, {}), Verdict::kInvalid);
}

TEST(CheckerTest, InvalidKeyWinsOverUnknownKey) {
  std::vector<Operation> history = SequentialWrites("big", 20);
  history.push_back(OnKey("small", Write(0, "1", 0, 1)));
  history.push_back(OnKey("small", Read(1, "2", 2, 3)));
  const CheckResult result = Check(history, {.max_states = 5});
  EXPECT_EQ(result.verdict, Verdict::kInvalid);
  EXPECT_EQ(result.keys[0].verdict, Verdict::kUnknown);
  EXPECT_EQ(result.keys[1].verdict, Verdict::kInvalid);
}

TEST(CheckerTest, StopAtFirstInvalidDoesNotWaitForALongKey) {
  // "a-long" comes first and needs 50,000 states, more than the first round's allowance.
  std::vector<Operation> history = SequentialWrites("a-long", 50000);
  history.push_back(OnKey("b-bad", Write(0, "1", 0, 1)));
  history.push_back(OnKey("b-bad", Read(1, "2", 2, 3)));
  const CheckResult all = Check(history, {});
  EXPECT_EQ(all.verdict, Verdict::kInvalid);
  EXPECT_EQ(all.keys[0].verdict, Verdict::kValid);
  EXPECT_EQ(all.keys[0].states_explored, 50000u);
  for (int threads : {1, 2}) {
    const CheckResult first = Check(history, {.stop_at_first_invalid = true, .threads = threads});
    EXPECT_EQ(first.verdict, Verdict::kInvalid);
    EXPECT_EQ(first.keys[0].verdict, Verdict::kUnknown);
    EXPECT_EQ(first.keys[0].explanation, "not finished: stopped at the first invalid key");
    EXPECT_LT(first.keys[0].states_explored, 50000u);
    EXPECT_EQ(first.keys[1].verdict, Verdict::kInvalid);
  }
  // Without an invalid key every key still gets its answer, across rounds.
  history.pop_back();
  const CheckResult valid = Check(history, {.stop_at_first_invalid = true});
  EXPECT_EQ(valid.verdict, Verdict::kValid);
  EXPECT_EQ(valid.keys[0].states_explored, 50000u);
  // A user state budget below the rounds' allowance still makes the key unknown.
  EXPECT_EQ(VerdictOf(history, {.max_states = 20000, .stop_at_first_invalid = true}),
            Verdict::kUnknown);
}

TEST(CheckerTest, UnknownOpsDoNotPinTheMemoWindow) {
  // Regression: an unknown op that is never linearized (this cas cannot apply) stayed first in
  // invocation order, so every memo entry stored the bits from it to the newest op: O(n)
  // bytes per entry, about 50 MB here.
  std::vector<Operation> history = {Unknown(Cas(0, "never", "1", Outcome::kOk, 0, 0))};
  for (Operation& op : SequentialWrites("x", 20000)) {
    op.call += 1;
    op.ret += 1;
    history.push_back(std::move(op));
  }
  EXPECT_EQ(VerdictOf(history, {.max_memory_bytes = 8 << 20}), Verdict::kValid);
}

TEST(CheckerTest, MemoryBudgetExceededIsUnknown) {
  const CheckResult result = Check(SequentialWrites("x", 20), {.max_memory_bytes = 1});
  EXPECT_EQ(result.verdict, Verdict::kUnknown);
  EXPECT_NE(result.keys[0].explanation.find("memory budget"), std::string::npos);
}

TEST(CheckerTest, TimeBudgetExceededBeforeAKeyIsUnknown) {
  // An injected clock that advances one second per reading.
  auto now = std::chrono::steady_clock::time_point{};
  CheckOptions options{.time_budget = std::chrono::milliseconds(10),
                       .clock = [&now] { return now += std::chrono::seconds(1); }};
  const CheckResult result = Check(SequentialWrites("x", 5), options);
  EXPECT_EQ(result.verdict, Verdict::kUnknown);
  EXPECT_EQ(result.keys[0].explanation, "time budget exhausted before this key was checked");
  EXPECT_GE(result.elapsed_ms, 1000);
}

TEST(CheckerTest, TimeBudgetExceededDuringTheSearchIsUnknown) {
  // The clock stands still for Check()'s and the key's start-up readings, then jumps an hour.
  int readings = 0;
  CheckOptions options{.time_budget = std::chrono::milliseconds(10), .clock = [&readings] {
                         return std::chrono::steady_clock::time_point{} +
                                std::chrono::hours(++readings > 3 ? 1 : 0);
                       }};
  const std::vector<Operation> history = SequentialWrites("x", 5000);
  EXPECT_EQ(VerdictOf(history), Verdict::kValid);
  const CheckResult result = Check(history, options);
  EXPECT_EQ(result.verdict, Verdict::kUnknown);
  EXPECT_EQ(result.keys[0].explanation, "time budget exhausted");
  EXPECT_LT(result.keys[0].states_explored, 5000u);
}

TEST(CheckerTest, OperationOutsideTheModelMakesTheKeyUnknown) {
  Operation append = Write(0, "1", 0, 1);
  append.type = OpType::kAppend;
  const CheckResult result = Check({append}, {.model = ModelKind::kRegister});
  EXPECT_EQ(result.verdict, Verdict::kUnknown);
  EXPECT_NE(result.keys[0].explanation.find("input error"), std::string::npos);
  EXPECT_EQ(VerdictOf({append}, {.model = ModelKind::kAppendString}), Verdict::kValid);
  EXPECT_EQ(VerdictOf({Write(0, "1", 5, 4)}), Verdict::kUnknown);  // ret < call.
}

TEST(CheckerTest, AppendStringModel) {
  Operation append_a = Write(0, "a", 0, 1);
  append_a.type = OpType::kAppend;
  Operation append_b = Write(1, "b", 0, 1);
  append_b.type = OpType::kAppend;
  const CheckOptions options{.model = ModelKind::kAppendString};
  EXPECT_EQ(VerdictOf({Read(2, "", 0, 0), append_a, append_b, Read(2, "ba", 2, 3)}, options),
            Verdict::kValid);
  EXPECT_EQ(VerdictOf({append_a, append_b, Read(2, "ab", 2, 3), Read(2, "ba", 4, 5)}, options),
            Verdict::kInvalid);
}

TEST(CheckerTest, EmptyHistoryIsValid) {
  const CheckResult result = Check({}, {.threads = 4});
  EXPECT_EQ(result.verdict, Verdict::kValid);
  EXPECT_TRUE(result.keys.empty());
}

}  // namespace
}  // namespace kvd::lincheck
