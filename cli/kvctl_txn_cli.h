// kvctl's `txn` command line (CLI11; private to cli/, included by kvctl.cc only): the subcommand,
// its flags, their validation, and dispatch to kvctl_txn.h.
//
//   kvctl txn -f FILE|- [--idempotency-key ID:SEQ] [--fence LOCK:TOKEN] [--require-success]
//   kvctl txn [--if COND]... [--then OP]... [--else OP]... [same flags]
//   kvctl txn list [--limit N]
//
// COND and OP: kvctl_txn.h. Without --idempotency-key, kvctl gives the transaction one of its own
// (a single-shard transaction is then resent after an unknown outcome, exactly once).
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "cli/kvctl_txn.h"

namespace kvd::cli {

// What the txn subcommands parse into (owned by the caller, bound by AddTxnCommands).
struct TxnFlags {
  std::string file;
  std::vector<std::string> ifs;
  std::vector<std::string> thens;
  std::vector<std::string> elses;
  std::string idempotency_key;
  std::string fence;
  bool require_success = false;
  size_t limit = 0;
};

struct TxnCommands {
  CLI::App* txn;
  CLI::App* list;
};

TxnCommands AddTxnCommands(CLI::App& app, TxnFlags& flags);

// One txn command, validated.
struct TxnCliCommand {
  bool list = false;
  size_t limit = 0;  // list
  TxnCommand txn;    // otherwise
};

// The parsed txn command (after CLI::App::parse), or nullopt with a usage message in *error.
std::optional<TxnCliCommand> ParseTxnCommand(const TxnCommands& commands, const TxnFlags& flags,
                                             std::string* error);

int RunTxnCommand(Session& s, const TxnCliCommand& cmd);

}  // namespace kvd::cli
