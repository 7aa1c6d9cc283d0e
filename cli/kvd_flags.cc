#include "cli/kvd_flags.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "rpc/host_port.h"

namespace kvd::cli {

std::optional<std::map<uint64_t, std::string>> ParseNodeList(const std::string& text,
                                                             std::string* error) {
  std::map<uint64_t, std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t eq = item.find('=');
    uint64_t id = 0;
    const char* end = item.data() + (eq == std::string::npos ? 0 : eq);
    auto [ptr, ec] = std::from_chars(item.data(), end, id);
    if (eq == std::string::npos || ec != std::errc() || ptr != end || id == 0) {
      *error = "expected ID=HOST:PORT with a positive ID, got '" + item + "'";
      return std::nullopt;
    }
    std::string address = item.substr(eq + 1);
    if (address.empty()) {
      *error = "node " + std::to_string(id) + " has no address";
      return std::nullopt;
    }
    std::string why;
    if (!rpc::ParseHostPort(address, &why)) {
      *error = "node " + std::to_string(id) + ": " + why;
      return std::nullopt;
    }
    if (!out.emplace(id, std::move(address)).second) {
      *error = "node " + std::to_string(id) + " is listed twice";
      return std::nullopt;
    }
  }
  if (out.empty()) {
    *error = "the node list is empty";
    return std::nullopt;
  }
  return out;
}

FileLimit RaiseFileLimit() {
  FileLimit out;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.error = std::string("getrlimit: ") + std::strerror(errno);
    return out;
  }
  out.soft_before = out.soft = limit.rlim_cur;
  out.hard = limit.rlim_max;
  rlim_t target = limit.rlim_max;
  if (target == RLIM_INFINITY) {
    // Linux refuses a soft limit above fs.nr_open (1048576 by default).
    uint64_t nr_open = 1 << 20;
    std::ifstream("/proc/sys/fs/nr_open") >> nr_open;
    target = static_cast<rlim_t>(nr_open);
  }
  if (target <= limit.rlim_cur) return out;
  limit.rlim_cur = target;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.error = std::string("setrlimit: ") + std::strerror(errno);
    return out;
  }
  out.soft = target;
  return out;
}

ConnectionCaps PlanConnectionCaps(uint64_t fd_limit, int http_wanted, size_t peer_wanted,
                                  size_t peers) {
  ConnectionCaps caps;
  caps.reserved_for_files =
      std::min<uint64_t>(kLevelDbFileReserve + kOtherFileReserve + peers, fd_limit / 2);
  const uint64_t sockets = fd_limit - caps.reserved_for_files;
  const uint64_t http_fit = std::max<uint64_t>(1, sockets * 3 / 4 / 2);
  const uint64_t peer_fit = std::max<uint64_t>(1, sockets / 4);
  caps.http_max_connections =
      static_cast<int>(std::min<uint64_t>(std::max(http_wanted, 1), http_fit));
  caps.peer_max_inbound =
      static_cast<size_t>(std::min<uint64_t>(std::max<size_t>(peer_wanted, 1), peer_fit));
  return caps;
}

}  // namespace kvd::cli
