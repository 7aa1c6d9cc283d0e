// Copyright (c) kvd authors.

#include "jepsen/checker/wgl_search.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <tuple>

#include "jepsen/checker/config_cache.h"

namespace kvd::lincheck {

namespace {

// Invariants of the search; a violation is a bug in this file, never bad input.
void CheckInvariant(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "lincheck: broken invariant: %s\n", what);
    std::abort();
  }
}

// The clock is read once per this many loop iterations.
constexpr uint64_t kClockInterval = 1024;

}  // namespace

WglSearch::WglSearch(const std::vector<CompiledOp>& ops, const std::vector<int64_t>& calls,
                     const std::vector<int64_t>& rets, Model& model)
    : ops_(ops),
      model_(model),
      call_node_(ops.size()),
      ret_node_(ops.size(), -1),
      read_only_(ops.size()),
      rank_(ops.size()) {
  CheckInvariant(calls.size() == ops.size() && rets.size() == ops.size(), "input sizes");
  for (size_t i = 0; i < ops.size(); ++i) read_only_[i] = Model::NeverChangesState(ops[i]);
  struct Event {
    int64_t time;
    int kind;  // 0 = call, 1 = return: calls first at equal times, so touching ops overlap.
    int32_t op;
  };
  std::vector<Event> events;
  events.reserve(2 * ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const auto op = static_cast<int32_t>(i);
    events.push_back({calls[i], 0, op});
    if (ops[i].outcome != Outcome::kUnknown) {
      CheckInvariant(rets[i] >= calls[i], "ret >= call");
      events.push_back({rets[i], 1, op});
      ++known_ops_;
    }
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return std::tie(a.time, a.kind, a.op) < std::tie(b.time, b.kind, b.op);
  });
  const size_t nodes = events.size() + 2;
  next_.resize(nodes);
  prev_.resize(nodes);
  node_op_.assign(nodes, -1);
  node_is_call_.assign(nodes, 0);
  for (size_t n = 0; n < nodes; ++n) {
    next_[n] = static_cast<int32_t>(n + 1);
    prev_[n] = static_cast<int32_t>(n) - 1;
  }
  // Bit ranks: unknown-outcome ops first (ConfigCache stores them whole), then, from a word
  // boundary, known ops in invocation order (ConfigCache stores a window of them).
  prefix_words_ = (ops.size() - known_ops_ + 63) / 64;
  int32_t next_unknown_rank = 0;
  auto next_known_rank = static_cast<int32_t>(prefix_words_ * 64);
  for (size_t e = 0; e < events.size(); ++e) {
    const auto node = static_cast<int32_t>(e + 1);
    const int32_t op = events[e].op;
    node_op_[node] = op;
    node_is_call_[node] = events[e].kind == 0;
    (events[e].kind == 0 ? call_node_ : ret_node_)[op] = node;
    if (events[e].kind == 0) {
      rank_[op] = ops[op].outcome == Outcome::kUnknown ? next_unknown_rank++ : next_known_rank++;
    }
  }
  num_ranks_ = static_cast<size_t>(next_known_rank);
}

void WglSearch::Lift(int32_t op) {
  for (int32_t node : {call_node_[op], ret_node_[op]}) {
    if (node < 0) continue;
    next_[prev_[node]] = next_[node];
    prev_[next_[node]] = prev_[node];
  }
}

void WglSearch::Unlift(int32_t op) {
  // Dancing links: restore in the reverse order of Lift().
  for (int32_t node : {ret_node_[op], call_node_[op]}) {
    if (node < 0) continue;
    next_[prev_[node]] = node;
    prev_[next_[node]] = node;
  }
}

SearchStatus WglSearch::Run(const SearchLimits& limits, SearchStats* stats) {
  return Search(limits, stats, std::nullopt, nullptr);
}

StuckPoint WglSearch::ReplayTo(const SearchStats& stats) {
  StuckPoint stuck;
  SearchStats replay_stats;
  const SearchStatus status =
      Search(SearchLimits{}, &replay_stats, stats.states_at_max_depth, &stuck);
  CheckInvariant(status == SearchStatus::kNotLinearizable && stuck.prefix.size() == stats.max_depth,
                 "replay reaches the recorded depth");
  // The deepest configuration is a dead end: any op that could go next would have gone deeper.
  for (int32_t op : stuck.pending) {
    const int32_t next = model_.Step(stuck.state, ops_[op]);
    CheckInvariant(next == Model::kIllegal || (ret_node_[op] < 0 && next == stuck.state),
                   "no pending op can be linearized at the deepest point");
  }
  return stuck;
}

StuckPoint WglSearch::Snapshot(const std::vector<int32_t>& stack_ops, int32_t state) const {
  StuckPoint stuck{.prefix = stack_ops, .state = state};
  for (int32_t node = next_[0];; node = next_[node]) {
    CheckInvariant(node_op_[node] >= 0, "a known op is left when the search is stuck");
    if (!node_is_call_[node]) {
      stuck.blocker = node_op_[node];
      break;
    }
    stuck.pending.push_back(node_op_[node]);
  }
  return stuck;
}

int32_t WglSearch::FindLegalReadOnlyCandidate(int32_t state) {
  for (int32_t node = next_[0]; node_is_call_[node]; node = next_[node]) {
    const int32_t op = node_op_[node];
    if (read_only_[op] && model_.Step(state, ops_[op]) != Model::kIllegal) return op;
  }
  return -1;
}

