// Copyright (c) kvd authors.
//
// Linearizability checker for histories of single-key operations (docs/design.md, Testing pyramid).
//
// Check() decides whether a history could have been produced by an atomic object that applies
// each operation at one instant between its invocation (`call`) and completion (`ret`), in an
// order consistent with the per-key sequential model (model.h). Linearizability is local, so
// the history is split by key and every key is checked on its own with the Wing-Gong-Lowe
// search: a list of call/return events, a backtracking stack, and a memo of explored
// (linearized-set, model-state) configurations (wgl_search.h, config_cache.h).
//
// Input conventions:
//   - kFail operations other than kCas definitely had no effect: they are dropped. A kFail kCas
//     is kept: it is a linearization point at which the state differed from `expected`.
//   - kUnknown reads carry no information: they are dropped.
//   - Other kUnknown operations get ret = +infinity: they may take effect at any point after
//     `call`, or never.
//   - An operation whose `ret` equals another's `call` counts as concurrent with it.
//   - An operation the model does not define (e.g. kAppend in kRegister), a missing required
//     argument, or ret < call makes its key kUnknown, with the reason in the explanation.
//
// Verdicts: kInvalid is a proof (the explanation shows where the search got stuck); kValid
// means a linearization exists; kUnknown means a budget ran out, the input was malformed, or
// (with stop_at_first_invalid) another key was proven invalid first.
// Overall: kInvalid if any key is invalid, else kUnknown if any key is unknown, else kValid.
//
// Check() borrows `history` for the duration of the call and returns values it owns. It is
// thread-safe (no shared state) as long as options.clock is.

#ifndef KVD_JEPSEN_CHECKER_CHECKER_H_
#define KVD_JEPSEN_CHECKER_CHECKER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "jepsen/checker/model.h"
#include "jepsen/checker/operation.h"

namespace kvd::lincheck {

enum class Verdict { kValid, kInvalid, kUnknown };
std::string_view VerdictName(Verdict verdict);  // "valid", "invalid", "unknown".

struct CheckOptions {
  ModelKind model = ModelKind::kRegister;
  // Budget for the whole Check(); zero = unlimited. Keys not finished in time are kUnknown.
  std::chrono::milliseconds time_budget{0};
  // Per key: give up (kUnknown) after this many distinct configurations; 0 = unlimited.
  uint64_t max_states = 0;
  // Per key: give up (kUnknown) when the memo and the model's interned states hold more bytes
  // than this; 0 = unlimited. Up to `threads` keys are searched at once, so peak memory is
  // about threads * max_memory_bytes.
  size_t max_memory_bytes = size_t{1} << 30;
  // Return as soon as one key is proven invalid; keys not finished then are kUnknown. To find
  // a key that fails fast even when another key needs a long search, keys are then searched in
  // rounds with a growing per-key state allowance (a rerun from scratch each round, at most
  // ~1/3 extra work). Off: every key is searched to the end, within the budgets.
  bool stop_at_first_invalid = false;
  // Keys are checked on this many threads (including the caller's); 1 = no threads started.
  int threads = 1;
  // How many of the last operations of the longest linearizable prefix an explanation shows.
  size_t explain_prefix_ops = 10;
  // Time source for the budget and the elapsed times; empty = std::chrono::steady_clock::now.
  // Must be thread-safe when threads > 1.
  std::function<std::chrono::steady_clock::time_point()> clock{};
};

struct KeyResult {
  std::string key{};
  Verdict verdict = Verdict::kValid;
  // kInvalid: a human-readable proof sketch (multi-line). kUnknown: which budget ran out, or
  // the input error. kValid: empty.
  std::string explanation{};
  size_t ops_checked = 0;        // Operations searched, after dropping those without information.
  uint64_t states_explored = 0;  // Distinct configurations memoized.
  double elapsed_ms = 0;
};

struct CheckResult {
  Verdict verdict = Verdict::kValid;
  std::vector<KeyResult> keys{};  // One per key in the history, sorted by key.
  size_t ops_checked = 0;
  uint64_t states_explored = 0;
  double elapsed_ms = 0;
};

[[nodiscard]] CheckResult Check(const std::vector<Operation>& history, const CheckOptions& options);

// A report: the overall verdict and counts, then the explanation of every key that is not
// kValid.
std::string FormatResult(const CheckResult& result);

}  // namespace kvd::lincheck

#endif  // KVD_JEPSEN_CHECKER_CHECKER_H_
