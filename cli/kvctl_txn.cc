// kvctl txn and txn list: parse the flags form, send, print, exit code (kvctl_txn.h).
#include "cli/kvctl_txn.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <ostream>

namespace kvd::cli {
namespace {

// "KEY rest": the first word and what follows its space; false if there is no space or no key.
bool SplitWord(std::string_view text, std::string_view& word, std::string_view& rest) {
  const size_t space = text.find(' ');
  if (space == std::string_view::npos || space == 0) return false;
  word = text.substr(0, space);
  rest = text.substr(space + 1);
  return true;
}

std::optional<uint64_t> ParseVersion(std::string_view text) {
  if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != text.npos) {
    return std::nullopt;
  }
  uint64_t out = 0;
  for (char c : text) {
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (out > (UINT64_MAX - digit) / 10) return std::nullopt;
    out = out * 10 + digit;
  }
  return out;
}

bool ReadFile(KvctlEnv& env, const std::string& file, std::string& body, std::string& error) {
  if (file == "-") {
    body.assign(std::istreambuf_iterator<char>(env.in), std::istreambuf_iterator<char>());
    if (env.in.bad()) error = "cannot read the transaction from stdin";
    return !env.in.bad();
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    error = "cannot open transaction file " + file + ": " + std::strerror(errno);
    return false;
  }
  body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) error = "cannot read transaction file " + file;
  return !in.bad();
}

const char* OpName(rpc::TxnOpType type) {
  switch (type) {
    case rpc::TxnOpType::kPut:
      return "put";
    case rpc::TxnOpType::kDelete:
      return "del";
    case rpc::TxnOpType::kGet:
      break;
  }
  return "get";
}

void PrintResult(Session& s, const rpc::TxnResult& r) {
  std::ostream& out = s.env.out;
  if (s.format == Format::kJson) {
    out << r.body << (r.body.empty() || r.body.back() != '\n' ? "\n" : "");
    return;
  }
  out << (r.succeeded ? "succeeded" : "failed (the compares did not hold; the --else ops ran)")
      << " revision=" << r.revision.value_or(0) << " shards=" << JoinIds(r.shards, std::nullopt);
  if (!r.txn_id.empty()) out << " txn_id=" << Printable(r.txn_id);
  out << "\n";
  for (const rpc::TxnOpResult& op : r.results) {
    out << OpName(op.type) << " " << Printable(op.key);
    switch (op.type) {
      case rpc::TxnOpType::kPut:
        out << " version=" << op.version;
        break;
      case rpc::TxnOpType::kDelete:
        out << " deleted=" << (op.deleted ? "true" : "false");
        break;
      case rpc::TxnOpType::kGet:
        if (op.found) {
          out << " version=" << op.version << " value=" << Printable(op.value);
        } else {
          out << " not found";
        }
        break;
    }
    out << "\n";
  }
}

}  // namespace

std::optional<rpc::TxnCompare> ParseTxnCompare(std::string_view text, std::string* error) {
  std::string_view key, condition;
  if (!SplitWord(text, key, condition) || condition.find('=') == std::string_view::npos) {
    *error = "bad --if \"" + Printable(text) +
             "\": want 'KEY version=N', 'KEY value=VALUE' or 'KEY exists=true|false'";
    return std::nullopt;
  }
  const std::string_view field = condition.substr(0, condition.find('='));
  const std::string_view operand = condition.substr(field.size() + 1);
  rpc::TxnCompare c;
  c.key = std::string(key);
  if (field == "version") {
    std::optional<uint64_t> version = ParseVersion(operand);
    if (!version) {
      *error = "bad --if \"" + Printable(text) + "\": version=N wants N a non-negative integer";
      return std::nullopt;
    }
    c.target = rpc::TxnCompare::Target::kVersion;
    c.version = *version;
  } else if (field == "value") {
    c.target = rpc::TxnCompare::Target::kValue;
    c.value = std::string(operand);
  } else if (field == "exists" && (operand == "true" || operand == "false")) {
    c.target = rpc::TxnCompare::Target::kExists;
    c.exists = operand == "true";
  } else {
    *error = "bad --if \"" + Printable(text) +
             "\": want 'KEY version=N', 'KEY value=VALUE' or 'KEY exists=true|false'";
    return std::nullopt;
  }
  return c;
}

std::optional<rpc::TxnOp> ParseTxnOp(std::string_view text, std::string* error) {
  auto fail = [&] {
    *error = "bad op \"" + Printable(text) + "\": want 'put KEY VALUE', 'del KEY' or 'get KEY'";
    return std::nullopt;
  };
  std::string_view verb, rest;
  if (!SplitWord(text, verb, rest) || rest.empty()) return fail();
  rpc::TxnOp op;
  if (verb == "put") {
    std::string_view key, value;
    if (!SplitWord(rest, key, value)) return fail();
    op.type = rpc::TxnOpType::kPut;
    op.key = std::string(key);
    op.value = std::string(value);
    return op;
  }
  if (verb != "get" && verb != "del" && verb != "delete") return fail();
  if (rest.find(' ') != std::string_view::npos) return fail();  // KEY is one word
  op.type = verb == "get" ? rpc::TxnOpType::kGet : rpc::TxnOpType::kDelete;
  op.key = std::string(rest);
  return op;
}

