// Copyright (c) kvd authors.
//
// Model: the sequential specification of one key, used by the linearizability search
// (key_checker.h). States and argument strings are interned to small integer ids so that the
// search compares, hashes and stores states as int32_t.
//
// kRegister: the state is an optional string (id 0 = absent). kRead returns it, kWrite sets it,
//   kDelete makes it absent, kCas(expected, value) sets it to `value` iff it equals `expected`.
//   A kCas with outcome kFail is still a linearization point, at which state != expected.
//   kAppend is not part of this model.
// kAppendString: the state is a string, absent reads as "" (id 0 = ""). kRead returns it,
//   kWrite sets it, kAppend concatenates to it (Porcupine's kv model). kCas and kDelete are not
//   part of this model.
//
// A Model is owned by one key's search and is not thread-safe: Step() may intern new states.

#ifndef KVD_JEPSEN_CHECKER_MODEL_H_
#define KVD_JEPSEN_CHECKER_MODEL_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "jepsen/checker/operation.h"

namespace kvd::lincheck {

enum class ModelKind { kRegister, kAppendString };

// An Operation whose strings were replaced by interned ids (-1 where unused).
struct CompiledOp {
  OpType type = OpType::kRead;
  Outcome outcome = Outcome::kOk;
  int32_t value = -1;
  int32_t expected = -1;
  int32_t result = -1;
};

class Model {
 public:
  static constexpr int32_t kIllegal = -1;

  explicit Model(ModelKind kind);
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Interns op's strings into *out. Returns an error message, empty on success; fails when op
  // is not part of this model or lacks a required argument. Precondition: op is not a dropped
  // operation (a kFail non-cas or a kUnknown read), see checker.h.
  [[nodiscard]] std::string Compile(const Operation& op, CompiledOp* out);

  int32_t InitialState() const { return 0; }

  // True for ops whose Step() returns either `state` or kIllegal, in every state: reads and
  // failed cas. The search may linearize these greedily (wgl_search.h).
  static bool NeverChangesState(const CompiledOp& op) {
    return op.type == OpType::kRead || (op.type == OpType::kCas && op.outcome == Outcome::kFail);
  }

  // The state after applying op (with its recorded outcome) in `state`, or kIllegal if op could
  // not have produced its recorded outcome in `state`.
  int32_t Step(int32_t state, const CompiledOp& op);

  // The state as a report shows it (see FormatValue).
  std::string DescribeState(int32_t state) const;

  size_t interned_strings() const { return strings_.size(); }
  // Approximate heap bytes held by interned states and memos, for the memory budget.
  size_t memory_bytes() const { return memory_bytes_; }

 private:
  int32_t Intern(const std::optional<std::string>& value);
  int32_t InternString(std::string_view value);
  int32_t Append(int32_t state, int32_t value);

  const ModelKind kind_;
  // kRegister: strings_[0] is a placeholder for "absent". kAppendString: strings_[0] == "".
  // A deque, so that the string_views in ids_ stay valid as it grows.
  std::deque<std::string> strings_;
  std::unordered_map<std::string_view, int32_t> ids_;
  // (state << 32 | value) -> state after appending value; keeps Step() O(1) once seen.
  std::unordered_map<uint64_t, int32_t> append_memo_;
  size_t memory_bytes_ = 0;
};

}  // namespace kvd::lincheck

#endif  // KVD_JEPSEN_CHECKER_MODEL_H_
