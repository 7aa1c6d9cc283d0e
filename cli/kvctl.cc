// kvctl's command line (CLI11): flags, validation, and dispatch to kvctl_commands.cc.
#include "cli/kvctl.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "cli/kvctl_commands.h"
#include "cli/kvctl_lock_cli.h"
#include "cli/kvctl_txn_cli.h"

namespace kvd::cli {
namespace {

constexpr const char* kFooter = R"(Environment:
  KVCTL_ENDPOINTS   default for --endpoints (else 127.0.0.1:8080)

Exit codes:
  0  success
  1  not found, or precondition failed (version mismatch, conflict): nothing changed;
     txn --require-success: the compares did not hold
  2  usage error
  3  unavailable: no endpoint reachable, or the cluster answered 503/429 (nothing applied)
  4  outcome unknown: no answer within --timeout, or 504 (a write may have been applied)
  5  other error (server error, bad response, unreadable --file)
  6  lock run: the lock was lost while CMD ran; CMD was terminated (else: CMD's own status)

Writes are retried only when that cannot apply them twice: after a refused connection, a 503/429,
or, with --idempotency-key, after an unknown outcome (same key, exactly once).)";

struct Flags {
  std::string endpoints;
  std::string output = "text";
  std::string timeout = "5s";
  bool stale = false;
  int retries = 2;
};

int Usage(KvctlEnv& env, const std::string& message) {
  env.err << "kvctl: " << message << " (see kvctl --help)\n";
  return kExitUsage;
}

std::optional<std::vector<std::string>> ParseEndpoints(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size() ||
        item.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
      return std::nullopt;
    }
    out.push_back(item);
    start = comma + 1;
  }
  return out;
}

// The value of put/cas: VALUE, "-" (stdin) or --file F ("-" = stdin too).
bool ReadValue(KvctlEnv& env, const std::string& file, std::string& value, std::string& error) {
  if (file == "-") {
    value.assign(std::istreambuf_iterator<char>(env.in), std::istreambuf_iterator<char>());
    if (env.in.bad()) error = "cannot read the value from stdin";
    return !env.in.bad();
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    error = "cannot open value file " + file + ": " + std::strerror(errno);
    return false;
  }
  value.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) error = "cannot read value file " + file;
  return !in.bad();
}

std::optional<rpc::IdempotencyKey> IdempotencyFlag(CLI::App* cmd, const std::string& text,
                                                   bool& bad) {
  if (cmd->count("--idempotency-key") == 0) return std::nullopt;
  auto key = rpc::IdempotencyKey::Parse(text);
  bad = !key.has_value();
  return key;
}

