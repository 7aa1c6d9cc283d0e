// Copyright (c) kvd authors.

#include "jepsen/checker/checker.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <thread>

#include "jepsen/checker/key_checker.h"

namespace kvd::lincheck {

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kValid:
      return "valid";
    case Verdict::kInvalid:
      return "invalid";
    case Verdict::kUnknown:
      return "unknown";
  }
  return "?";
}

namespace {

using TimePoint = std::chrono::steady_clock::time_point;

// The per-key state allowance of the first round when stopping at the first invalid key; each
// round multiplies it by 4.
constexpr uint64_t kFirstRoundStates = 10'000;

// Calls fn(index) for every element of `indices` on up to `threads` threads (the caller's
// included). fn must be safe to run concurrently for different indices.
void ForEachParallel(const std::vector<size_t>& indices, int threads,
                     const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < indices.size(); i = next++) fn(indices[i]);
  };
  const size_t workers_wanted = std::min(indices.size(), static_cast<size_t>(std::max(threads, 1)));
  std::vector<std::thread> workers;
  for (size_t t = 1; t < workers_wanted; ++t) workers.emplace_back(work);
  work();
  for (std::thread& worker : workers) worker.join();
}

}  // namespace

CheckResult Check(const std::vector<Operation>& history, const CheckOptions& options) {
  CheckOptions opts = options;
  if (!opts.clock) opts.clock = [] { return std::chrono::steady_clock::now(); };
  const TimePoint start = opts.clock();
  std::optional<TimePoint> deadline;
  if (opts.time_budget.count() > 0) deadline = start + opts.time_budget;

  std::map<std::string_view, std::vector<const Operation*>> by_key;
  for (const Operation& op : history) by_key[op.key].push_back(&op);
  std::vector<std::vector<const Operation*>> key_ops;
  CheckResult result;
  for (auto& [key, ops] : by_key) {
    result.keys.push_back(KeyResult{.key = std::string(key), .verdict = Verdict::kUnknown});
    key_ops.push_back(std::move(ops));
  }
  std::vector<size_t> unfinished(key_ops.size());
  for (size_t i = 0; i < unfinished.size(); ++i) unfinished[i] = i;

  if (!opts.stop_at_first_invalid) {
    // Each worker writes only the result slots of the keys it claimed.
    ForEachParallel(unfinished, opts.threads, [&](size_t i) {
      result.keys[i] =
          CheckKey(result.keys[i].key, key_ops[i], opts, opts.max_states, deadline).result;
    });
  } else {
    std::atomic<bool> found_invalid{false};
    std::vector<uint8_t> retry(key_ops.size(), 0);
    for (uint64_t allowance = kFirstRoundStates; !unfinished.empty(); allowance *= 4) {
      const bool capped = opts.max_states == 0 || allowance < opts.max_states;
      ForEachParallel(unfinished, opts.threads, [&](size_t i) {
        retry[i] = 1;  // Unless it gets a final answer below.
        if (found_invalid) return;
        KeyCheck check = CheckKey(result.keys[i].key, key_ops[i], opts,
                                  capped ? allowance : opts.max_states, deadline);
        check.result.elapsed_ms += result.keys[i].elapsed_ms;  // Earlier rounds' time.
        result.keys[i] = std::move(check.result);
        retry[i] = capped && check.out_of_states;
        if (result.keys[i].verdict == Verdict::kInvalid) found_invalid = true;
      });
      std::erase_if(unfinished, [&](size_t i) { return !retry[i]; });
      if (found_invalid) {
        for (size_t i : unfinished) {
          result.keys[i].verdict = Verdict::kUnknown;
          result.keys[i].explanation = "not finished: stopped at the first invalid key";
        }
        break;
      }
    }
  }

  bool any_invalid = false;
  bool any_unknown = false;
  for (const KeyResult& key : result.keys) {
    any_invalid |= key.verdict == Verdict::kInvalid;
    any_unknown |= key.verdict == Verdict::kUnknown;
    result.ops_checked += key.ops_checked;
    result.states_explored += key.states_explored;
  }
  result.verdict = any_invalid   ? Verdict::kInvalid
                   : any_unknown ? Verdict::kUnknown
                                 : Verdict::kValid;
  result.elapsed_ms = std::chrono::duration<double, std::milli>(opts.clock() - start).count();
  return result;
}

std::string FormatResult(const CheckResult& result) {
  std::string out = std::string(VerdictName(result.verdict)) + ": " +
                    std::to_string(result.keys.size()) + " keys, " +
                    std::to_string(result.ops_checked) + " ops checked, " +
                    std::to_string(result.states_explored) + " states explored, " +
                    std::to_string(static_cast<int64_t>(result.elapsed_ms)) + " ms\n";
  for (const KeyResult& key : result.keys) {
    if (key.verdict == Verdict::kValid) continue;
    out += "\nkey " + FormatValue(key.key) + ": " + std::string(VerdictName(key.verdict)) + " (" +
           std::to_string(key.ops_checked) + " ops, " + std::to_string(key.states_explored) +
           " states, " + std::to_string(static_cast<int64_t>(key.elapsed_ms)) + " ms)\n" +
           key.explanation;
    if (!key.explanation.empty() && key.explanation.back() != '\n') out += "\n";
  }
  return out;
}

}  // namespace kvd::lincheck
