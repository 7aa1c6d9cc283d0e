// Copyright (c) kvd authors.

#include "jepsen/checker/porcupine_format.h"

#include <charconv>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>

#include "jepsen/checker/edn_map.h"

namespace kvd::lincheck {

namespace {

std::string_view Trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Splits off the first whitespace-delimited token of *s.
std::string_view NextToken(std::string_view* s) {
  *s = Trim(*s);
  const size_t end = s->find_first_of(" \t");
  const std::string_view token = s->substr(0, end);
  s->remove_prefix(token.size());
  return token;
}

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<std::string> NilOr(std::string_view s) {
  if (s == "nil") return std::nullopt;
  return std::string(s);
}

std::optional<Outcome> CompletionOutcome(std::string_view type) {
  if (type == ":ok") return Outcome::kOk;
  if (type == ":fail") return Outcome::kFail;
  if (type == ":info") return Outcome::kUnknown;
  return std::nullopt;
}

// Pairs invocations with completions per process.
class HistoryBuilder {
 public:
  std::string Invoke(int64_t process, Operation op, int64_t time) {
    if (pending_.contains(process)) return "process invoked twice without completing";
    op.process = process;
    op.call = time;
    op.outcome = Outcome::kUnknown;
    pending_[process] = ops_.size();
    ops_.push_back(std::move(op));
    return "";
  }

  std::string Complete(int64_t process, OpType type, Outcome outcome,
                       std::optional<std::string> value, int64_t time) {
    auto it = pending_.find(process);
    if (it == pending_.end()) return "completion without an invocation";
    Operation& op = ops_[it->second];
    pending_.erase(it);
    if (op.type != type) return "completion of a different operation than invoked";
    op.outcome = outcome;
    op.ret = time;
    if (type == OpType::kRead && outcome == Outcome::kOk) op.result = std::move(value);
    return "";
  }

  // Invocations never completed stay kUnknown.
  std::vector<Operation> Finish() { return std::move(ops_); }

 private:
  std::vector<Operation> ops_;
  std::unordered_map<int64_t, size_t> pending_;
};

// Calls parse_line(line, line_number) for every line; stops at the first error.
template <typename ParseLine>
ParsedHistory ParseLines(std::string_view text, HistoryBuilder& builder, ParseLine parse_line) {
  int64_t line_number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_number;
    std::string error = parse_line(Trim(line), line_number);
    if (!error.empty()) {
      return ParsedHistory{.error = "line " + std::to_string(line_number) + ": " + error};
    }
  }
  return ParsedHistory{.history = builder.Finish()};
}

std::string ParseJepsenLine(std::string_view line, int64_t time, HistoryBuilder& builder) {
  static constexpr std::string_view kMarker = "jepsen.util - ";
  const size_t marker = line.find(kMarker);
  if (marker == std::string_view::npos) return "";
  std::string_view rest = line.substr(marker + kMarker.size());
  const std::string_view process_token = NextToken(&rest);
  if (process_token.starts_with(':')) return "";  // :nemesis and other non-client processes.
  const std::optional<int64_t> process = ParseInt(process_token);
  if (!process) return "bad process \"" + std::string(process_token) + "\"";
  const std::string_view type = NextToken(&rest);
  const std::string_view f = NextToken(&rest);
  const std::string_view value = Trim(rest);

  OpType op_type;
  if (f == ":read") {
    op_type = OpType::kRead;
  } else if (f == ":write") {
    op_type = OpType::kWrite;
  } else if (f == ":cas") {
    op_type = OpType::kCas;
  } else {
    return "unknown function \"" + std::string(f) + "\"";
  }
  if (type == ":invoke") {
    Operation op{.key = std::string(kJepsenRegisterKey), .type = op_type};
    if (op_type == OpType::kWrite) {
      op.value = NilOr(value);
      if (!op.value) return "write without a value";
    } else if (op_type == OpType::kCas) {
      if (value.size() < 2 || value.front() != '[' || value.back() != ']') {
        return "cas argument is not [FROM TO]";
      }
      std::string_view args = value.substr(1, value.size() - 2);
      const std::string_view from = NextToken(&args);
      const std::string_view to = NextToken(&args);
      if (from.empty() || to.empty() || !Trim(args).empty()) {
        return "cas argument is not [FROM TO]";
      }
      op.expected = NilOr(from);
      op.value = NilOr(to);
    }
    return builder.Invoke(*process, std::move(op), time);
  }
  const std::optional<Outcome> outcome = CompletionOutcome(type);
  if (!outcome) return "unknown event type \"" + std::string(type) + "\"";
  return builder.Complete(*process, op_type, *outcome, NilOr(value), time);
}

// Returns the field's text if it is a string (or an integer, printed), else nullopt.
std::optional<std::string> TextField(const EdnMap& map, std::string_view name) {
  auto it = map.find(name);
  if (it == map.end()) return std::nullopt;
  switch (it->second.kind) {
    case EdnValue::Kind::kString:
      return it->second.text;
    case EdnValue::Kind::kInteger:
      return std::to_string(it->second.integer);
    default:
      return std::nullopt;
  }
}

std::string ParseKvLine(std::string_view line, int64_t time, HistoryBuilder& builder) {
  if (line.empty()) return "";
  EdnMap map;
  if (std::string error = ParseEdnMap(line, &map); !error.empty()) return error;
  const auto process = map.find(":process");
  const auto type = map.find(":type");
  const auto f = map.find(":f");
  if (process == map.end() || process->second.kind != EdnValue::Kind::kInteger) {
    return "missing integer :process";
  }
  if (type == map.end() || type->second.kind != EdnValue::Kind::kKeyword) return "missing :type";
  if (f == map.end() || f->second.kind != EdnValue::Kind::kKeyword) return "missing :f";
  const std::optional<std::string> key = TextField(map, ":key");
  if (!key) return "missing :key";
  const std::optional<std::string> value = TextField(map, ":value");

  OpType op_type;
  if (f->second.text == ":get") {
    op_type = OpType::kRead;
  } else if (f->second.text == ":put") {
    op_type = OpType::kWrite;
  } else if (f->second.text == ":append") {
    op_type = OpType::kAppend;
  } else {
    return "unknown function \"" + f->second.text + "\"";
  }
  if (type->second.text == ":invoke") {
    Operation op{.key = *key, .type = op_type};
    if (op_type != OpType::kRead) {
      if (!value) return "put/append without a string :value";
      op.value = value;
    }
    return builder.Invoke(process->second.integer, std::move(op), time);
  }
  const std::optional<Outcome> outcome = CompletionOutcome(type->second.text);
  if (!outcome) return "unknown :type \"" + type->second.text + "\"";
  return builder.Complete(process->second.integer, op_type, *outcome, value, time);
}

}  // namespace

ParsedHistory ParseJepsenRegisterLog(std::string_view text) {
  HistoryBuilder builder;
  return ParseLines(text, builder, [&](std::string_view line, int64_t time) {
    return ParseJepsenLine(line, time, builder);
  });
}

ParsedHistory ParseKvLog(std::string_view text) {
  HistoryBuilder builder;
  return ParseLines(text, builder, [&](std::string_view line, int64_t time) {
    return ParseKvLine(line, time, builder);
  });
}

}  // namespace kvd::lincheck