int Run(int argc, const char* const* argv, KvctlEnv& env) {
  CLI::App app{"kvctl: command-line client for a kvd cluster (HTTP API v1)", "kvctl"};
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();  // global flags may also follow the command
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "kvctl: " + std::string(e.what()) + " (see kvctl --help)\n";
  });
  Flags f;
  app.add_option("--endpoints", f.endpoints,
                 "comma-separated host:port list, tried in order (default: $KVCTL_ENDPOINTS, "
                 "else 127.0.0.1:8080)");
  app.add_option("-o,--output", f.output, "output format: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--timeout", f.timeout,
                 "per-attempt request timeout: 500ms, 5s, 1m or seconds (default 5s)");
  app.add_flag("--stale", f.stale, "reads may be served by any replica (possibly behind)");
  app.add_option("--retries", f.retries,
                 "extra attempts after 503/429 and, for reads or idempotent writes, after an "
                 "unknown outcome (default 2)")
      ->check(CLI::Range(0, 100));

  PutCommand put_cmd;
  std::string put_value, put_file, idem_text;
  uint64_t if_version = 0;
  CLI::App* put = app.add_subcommand("put", "write VALUE (or --file, or - for stdin) to KEY");
  put->add_option("KEY", put_cmd.key, "the key")->required();
  put->add_option("VALUE", put_value, "the value; - reads stdin (use -- before values like -x)");
  put->add_option("--file", put_file, "read the value from a file (- for stdin)");
  put->add_option("--if-version", if_version, "only if the key's version is N (0: only if absent)");
  put->add_option("--idempotency-key", idem_text,
                  "ID:SEQ makes the write exactly-once; retried after an unknown outcome");
  std::string fence_text;
  put->add_option("--fence", fence_text,
                  "LOCK:TOKEN: apply only while TOKEN is current for LOCK (409 fenced otherwise)");

  std::string key;
  CLI::App* get = app.add_subcommand("get", "print KEY's value (-o json: with its versions)");
  get->add_option("KEY", key, "the key")->required();

  CLI::App* del = app.add_subcommand("del", "delete KEY (exit 1 if it did not exist)");
  del->add_option("KEY", key, "the key")->required();
  del->add_option("--if-version", if_version, "only if the key's version is N");
  del->add_option("--idempotency-key", idem_text, "ID:SEQ makes the delete exactly-once");
  del->add_option("--fence", fence_text, "LOCK:TOKEN: delete only while TOKEN is current");

  uint64_t expected = 0;
  std::string cas_value;
  CLI::App* cas = app.add_subcommand("cas", "set KEY to VALUE only if its version is EXPECTED");
  cas->add_option("KEY", key, "the key")->required();
  cas->add_option("EXPECTED_VERSION", expected, "the version KEY must have (0: absent)")
      ->required();
  cas->add_option("VALUE", cas_value, "the new value; - reads stdin")->required();
  cas->add_option("--idempotency-key", idem_text, "ID:SEQ makes the write exactly-once");

  ScanCommand scan_cmd;
  CLI::App* scan = app.add_subcommand(
      "scan", "list keys in order as KEY<TAB>VALUE; all matching keys unless --limit");
  scan->add_option("--prefix", scan_cmd.prefix, "only keys starting with P");
  scan->add_option("--after", scan_cmd.after, "only keys after K (to continue a listing)");
  scan->add_option("--limit", scan_cmd.limit, "at most N keys (then says how to continue)")
      ->check(CLI::PositiveNumber);

  CLI::App* cluster = app.add_subcommand("cluster", "cluster information");
  cluster->require_subcommand(1);
  CLI::App* status = cluster->add_subcommand(
      "status", "nodes and shards, with each shard's leader marked, and the directory's shards");

  RingCommand ring_cmd;
  CLI::App* ring = app.add_subcommand(
      "ring", "the shards in ring order with their shares of the hash space and of the keys");
  ring->add_flag("--points", ring_cmd.points,
                 "also list every arc of the ring (start, end, shard)");
  ring->add_option("--max-points", ring_cmd.max_points, "with --points: at most N arcs (0: all)");

  CLI::App* locate =
      app.add_subcommand("locate", "where KEY lives: its hash, shard, replicas and leader");
  locate->add_option("KEY", key, "the key")->required();

  LockFlags lock_flags;
  LockCommands locks = AddLockCommands(app, lock_flags);
  TxnFlags txn_flags;
  TxnCommands txns = AddTxnCommands(app, txn_flags);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    app.exit(e, env.out, env.err);
    return e.get_exit_code() == 0 ? kExitOk : kExitUsage;
  }

  std::string endpoints_text = f.endpoints;
  if (app.count("--endpoints") == 0) {
    endpoints_text = env.endpoints && !env.endpoints->empty() ? *env.endpoints : kDefaultEndpoint;
  }
  auto endpoints = ParseEndpoints(endpoints_text);
  if (!endpoints)
    return Usage(env, "bad endpoint list \"" + endpoints_text + "\": want host:port,...");
  auto timeout = ParseDuration(f.timeout);
  if (!timeout) return Usage(env, "bad --timeout \"" + f.timeout + "\": want e.g. 500ms, 5s, 1m");

  rpc::ClientOptions options;
  options.endpoints = *endpoints;
  options.request_timeout = *timeout;
  options.connect_timeout = std::min(*timeout, std::chrono::milliseconds(2000));
  options.max_attempts = f.retries + 1;
  // Key and lock commands go straight to the shard's leader (rpc/http_client.h, "Smart routing").
  options.smart_routing =
      put->parsed() || get->parsed() || del->parsed() || cas->parsed() || locks.lock->parsed();
  std::optional<LockCommand> lock_cmd;
  if (locks.lock->parsed()) {
    std::string error;
    lock_cmd = ParseLockCommand(locks, lock_flags, &error);
    if (!lock_cmd) return Usage(env, error);
    // An acquire answered 504 is retried with the same Idempotency-Key to learn its outcome.
    options.client_id = LockClientId();
  }
  std::optional<TxnCliCommand> txn_cmd;
  if (txns.txn->parsed()) {
    std::string error;
    txn_cmd = ParseTxnCommand(txns, txn_flags, &error);
    if (!txn_cmd) return Usage(env, error);
    if (!txn_cmd->list) {
      // Routed to the first key's shard leader; with its own Idempotency-Key, a single-shard
      // transaction answered 504 is resent to learn its outcome (rpc/http_client.h).
      options.smart_routing = true;
      options.client_id = LockClientId();
    }
  }
  rpc::HttpClient client(options);
  Session session{client, env, f.output == "json" ? Format::kJson : Format::kText, f.stale};

  for (CLI::App* write : {put, del, cas}) {
    bool bad = false;
    if (write->parsed()) put_cmd.idempotency = IdempotencyFlag(write, idem_text, bad);
    if (bad) return Usage(env, "bad --idempotency-key \"" + idem_text + "\": want ID:SEQ, SEQ > 0");
  }
  std::optional<rpc::LockFence> fence;
  if ((put->parsed() || del->parsed()) && !fence_text.empty()) {
    std::string error;
    fence = rpc::LockFence::Parse(fence_text, &error);
    if (!fence) return Usage(env, "bad --fence \"" + fence_text + "\": want LOCK:TOKEN; " + error);
  }
  put_cmd.fence = fence;
  if (lock_cmd) return RunLockCommand(session, *lock_cmd, options);
  if (txn_cmd) return RunTxnCommand(session, *txn_cmd);
  if (put->parsed()) {
    const bool has_value = put->count("VALUE") > 0, has_file = put->count("--file") > 0;
    if (has_value == has_file) return Usage(env, "put: give either VALUE or --file");
    std::string error;
    if (has_value && put_value != "-") {
      put_cmd.value = put_value;
    } else if (!ReadValue(env, has_file ? put_file : "-", put_cmd.value, error)) {
      env.err << "kvctl: " << error << "\n";
      return kExitError;
    }
    if (put->count("--if-version") > 0) put_cmd.if_version = if_version;
    return RunPut(session, put_cmd);
  }
  if (cas->parsed()) {
    PutCommand cmd{key, cas_value, expected, put_cmd.idempotency, std::nullopt};
    std::string error;
    if (cas_value == "-" && !ReadValue(env, "-", cmd.value, error)) {
      env.err << "kvctl: " << error << "\n";
      return kExitError;
    }
    return RunPut(session, cmd);
  }
  if (get->parsed()) return RunGet(session, key);
  if (del->parsed()) {
    std::optional<uint64_t> version;
    if (del->count("--if-version") > 0) version = if_version;
    return RunDelete(session, key, version, put_cmd.idempotency, fence);
  }
  if (scan->parsed()) return RunScan(session, scan_cmd);
  if (status->parsed()) return RunClusterStatus(session);
  if (ring->parsed()) return RunRing(session, ring_cmd);
  if (locate->parsed()) return RunLocate(session, key);
  return Usage(env, "no command");
}

}  // namespace

int RunKvctl(int argc, const char* const* argv, KvctlEnv& env) {
  try {
    return Run(argc, argv, env);
  } catch (const std::exception& e) {  // nothing should throw; never show a trace to the user
    env.err << "kvctl: internal error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace kvd::cli