SearchStatus WglSearch::Search(const SearchLimits& limits, SearchStats* stats,
                               std::optional<uint64_t> stop_at_states, StuckPoint* stuck) {
  struct Frame {
    int32_t op;
    int32_t state_before;
    int32_t first_unset_before;  // See `first_unset` below, before this op.
    int32_t last_set_before;
    bool forced;  // A read-only op taken without alternatives: if it fails, its parent fails.
  };
  std::vector<Frame> stack;
  std::vector<int32_t> stack_ops;  // Only maintained when replaying.
  LinearizedSet linearized(num_ranks_);
  ConfigCache cache(prefix_words_);
  // The lowest known-op rank not linearized, and the highest one linearized (-1: none).
  auto first_unset = static_cast<int32_t>(prefix_words_ * 64);
  int32_t last_set = -1;
  int32_t state = model_.InitialState();
  size_t known_left = known_ops_;
  uint64_t iterations = 0;
  if (stop_at_states == 0) {
    *stuck = Snapshot(stack_ops, state);
    return SearchStatus::kNotLinearizable;
  }

  int32_t node = next_[0];
  // True when `node` is the front of a configuration not yet scanned for read-only ops.
  bool fresh = true;
  // Linearizes `op` (next state `next_state`) unless that configuration was seen before.
  auto push = [&](int32_t op, int32_t next_state, bool forced) {
    const int32_t rank = rank_[op];
    linearized.Toggle(rank);
    int32_t new_first_unset = first_unset;
    int32_t new_last_set = last_set;
    if (ret_node_[op] >= 0) {
      if (rank == first_unset) {
        new_first_unset = static_cast<int32_t>(linearized.FirstUnsetFrom(rank + 1));
      }
      new_last_set = std::max(last_set, rank);
    }
    if (!cache.Insert(linearized, next_state, new_first_unset, new_last_set)) {
      linearized.Toggle(rank);
      return false;
    }
    Lift(op);
    stack.push_back({op, state, first_unset, last_set, forced});
    if (stop_at_states) stack_ops.push_back(op);
    state = next_state;
    first_unset = new_first_unset;
    last_set = new_last_set;
    if (ret_node_[op] >= 0) --known_left;
    ++stats->states;
    if (stack.size() > stats->max_depth) {
      stats->max_depth = stack.size();
      stats->states_at_max_depth = stats->states;
    }
    node = next_[0];
    fresh = true;
    return true;
  };
  // Undoes choices up to the most recent one that has an alternative left; false if none.
  auto backtrack = [&] {
    while (!stack.empty()) {
      const Frame frame = stack.back();
      stack.pop_back();
      if (stop_at_states) stack_ops.pop_back();
      linearized.Toggle(rank_[frame.op]);
      state = frame.state_before;
      first_unset = frame.first_unset_before;
      last_set = frame.last_set_before;
      Unlift(frame.op);
      if (ret_node_[frame.op] >= 0) ++known_left;
      if (!frame.forced) {
        node = next_[call_node_[frame.op]];
        fresh = false;
        return true;
      }
    }
    return false;
  };

  SearchStatus status = SearchStatus::kNotLinearizable;
  while (true) {
    if (known_left == 0) {
      status = SearchStatus::kLinearizable;
      break;
    }
    if (limits.deadline && ++iterations % kClockInterval == 0 &&
        (*limits.clock)() > *limits.deadline) {
      status = SearchStatus::kOutOfTime;
      break;
    }
    bool pushed = false;
    if (fresh) {
      // A read-only op that is legal now can be linearized now: moving it earlier in any
      // linearization changes no state and breaks no real-time order (it is pending). So it
      // is the only choice worth trying here.
      fresh = false;
      const int32_t op = FindLegalReadOnlyCandidate(state);
      if (op >= 0) {
        pushed = push(op, state, /*forced=*/true);
        // A seen configuration was explored and failed, so this one fails too.
        if (!pushed && !backtrack()) break;
        if (!pushed) continue;
      }
    } else {
      const int32_t op = node_op_[node];
      CheckInvariant(op >= 0, "the scan stays inside the list while known ops are left");
      if (!node_is_call_[node]) {
        // `op` returned and was never linearized: undo the most recent choice.
        if (!backtrack()) break;
        continue;
      }
      // Read-only candidates are illegal here: the fresh scan of this configuration said so.
      if (!read_only_[op]) {
        const int32_t next_state = model_.Step(state, ops_[op]);
        // An op that may never take effect and would not change the state here adds nothing:
        // any completion after it is also one of the current configuration, leaving it out.
        const bool dominated = ret_node_[op] < 0 && next_state == state;
        pushed =
            next_state != Model::kIllegal && !dominated && push(op, next_state, /*forced=*/false);
      }
      if (!pushed) node = next_[node];
    }
    if (!pushed) continue;
    if (stop_at_states && stats->states == *stop_at_states) {
      *stuck = Snapshot(stack_ops, state);
      break;
    }
    if (limits.max_states != 0 && stats->states > limits.max_states) {
      status = SearchStatus::kOutOfStates;
      break;
    }
    if (limits.max_memory_bytes != 0 &&
        cache.memory_bytes() + model_.memory_bytes() > limits.max_memory_bytes) {
      status = SearchStatus::kOutOfMemory;
      break;
    }
  }
  // Leave the list as constructed so that ReplayTo() can search again.
  while (!stack.empty()) {
    Unlift(stack.back().op);
    stack.pop_back();
  }
  return status;
}

}  // namespace kvd::lincheck
