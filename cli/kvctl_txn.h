// kvctl's transaction commands (private to cli/; docs/api.md "Transactions", README "kvctl"):
// `txn` runs one transaction, given as the API's JSON body (-f FILE, - for stdin) or built from
// flags; `txn list` shows the in-doubt cross-shard transactions. The command line is in
// kvctl_txn_cli.h.
//
// The flags form, one argument per compare or op (quote each), in order:
//   --if 'KEY version=N'        the key's version is N (0: the key is absent)
//   --if 'KEY value=VALUE'      the key's value is VALUE (an absent key never matches)
//   --if 'KEY exists=true|false'
//   --then 'put KEY VALUE'      ops run if every --if holds (--else: if one does not)
//   --then 'del KEY'            (also 'delete KEY')
//   --then 'get KEY'
// KEY is one word (no spaces); VALUE is the rest of the argument, spaces included, possibly
// empty ('put k ' puts ""). Keys with spaces, and values that are not text: use -f (values as
// "value_base64"; the API takes keys only as JSON strings, so UTF-8).
//
// Output: text, the branch that ran and one line per op result; -o json: the server's answer as
// is. Exit codes (kvctl.h): 0 the transaction committed (whichever branch ran, unless
// --require-success: then 1 when the compares did not hold and the --else ops ran); 1 409
// conflict (other transactions held its keys: nothing changed, retry) or fenced; 3 unavailable
// (nothing applied); 4 outcome unknown (504, no answer: it may or may not have committed); 5
// other errors (a body the server refused, an unreadable -f file).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/kvctl_commands.h"
#include "rpc/http_client.h"

namespace kvd::cli {

// One --if argument as a compare; nullopt with the reason in *error.
std::optional<rpc::TxnCompare> ParseTxnCompare(std::string_view text, std::string* error);
// One --then/--else argument as an op; nullopt with the reason in *error.
std::optional<rpc::TxnOp> ParseTxnOp(std::string_view text, std::string* error);

struct TxnCommand {
  std::string file;              // -f: the JSON body from this file ("-": stdin); empty: flags
  rpc::TxnRequest txn;           // the flags form
  bool require_success = false;  // exit 1 when the failure branch ran
  std::optional<rpc::IdempotencyKey> idempotency;
  std::optional<rpc::LockFence> fence;
};

// The command from the flags form (`ifs`, `thens`, `elses`) or `file`; nullopt with a usage
// message in *error (both forms, neither, or a malformed argument).
std::optional<TxnCommand> BuildTxnCommand(const std::string& file,
                                          const std::vector<std::string>& ifs,
                                          const std::vector<std::string>& thens,
                                          const std::vector<std::string>& elses,
                                          std::string* error);

int RunTxn(Session& s, const TxnCommand& cmd);
// One page of at most `limit` (0: the server's default, 100) in-doubt transactions, oldest first.
int RunTxnList(Session& s, size_t limit);

// Maps a failed transaction call to its exit code and prints the one-line explanation.
int ReportTxnFailure(Session& s, const rpc::Result& r);

}  // namespace kvd::cli
