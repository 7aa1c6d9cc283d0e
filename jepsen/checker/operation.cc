// Copyright (c) kvd authors.

#include "jepsen/checker/operation.h"

#include <cstdio>

namespace kvd::lincheck {

std::string_view OpTypeName(OpType type) {
  switch (type) {
    case OpType::kRead:
      return "read";
    case OpType::kWrite:
      return "write";
    case OpType::kCas:
      return "cas";
    case OpType::kDelete:
      return "delete";
    case OpType::kAppend:
      return "append";
  }
  return "?";
}

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFail:
      return "fail";
    case Outcome::kUnknown:
      return "unknown";
  }
  return "?";
}

std::string FormatValue(const std::optional<std::string>& value) {
  if (!value.has_value()) return "nil";
  std::string out = "\"";
  for (unsigned char c : *value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

std::string FormatOperation(const Operation& op) {
  std::string out = "p" + std::to_string(op.process) + " ";
  out += OpTypeName(op.type);
  out += " key=" + FormatValue(op.key);
  if (op.type == OpType::kCas) out += " expected=" + FormatValue(op.expected);
  if (op.type == OpType::kWrite || op.type == OpType::kAppend || op.type == OpType::kCas) {
    out += " value=" + FormatValue(op.value);
  }
  if (op.type == OpType::kRead && op.outcome == Outcome::kOk) {
    out += " -> " + FormatValue(op.result);
  }
  out += " ";
  out += OutcomeName(op.outcome);
  out += " call=" + std::to_string(op.call);
  out += " ret=" + (op.outcome == Outcome::kUnknown ? std::string("inf") : std::to_string(op.ret));
  return out;
}

}  // namespace kvd::lincheck
