// Copyright (c) kvd authors.

#include "jepsen/checker/model.h"

namespace kvd::lincheck {

Model::Model(ModelKind kind) : kind_(kind) {
  strings_.emplace_back();
  // In kRegister id 0 is "absent" and "" (present, empty) gets its own id; in kAppendString
  // the two are the same state.
  if (kind_ == ModelKind::kAppendString) ids_.emplace(strings_[0], 0);
}

int32_t Model::InternString(std::string_view value) {
  auto it = ids_.find(value);
  if (it != ids_.end()) return it->second;
  const auto id = static_cast<int32_t>(strings_.size());
  const std::string& stored = strings_.emplace_back(value);
  ids_.emplace(stored, id);
  // The string, its hash node and bucket, roughly.
  memory_bytes_ += sizeof(std::string) + stored.capacity() + 48;
  return id;
}

int32_t Model::Intern(const std::optional<std::string>& value) {
  return value.has_value() ? InternString(*value) : 0;
}

std::string Model::Compile(const Operation& op, CompiledOp* out) {
  *out = CompiledOp{.type = op.type, .outcome = op.outcome};
  const bool is_register = kind_ == ModelKind::kRegister;
  if (op.outcome == Outcome::kFail && op.type != OpType::kCas) {
    return "a failed non-cas operation has no effect and must be dropped";
  }
  switch (op.type) {
    case OpType::kRead:
      if (op.outcome != Outcome::kOk) return "only kOk reads carry information";
      out->result = Intern(op.result);
      return "";
    case OpType::kWrite:
    case OpType::kAppend:
      if (op.type == OpType::kAppend && is_register) return "kAppend is not a register operation";
      if (!op.value.has_value()) return "a write/append needs a value";
      out->value = Intern(op.value);
      return "";
    case OpType::kDelete:
      if (!is_register) return "kDelete is not an append-string operation";
      return "";
    case OpType::kCas:
      if (!is_register) return "kCas is not an append-string operation";
      out->expected = Intern(op.expected);
      out->value = Intern(op.value);
      return "";
  }
  return "unknown operation type";
}

int32_t Model::Append(int32_t state, int32_t value) {
  const uint64_t memo_key = (static_cast<uint64_t>(state) << 32) | static_cast<uint32_t>(value);
  auto it = append_memo_.find(memo_key);
  if (it != append_memo_.end()) return it->second;
  std::string next;
  next.reserve(strings_[state].size() + strings_[value].size());
  next.append(strings_[state]).append(strings_[value]);
  const int32_t id = InternString(next);
  append_memo_.emplace(memo_key, id);
  memory_bytes_ += 32;
  return id;
}

int32_t Model::Step(int32_t state, const CompiledOp& op) {
  switch (op.type) {
    case OpType::kRead:
      return state == op.result ? state : kIllegal;
    case OpType::kWrite:
      return op.value;
    case OpType::kDelete:
      return 0;
    case OpType::kAppend:
      return Append(state, op.value);
    case OpType::kCas:
      switch (op.outcome) {
        case Outcome::kOk:
          return state == op.expected ? op.value : kIllegal;
        case Outcome::kFail:
          return state != op.expected ? state : kIllegal;
        case Outcome::kUnknown:
          return state == op.expected ? op.value : state;
      }
  }
  return kIllegal;
}

std::string Model::DescribeState(int32_t state) const {
  if (state == 0 && kind_ == ModelKind::kRegister) return "nil";
  return FormatValue(strings_[state]);
}

}  // namespace kvd::lincheck
