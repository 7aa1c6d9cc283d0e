#include "cli/kvctl_lock_cli.h"

#include <unistd.h>

#include <climits>
#include <random>

namespace kvd::cli {
namespace {

constexpr const char* kDefaultRunWait = "30s";

std::optional<std::chrono::milliseconds> Duration(const std::string& flag, const std::string& text,
                                                  std::chrono::milliseconds min,
                                                  std::chrono::milliseconds max,
                                                  std::string* error) {
  std::optional<std::chrono::milliseconds> d = ParseDuration(text, /*allow_zero=*/min.count() == 0);
  if (!d || *d < min || *d > max) {
    *error = "bad " + flag + " \"" + text + "\": want " + std::to_string(min.count()) + "ms to " +
             std::to_string(max.count() / 1000) + "s, e.g. 500ms, 10s, 1m";
    return std::nullopt;
  }
  return d;
}

}  // namespace

LockCommands AddLockCommands(CLI::App& app, LockFlags& f) {
  LockCommands c{};
  c.lock = app.add_subcommand("lock", "distributed locks: leases and fencing tokens");
  c.lock->require_subcommand(1);
  auto add_acquire_flags = [&](CLI::App* cmd, const char* wait_default) {
    cmd->add_option("--owner", f.owner, "who holds it, shown to others (default host:pid)");
    cmd->add_option("--ttl", f.ttl, "the lease: 100ms to 1h (default 10s)");
    cmd->add_option(
        "--wait", f.wait,
        std::string("if held, wait this long for it: 0s to 5m (default ") + wait_default + ")");
  };
  c.acquire = c.lock->add_subcommand("acquire", "acquire NAME and print its fencing token");
  c.acquire->add_option("NAME", f.name, "the lock")->required();
  add_acquire_flags(c.acquire, "0s");
  c.keepalive = c.lock->add_subcommand("keepalive", "extend NAME's lease held with TOKEN");
  c.release = c.lock->add_subcommand("release", "release NAME held with TOKEN");
  for (CLI::App* cmd : {c.keepalive, c.release}) {
    cmd->add_option("NAME", f.name, "the lock")->required();
    cmd->add_option("TOKEN", f.token, "the fencing token from acquire")
        ->required()
        ->check(CLI::PositiveNumber);
  }
  c.get = c.lock->add_subcommand("get", "NAME's holder, last token and waiters");
  c.get->add_option("NAME", f.name, "the lock")->required();
  c.list = c.lock->add_subcommand("list", "locks that are held or have waiters, by name");
  c.list->add_option("--after", f.after, "only names after NAME (to continue a listing)");
  c.list->add_option("--limit", f.limit, "at most N locks, 1 to 1000 (default 100)")
      ->check(CLI::Range(1, 1000));
  c.run = c.lock->add_subcommand(
      "run",
      "hold NAME while CMD runs: CMD gets KVD_LOCK_NAME, KVD_LOCK_TOKEN and KVD_FENCE; if the "
      "lock is lost CMD is terminated (SIGTERM, SIGKILL 2 s later) and kvctl exits 6, else with "
      "CMD's status");
  c.run->add_option("NAME", f.name, "the lock")->required();
  c.run->add_option("CMD", f.argv, "the command and its arguments, after --");
  add_acquire_flags(c.run, kDefaultRunWait);
  return c;
}

std::optional<LockCommand> ParseLockCommand(const LockCommands& c, const LockFlags& f,
                                            std::string* error) {
  LockCommand cmd;
  cmd.run.lock.name = f.name;
  using Kind = LockCommand::Kind;
  if (c.acquire->parsed() || c.run->parsed()) {
    cmd.kind = c.acquire->parsed() ? Kind::kAcquire : Kind::kRun;
    auto ttl = Duration("--ttl", f.ttl, kMinLockTtl, kMaxLockTtl, error);
    if (!ttl) return std::nullopt;
    const std::string wait_text =
        !f.wait.empty() ? f.wait : (cmd.kind == Kind::kRun ? kDefaultRunWait : "0s");
    auto wait = Duration("--wait", wait_text, std::chrono::milliseconds(0), kMaxLockWait, error);
    if (!wait) return std::nullopt;
    cmd.run.lock.ttl = *ttl;
    cmd.run.lock.wait = *wait;
    cmd.run.lock.owner = f.owner.empty() ? DefaultLockOwner() : f.owner;
    if (cmd.run.lock.owner.size() > 256) {
      *error = "bad --owner: at most 256 bytes";
      return std::nullopt;
    }
    if (cmd.kind == Kind::kRun) {
      if (f.argv.empty()) {
        *error = "lock run: missing CMD (kvctl lock run NAME [--ttl 10s] -- CMD ARGS...)";
        return std::nullopt;
      }
      cmd.run.argv = f.argv;
    }
  } else if (c.keepalive->parsed() || c.release->parsed()) {
    cmd.kind = c.keepalive->parsed() ? Kind::kKeepalive : Kind::kRelease;
    if (f.token == 0) {
      *error = "bad TOKEN: want the positive fencing token acquire printed";
      return std::nullopt;
    }
    cmd.token = f.token;
  } else if (c.get->parsed()) {
    cmd.kind = Kind::kGet;
  } else {
    cmd.kind = Kind::kList;
    cmd.list = {f.after, f.limit};
  }
  return cmd;
}

int RunLockCommand(Session& s, const LockCommand& cmd, const rpc::ClientOptions& options) {
  const std::string& name = cmd.run.lock.name;
  switch (cmd.kind) {
    case LockCommand::Kind::kAcquire:
      return RunLockAcquire(s, cmd.run.lock);
    case LockCommand::Kind::kKeepalive:
      return RunLockKeepalive(s, name, cmd.token);
    case LockCommand::Kind::kRelease:
      return RunLockRelease(s, name, cmd.token);
    case LockCommand::Kind::kGet:
      return RunLockGet(s, name);
    case LockCommand::Kind::kList:
      return RunLockList(s, cmd.list);
    case LockCommand::Kind::kRun:
      break;
  }
  // Keepalives are sent every ttl/3: each attempt must end well before the next is due, and the
  // loop itself retries (the lease deadline, not the attempt count, decides).
  rpc::ClientOptions keepalive = options;
  const auto attempt = std::max(cmd.run.lock.ttl / 3, std::chrono::milliseconds(50));
  keepalive.request_timeout = std::min(options.request_timeout, attempt);
  keepalive.connect_timeout = std::min(options.connect_timeout, attempt);
  keepalive.max_attempts = 1;
  keepalive.client_id.clear();  // keepalives are safe to repeat without keys
  return RunLockRun(s, cmd.run, keepalive);
}

std::string LockClientId() {
  char host[HOST_NAME_MAX + 1] = {};
  std::string id = "kvctl-";
  if (gethostname(host, sizeof host - 1) == 0) {
    for (const char* p = host; *p != '\0' && id.size() < 80; ++p) {
      if (*p > 0x20 && *p < 0x7F) id.push_back(*p);
    }
  }
  std::random_device random;
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "-%d-%08x", static_cast<int>(getpid()), random());
  return id + suffix;
}

}  // namespace kvd::cli
