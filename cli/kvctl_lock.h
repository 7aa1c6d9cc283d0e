// kvctl's lock commands (private to cli/; docs/api.md "Locks", README "kvctl"): acquire, keepalive,
// release, get, list (kvctl_lock.cc) and `lock run` (kvctl_lock_run.cc), which holds a lock while
// a command runs.
//
// Lock failures: 409 lock_held (acquire), 409 fenced (no longer held with the token) and 404 (never
// acquired) exit kExitNotFound with one line naming the lock; everything else as ReportFailure.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/kvctl_commands.h"
#include "rpc/http_client.h"

namespace kvd::cli {

// docs/api.md: the ranges the server accepts.
inline constexpr std::chrono::milliseconds kMinLockTtl{100};
inline constexpr std::chrono::milliseconds kMaxLockTtl{3'600'000};
inline constexpr std::chrono::milliseconds kMaxLockWait{300'000};

struct LockAcquireCommand {
  std::string name;
  std::string owner;
  std::chrono::milliseconds ttl{10'000};
  std::chrono::milliseconds wait{0};
};

struct LockListCommand {
  std::string after;
  size_t limit = 0;  // 0: the server's default page
};

// Prints the token alone (text) so that TOKEN=$(kvctl lock acquire NAME) works.
int RunLockAcquire(Session& s, const LockAcquireCommand& cmd);
int RunLockKeepalive(Session& s, const std::string& name, uint64_t token);
int RunLockRelease(Session& s, const std::string& name, uint64_t token);
int RunLockGet(Session& s, const std::string& name);
// One page; when more follow, says on stderr how to continue (--after).
int RunLockList(Session& s, const LockListCommand& cmd);

// `lock run NAME -- CMD ARGS...`: acquire (waiting up to `wait`), run CMD with KVD_LOCK_NAME,
// KVD_LOCK_TOKEN and KVD_FENCE=NAME:TOKEN in its environment, keep the lease alive every ttl/3
// from a second HttpClient (keepalive_options) on its own thread, and:
//   - CMD exits on its own: release, exit with CMD's status (128 + signal if a signal ended it;
//     127 if it could not be started);
//   - a keepalive answers 409 fenced or 404, or none has succeeded within 0.9 * ttl of the SEND
//     time of the last successful one (or of the acquire): the lock is lost. CMD gets SIGTERM,
//     then SIGKILL 2 s later if still running; the reason is printed; exit kExitLockLost.
//   - kvctl gets SIGTERM, SIGINT or SIGHUP sent by kill(2): passed on to CMD, which decides (a
//     terminal's Ctrl-C reaches CMD directly, as it is in kvctl's process group).
// Acquire failures exit as RunLockAcquire does, without starting CMD. The owner defaults to
// host:pid (kvctl.cc).
struct LockRunCommand {
  LockAcquireCommand lock;
  std::vector<std::string> argv;  // CMD and its arguments; not empty
};
int RunLockRun(Session& s, const LockRunCommand& cmd, const rpc::ClientOptions& keepalive_options);

// Maps a failed lock call to its exit code and prints the one-line explanation.
int ReportLockFailure(Session& s, const rpc::Result& r, const std::string& name,
                      const std::optional<rpc::LockHolder>& holder, uint64_t token, bool is_write);

// "host:pid" of this process (the default owner).
std::string DefaultLockOwner();

}  // namespace kvd::cli
