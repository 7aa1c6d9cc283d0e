// kvctl's `lock` command line (CLI11; private to cli/, included by kvctl.cc only): the
// subcommands and their flags, their validation, and dispatch to kvctl_lock.h.
//
//   kvctl lock acquire NAME [--owner O] [--ttl 10s] [--wait 0s]   prints the token
//   kvctl lock keepalive NAME TOKEN
//   kvctl lock release NAME TOKEN
//   kvctl lock get NAME
//   kvctl lock list [--after NAME] [--limit N]
//   kvctl lock run NAME [--owner O] [--ttl 10s] [--wait 30s] -- CMD ARGS...
//
// --ttl: 100ms to 1h; --wait: 0 to 5m (docs/api.md). --owner defaults to host:pid.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/kvctl_lock.h"

namespace kvd::cli {

// What the lock subcommands parse into (owned by the caller, bound by AddLockCommands).
struct LockFlags {
  std::string name;
  std::string owner;
  std::string ttl = "10s";
  std::string wait;  // empty: the subcommand's default (acquire 0s, run 30s)
  uint64_t token = 0;
  std::string after;
  size_t limit = 0;
  std::vector<std::string> argv;  // run: CMD ARGS...
};

struct LockCommands {
  CLI::App* lock;
  CLI::App* acquire;
  CLI::App* keepalive;
  CLI::App* release;
  CLI::App* get;
  CLI::App* list;
  CLI::App* run;
};

LockCommands AddLockCommands(CLI::App& app, LockFlags& flags);

// One lock command, validated.
struct LockCommand {
  enum class Kind { kAcquire, kKeepalive, kRelease, kGet, kList, kRun } kind = Kind::kGet;
  LockRunCommand run;  // run.lock: acquire and run; run.lock.name: every command's NAME
  uint64_t token = 0;  // keepalive, release
  LockListCommand list;
};

// The parsed lock command (after CLI::App::parse), or nullopt with a usage message in *error.
std::optional<LockCommand> ParseLockCommand(const LockCommands& commands, const LockFlags& flags,
                                            std::string* error);

// Runs it. `options`: the client's, from which `lock run` derives its keepalive client's.
int RunLockCommand(Session& s, const LockCommand& cmd, const rpc::ClientOptions& options);

// A client id for Idempotency-Keys unique to this kvctl process: "kvctl-HOST-PID-RANDOM".
std::string LockClientId();

}  // namespace kvd::cli
