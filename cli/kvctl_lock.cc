// kvctl lock acquire/keepalive/release/get/list: one HttpClient call each, then output and exit
// code (kvctl_lock.h).
#include "cli/kvctl_lock.h"

#include <unistd.h>

#include <climits>
#include <ostream>

namespace kvd::cli {
namespace {

std::string Quoted(std::string_view name) { return "\"" + Printable(name) + "\""; }

std::string HolderText(const rpc::LockHolder& h) {
  return Printable(h.owner) + " (token " + std::to_string(h.token) + ", expires in " +
         std::to_string(h.expires_in_ms) + " ms)";
}

}  // namespace

std::string DefaultLockOwner() {
  char host[HOST_NAME_MAX + 1] = {};
  std::string name = gethostname(host, sizeof host - 1) == 0 ? host : "";
  return (name.empty() ? "localhost" : name) + ":" + std::to_string(getpid());
}

int ReportLockFailure(Session& s, const rpc::Result& r, const std::string& name,
                      const std::optional<rpc::LockHolder>& holder, uint64_t token, bool is_write) {
  std::ostream& err = s.env.err;
  if (r.transport == rpc::Transport::kOk && r.status == 409 && r.error_code == "lock_held") {
    err << "kvctl: lock " << Quoted(name) << " is held";
    if (holder) err << " by " << HolderText(*holder);
    err << "; not acquired\n";
    return kExitNotFound;
  }
  if (r.transport == rpc::Transport::kOk && r.status == 409 && r.error_code == "fenced") {
    err << "kvctl: lock " << Quoted(name) << " is not held with token " << token
        << " (expired, released or taken over); nothing done\n";
    return kExitNotFound;
  }
  if (r.not_found()) {
    err << "kvctl: lock " << Quoted(name) << " not found (never acquired)\n";
    return kExitNotFound;
  }
  return ReportFailure(s, r, name, is_write);
}

int RunLockAcquire(Session& s, const LockAcquireCommand& cmd) {
  rpc::LockResult r = s.client.LockAcquire(cmd.name, cmd.owner, cmd.ttl.count(), cmd.wait.count());
  if (!r.ok()) return ReportLockFailure(s, r, cmd.name, r.holder, 0, /*is_write=*/true);
  if (s.format == Format::kJson) {
    s.env.out << "{" << JsonBytesMember("name", cmd.name) << ", \"token\": " << r.token
              << ", \"ttl_ms\": " << r.ttl_ms << ", \"revision\": " << r.revision.value_or(0)
              << "}\n";
  } else {
    s.env.out << r.token << "\n";
  }
  return kExitOk;
}

int RunLockKeepalive(Session& s, const std::string& name, uint64_t token) {
  rpc::LockResult r = s.client.LockKeepalive(name, token);
  if (!r.ok()) return ReportLockFailure(s, r, name, std::nullopt, token, /*is_write=*/true);
  if (s.format == Format::kJson) {
    s.env.out << "{" << JsonBytesMember("name", name) << ", \"token\": " << r.token
              << ", \"ttl_ms\": " << r.ttl_ms << ", \"revision\": " << r.revision.value_or(0)
              << "}\n";
  } else {
    s.env.out << "OK token=" << r.token << " ttl_ms=" << r.ttl_ms << "\n";
  }
  return kExitOk;
}

int RunLockRelease(Session& s, const std::string& name, uint64_t token) {
  rpc::LockResult r = s.client.LockRelease(name, token);
  if (!r.ok()) return ReportLockFailure(s, r, name, std::nullopt, token, /*is_write=*/true);
  if (s.format == Format::kJson) {
    s.env.out << "{" << JsonBytesMember("name", name)
              << ", \"released\": true, \"revision\": " << r.revision.value_or(0) << "}\n";
  } else {
    s.env.out << "released revision=" << r.revision.value_or(0) << "\n";
  }
  return kExitOk;
}

int RunLockGet(Session& s, const std::string& name) {
  rpc::LockInfoResult r = s.client.LockGet(name, s.stale);
  if (!r.ok()) return ReportLockFailure(s, r, name, std::nullopt, 0, /*is_write=*/false);
  std::ostream& out = s.env.out;
  if (s.format == Format::kJson) {
    out << r.body << (r.body.empty() || r.body.back() != '\n' ? "\n" : "");
    return kExitOk;
  }
  const rpc::LockInfo& lock = r.lock;
  out << "lock " << Quoted(lock.name) << " in shard " << lock.shard << ", last token "
      << lock.last_token << "\n";
  out << "holder: " << (lock.holder ? HolderText(*lock.holder) : "none (free)") << "\n";
  out << "waiters: " << lock.waiters.size() << "\n";
  for (const rpc::LockWaiter& w : lock.waiters) {
    out << "  " << Printable(w.owner) << " (ttl " << w.ttl_ms << " ms, gives up in "
        << w.wait_left_ms << " ms)\n";
  }
  return kExitOk;
}

int RunLockList(Session& s, const LockListCommand& cmd) {
  rpc::LockListResult r = s.client.LockList(cmd.after, cmd.limit, s.stale);
  if (!r.ok()) return ReportFailure(s, r, "", /*is_write=*/false);
  if (s.format == Format::kJson) {
    s.env.out << r.body << (r.body.empty() || r.body.back() != '\n' ? "\n" : "");
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "SHARD", "HOLDER", "TOKEN", "EXPIRES_IN_MS", "WAITERS"}};
  for (const rpc::LockInfo& lock : r.locks) {
    rows.push_back({Printable(lock.name), std::to_string(lock.shard),
                    lock.holder ? Printable(lock.holder->owner) : "-",
                    lock.holder ? std::to_string(lock.holder->token) : "-",
                    lock.holder ? std::to_string(lock.holder->expires_in_ms) : "-",
                    std::to_string(lock.waiters.size())});
  }
  PrintTable(s.env.out, rows);
  if (r.more && !r.next_after.empty()) {
    s.env.err << "kvctl: more locks may follow; continue with --after " << Quoted(r.next_after)
              << "\n";
  }
  return kExitOk;
}

}  // namespace kvd::cli
