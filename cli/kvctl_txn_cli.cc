#include "cli/kvctl_txn_cli.h"

namespace kvd::cli {
namespace {

constexpr const char* kTxnFooter =
    R"(A transaction: the --if compares, then the --then ops if every compare holds, else the
--else ops; atomic over keys in any shards (docs/api.md, Transactions). -f FILE sends the
JSON body of POST /v1/txn as is (- reads stdin); otherwise the flags build it, in order:

  --if 'KEY version=N'          the key's version is N (0: the key is absent)
  --if 'KEY value=VALUE'        the key's value is VALUE (an absent key never matches)
  --if 'KEY exists=true|false'
  --then/--else 'put KEY VALUE' | 'del KEY' | 'get KEY'

KEY is one word; VALUE is the rest of the argument (spaces kept; 'put k ' puts an empty
value). Keys with spaces, and values that are not text: use -f ("value_base64").

  kvctl txn --if 'a version=3' --if 'b value=x' --if 'c exists=false' \
            --then 'put a 1' --then 'del b' --then 'get c' --else 'get a'

Prints the branch that ran and each op's result (-o json: the server's answer).
Exit codes: 0 committed (either branch; with --require-success 1 if the --else ops ran),
1 conflict (other transactions held its keys; nothing changed, retry) or fenced,
2 usage, 3 unavailable (nothing applied), 4 outcome unknown (504 or no answer: it may
have committed; read the keys), 5 other errors.)";

}  // namespace

TxnCommands AddTxnCommands(CLI::App& app, TxnFlags& f) {
  TxnCommands c{};
  c.txn = app.add_subcommand(
      "txn",
      "run a transaction: compares, then one of two lists of ops, atomically (-f FILE or "
      "--if/--then/--else); `txn list`: in-doubt transactions");
  c.txn->footer(kTxnFooter);
  c.txn->require_subcommand(0, 1);
  c.txn->add_option("-f,--file", f.file, "the JSON body of POST /v1/txn (- for stdin)");
  c.txn->add_option("--if", f.ifs, "a compare: 'KEY version=N', 'KEY value=V', 'KEY exists=B'")
      ->allow_extra_args(false);
  c.txn->add_option("--then", f.thens, "an op if every compare holds: 'put K V', 'del K', 'get K'")
      ->allow_extra_args(false);
  c.txn->add_option("--else", f.elses, "an op if a compare does not hold (same forms)")
      ->allow_extra_args(false);
  c.txn->add_option("--idempotency-key", f.idempotency_key,
                    "ID:SEQ (default: one of kvctl's own); a single-shard transaction is then "
                    "exactly-once");
  c.txn->add_option("--fence", f.fence,
                    "LOCK:TOKEN: every key it writes is fenced (409 fenced, nothing applied)");
  c.txn->add_flag("--require-success", f.require_success,
                  "exit 1 when the compares did not hold (the --else ops ran)");
  c.list = c.txn->add_subcommand(
      "list", "in-doubt cross-shard transactions, oldest first: id, state, age, participants");
  c.list->add_option("--limit", f.limit, "at most N, 1 to 1000 (default 100)")
      ->check(CLI::Range(1, 1000));
  return c;
}

std::optional<TxnCliCommand> ParseTxnCommand(const TxnCommands& c, const TxnFlags& f,
                                             std::string* error) {
  TxnCliCommand cmd;
  if (c.list->parsed()) {
    if (!f.file.empty() || !f.ifs.empty() || !f.thens.empty() || !f.elses.empty() ||
        !f.idempotency_key.empty() || !f.fence.empty() || f.require_success) {
      *error = "txn list takes only --limit";
      return std::nullopt;
    }
    cmd.list = true;
    cmd.limit = f.limit;
    return cmd;
  }
  std::optional<TxnCommand> txn = BuildTxnCommand(f.file, f.ifs, f.thens, f.elses, error);
  if (!txn) return std::nullopt;
  if (c.txn->count("--idempotency-key") > 0) {
    txn->idempotency = rpc::IdempotencyKey::Parse(f.idempotency_key);
    if (!txn->idempotency) {
      *error = "bad --idempotency-key \"" + f.idempotency_key + "\": want ID:SEQ, SEQ > 0";
      return std::nullopt;
    }
  }
  if (c.txn->count("--fence") > 0) {
    std::string why;
    txn->fence = rpc::LockFence::Parse(f.fence, &why);
    if (!txn->fence) {
      *error = "bad --fence \"" + f.fence + "\": want LOCK:TOKEN; " + why;
      return std::nullopt;
    }
  }
  txn->require_success = f.require_success;
  cmd.txn = std::move(*txn);
  return cmd;
}

int RunTxnCommand(Session& s, const TxnCliCommand& cmd) {
  return cmd.list ? RunTxnList(s, cmd.limit) : RunTxn(s, cmd.txn);
}

}  // namespace kvd::cli
