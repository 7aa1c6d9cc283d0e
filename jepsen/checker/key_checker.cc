// Copyright (c) kvd authors.

#include "jepsen/checker/key_checker.h"

#include <algorithm>

#include "jepsen/checker/model.h"
#include "jepsen/checker/wgl_search.h"

namespace kvd::lincheck {

namespace {

using TimePoint = std::chrono::steady_clock::time_point;

double MillisBetween(TimePoint from, TimePoint to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Operations that cannot constrain the search: they are neither checked nor counted.
bool CarriesInformation(const Operation& op) {
  if (op.outcome == Outcome::kFail) return op.type == OpType::kCas;
  if (op.outcome == Outcome::kUnknown) return op.type != OpType::kRead;
  return true;
}

std::string Explain(const std::string& key, const std::vector<const Operation*>& ops,
                    const Model& model, const StuckPoint& stuck, size_t max_prefix_ops) {
  const std::string state = model.DescribeState(stuck.state);
  std::string out = "key " + FormatValue(key) + " is not linearizable.\n";
  const size_t shown = std::min(max_prefix_ops, stuck.prefix.size());
  out += "Longest linearizable prefix found: " + std::to_string(stuck.prefix.size()) + " of " +
         std::to_string(ops.size()) + " ops, leaving the state " + state + ".";
  if (shown > 0) {
    out += " Its last " + std::to_string(shown) + ", in linearization order:";
  }
  out += "\n";
  for (size_t i = stuck.prefix.size() - shown; i < stuck.prefix.size(); ++i) {
    out += "  " + FormatOperation(*ops[stuck.prefix[i]]) + "\n";
  }
  out += "This op must take effect before it returns:\n  " + FormatOperation(*ops[stuck.blocker]) +
         "\n";
  out += "but in state " + state +
         " no op pending then (invoked before it returned, not yet linearized) can take effect, "
         "except unknown-outcome ops that would leave the state unchanged:\n";
  for (int32_t op : stuck.pending) out += "  " + FormatOperation(*ops[op]) + "\n";
  return out;
}

}  // namespace

KeyCheck CheckKey(const std::string& key, const std::vector<const Operation*>& ops,
                  const CheckOptions& options, uint64_t max_states,
                  std::optional<TimePoint> deadline) {
  const TimePoint start = options.clock();
  KeyCheck check{.result = {.key = key}};
  KeyResult& result = check.result;
  auto finish = [&](Verdict verdict, std::string explanation) {
    result.verdict = verdict;
    result.explanation = std::move(explanation);
    result.elapsed_ms = MillisBetween(start, options.clock());
    return check;
  };

  std::vector<const Operation*> kept;
  kept.reserve(ops.size());
  for (const Operation* op : ops) {
    if (CarriesInformation(*op)) kept.push_back(op);
  }
  result.ops_checked = kept.size();

  Model model(options.model);
  std::vector<CompiledOp> compiled(kept.size());
  std::vector<int64_t> calls(kept.size());
  std::vector<int64_t> rets(kept.size());
  for (size_t i = 0; i < kept.size(); ++i) {
    const Operation& op = *kept[i];
    std::string error = model.Compile(op, &compiled[i]);
    if (error.empty() && op.outcome != Outcome::kUnknown && op.ret < op.call) {
      error = "ret < call";
    }
    if (!error.empty()) {
      return finish(Verdict::kUnknown, "input error: " + error + ": " + FormatOperation(op));
    }
    calls[i] = op.call;
    rets[i] = op.ret;
  }
  if (deadline && options.clock() > *deadline) {
    return finish(Verdict::kUnknown, "time budget exhausted before this key was checked");
  }

  WglSearch search(compiled, calls, rets, model);
  SearchLimits limits{.max_states = max_states,
                      .max_memory_bytes = options.max_memory_bytes,
                      .deadline = deadline,
                      .clock = &options.clock};
  SearchStats stats;
  const SearchStatus status = search.Run(limits, &stats);
  result.states_explored = stats.states;
  switch (status) {
    case SearchStatus::kLinearizable:
      return finish(Verdict::kValid, "");
    case SearchStatus::kNotLinearizable:
      return finish(Verdict::kInvalid,
                    Explain(key, kept, model, search.ReplayTo(stats), options.explain_prefix_ops));
    case SearchStatus::kOutOfTime:
      return finish(Verdict::kUnknown, "time budget exhausted");
    case SearchStatus::kOutOfStates:
      check.out_of_states = true;
      return finish(Verdict::kUnknown,
                    "state budget exhausted (max_states=" + std::to_string(max_states) + ")");
    case SearchStatus::kOutOfMemory:
      return finish(Verdict::kUnknown, "memory budget exhausted (max_memory_bytes=" +
                                           std::to_string(options.max_memory_bytes) + ")");
  }
  return finish(Verdict::kUnknown, "unreachable");
}

}  // namespace kvd::lincheck