std::optional<TxnCommand> BuildTxnCommand(const std::string& file,
                                          const std::vector<std::string>& ifs,
                                          const std::vector<std::string>& thens,
                                          const std::vector<std::string>& elses,
                                          std::string* error) {
  const bool flags = !ifs.empty() || !thens.empty() || !elses.empty();
  if (flags == !file.empty()) {
    *error = flags ? "txn: give either -f FILE or --if/--then/--else, not both"
                   : "txn: give -f FILE (- for stdin) or at least one --if, --then or --else";
    return std::nullopt;
  }
  TxnCommand cmd;
  cmd.file = file;
  for (const std::string& text : ifs) {
    std::optional<rpc::TxnCompare> c = ParseTxnCompare(text, error);
    if (!c) return std::nullopt;
    cmd.txn.compare.push_back(std::move(*c));
  }
  auto add_ops = [&](const std::vector<std::string>& texts, std::vector<rpc::TxnOp>& ops) {
    for (const std::string& text : texts) {
      std::optional<rpc::TxnOp> op = ParseTxnOp(text, error);
      if (!op) return false;
      ops.push_back(std::move(*op));
    }
    return true;
  };
  if (!add_ops(thens, cmd.txn.success) || !add_ops(elses, cmd.txn.failure)) return std::nullopt;
  return cmd;
}

int ReportTxnFailure(Session& s, const rpc::Result& r) {
  std::ostream& err = s.env.err;
  if (r.indeterminate) {
    std::string why = r.transport == rpc::Transport::kOk
                          ? r.endpoint + " answered " + std::to_string(r.status)
                          : r.transport_error;
    if (r.transport == rpc::Transport::kOk && !r.error_message.empty()) {
      why += " (" + Printable(r.error_message) + ")";
    }
    err << "kvctl: transaction outcome unknown: " << why
        << "; it may or may not have committed (read its keys to learn the outcome)\n";
    return kExitUnknownOutcome;
  }
  if (r.transport == rpc::Transport::kOk && r.status == 409) {
    std::string detail = r.error_code;
    if (!r.error_message.empty()) detail += ": " + Printable(r.error_message);
    if (r.error_code == "conflict") {
      err << "kvctl: transaction conflict (" << detail
          << "): other transactions held its keys; nothing was changed, retry\n";
    } else if (r.error_code == "fenced") {
      err << "kvctl: transaction fenced (" << detail
          << "): the lock has moved on; nothing was changed\n";
    } else {
      err << "kvctl: transaction refused (" << detail << "); nothing was changed\n";
    }
    return kExitNotFound;
  }
  return ReportFailure(s, r, "", /*is_write=*/true);
}

int RunTxn(Session& s, const TxnCommand& cmd) {
  rpc::TxnResult r;
  if (!cmd.file.empty()) {
    std::string body, error;
    if (!ReadFile(s.env, cmd.file, body, error)) {
      s.env.err << "kvctl: " << error << "\n";
      return kExitError;
    }
    r = s.client.TxnJson(body, cmd.idempotency, cmd.fence);
  } else {
    r = s.client.Txn(cmd.txn, cmd.idempotency, cmd.fence);
  }
  if (!r.ok()) return ReportTxnFailure(s, r);
  PrintResult(s, r);
  if (!r.succeeded && cmd.require_success) {
    s.env.err << "kvctl: the compares did not hold (the --else ops ran; --require-success)\n";
    return kExitNotFound;
  }
  return kExitOk;
}

int RunTxnList(Session& s, size_t limit) {
  rpc::TxnListResult r = s.client.TxnList(limit);
  if (!r.ok()) return ReportFailure(s, r, "", /*is_write=*/false);
  if (s.format == Format::kJson) {
    s.env.out << r.body << (r.body.empty() || r.body.back() != '\n' ? "\n" : "");
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "STATE", "AGE_MS", "EXPIRES_IN_MS", "RECORD_SHARD", "PARTICIPANTS"}};
  for (const rpc::TxnInfo& t : r.txns) {
    rows.push_back({Printable(t.id), Printable(t.state), std::to_string(t.age_ms),
                    std::to_string(t.expires_in_ms), std::to_string(t.record_shard),
                    JoinIds(t.participants, std::nullopt)});
  }
  PrintTable(s.env.out, rows);
  if (r.more) {
    s.env.err << "kvctl: more in-doubt transactions exist (oldest shown); raise --limit (at most "
                 "1000)\n";
  }
  return kExitOk;
}

}  // namespace kvd::cli
