// Copyright (c) kvd authors.
//
// The Wing-Gong-Lowe linearizability search over one key's compiled operations (G. Lowe,
// "Testing for linearizability", Concurrency and Computation 29(4), 2017, section 3).
//
// Call and return events sit in one doubly linked list in time order (calls before returns at
// equal times). The search walks the list from the front: a call event whose operation the
// model accepts in the current state is linearized (removed with its return event, pushed on
// a stack) unless the resulting configuration is already in the memo; reaching a return event
// means that operation should have been linearized already, so the search backtracks. Ops
// with outcome kUnknown have no return event (ret = +infinity); the history is linearizable
// as soon as every other op is linearized, since the unknown ones can be put at the end (or
// dropped, which a kUnknown outcome allows).
//
// One reduction on top of Lowe's algorithm: an op that never changes the state (a read, a
// failed cas) and is legal in the current configuration is linearized at once, and if that
// fails the configuration fails, without trying the other candidates. Moving such an op to
// the front of any linearization from here keeps every state and real-time order (it is
// pending, so everything left returns after its call), so nothing is lost. Reads are half of
// a typical history, and their interleavings would otherwise multiply the search. And an op
// with outcome kUnknown that would leave the state unchanged is not tried: the configuration
// with it linearized is dominated by the current one, where it can still take effect later or
// never.
//
// A WglSearch borrows `ops`, `calls`, `rets` and `model` for its lifetime; single-threaded.

#ifndef KVD_JEPSEN_CHECKER_WGL_SEARCH_H_
#define KVD_JEPSEN_CHECKER_WGL_SEARCH_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "jepsen/checker/model.h"

namespace kvd::lincheck {

enum class SearchStatus { kLinearizable, kNotLinearizable, kOutOfTime, kOutOfStates, kOutOfMemory };

struct SearchLimits {
  uint64_t max_states = 0;      // 0 = unlimited.
  size_t max_memory_bytes = 0;  // Memo plus model; 0 = unlimited.
  std::optional<std::chrono::steady_clock::time_point> deadline{};
  const std::function<std::chrono::steady_clock::time_point()>* clock = nullptr;  // Required
                                                                                  // with deadline.
};

struct SearchStats {
  uint64_t states = 0;               // Configurations pushed (each one new to the memo).
  size_t max_depth = 0;              // Most operations linearized at once.
  uint64_t states_at_max_depth = 0;  // `states` when max_depth was first reached.
};

// Where a failed search got stuck (see WglSearch::ReplayTo).
struct StuckPoint {
  std::vector<int32_t> prefix{};   // Linearized ops, in linearization order.
  int32_t state = 0;               // Model state after `prefix`.
  std::vector<int32_t> pending{};  // Ops invoked before `blocker` returned, not in `prefix`.
  int32_t blocker = -1;            // The first op whose return event the search reached.
};

class WglSearch {
 public:
  // Preconditions: equal sizes; rets[i] >= calls[i] unless ops[i] is kUnknown.
  WglSearch(const std::vector<CompiledOp>& ops, const std::vector<int64_t>& calls,
            const std::vector<int64_t>& rets, Model& model);
  WglSearch(const WglSearch&) = delete;
  WglSearch& operator=(const WglSearch&) = delete;

  // Runs the full search. Call once.
  SearchStatus Run(const SearchLimits& limits, SearchStats* stats);

  // After Run() returned kNotLinearizable: replays the search, which is deterministic, until
  // it first reaches `stats.max_depth` and returns that configuration. No operation in
  // `pending` (which includes `blocker`) can be applied in `state`, except kUnknown ones that
  // would leave it unchanged: if one could, the search would have gone deeper.
  StuckPoint ReplayTo(const SearchStats& stats);

 private:
  // Stops (returns kNotLinearizable with *stuck filled) after `stop_at_states` pushes.
  SearchStatus Search(const SearchLimits& limits, SearchStats* stats,
                      std::optional<uint64_t> stop_at_states, StuckPoint* stuck);
  // The first pending op that never changes state and is legal in `state`, or -1.
  int32_t FindLegalReadOnlyCandidate(int32_t state);
  void Lift(int32_t op);
  void Unlift(int32_t op);
  StuckPoint Snapshot(const std::vector<int32_t>& stack_ops, int32_t state) const;

  const std::vector<CompiledOp>& ops_;
  Model& model_;
  // Event list: node 0 is the head sentinel, node size-1 the tail sentinel.
  std::vector<int32_t> next_;
  std::vector<int32_t> prev_;
  std::vector<int32_t> node_op_;
  std::vector<uint8_t> node_is_call_;
  std::vector<int32_t> call_node_;
  std::vector<int32_t> ret_node_;   // -1 for kUnknown ops.
  std::vector<uint8_t> read_only_;  // Model::NeverChangesState(ops_[op]).
  std::vector<int32_t> rank_;       // The op's bit in LinearizedSet, see the constructor.
  size_t known_ops_ = 0;
  size_t prefix_words_ = 0;  // Words of bits that hold unknown-outcome ops.
  size_t num_ranks_ = 0;
};

}  // namespace kvd::lincheck

#endif  // KVD_JEPSEN_CHECKER_WGL_SEARCH_H_
