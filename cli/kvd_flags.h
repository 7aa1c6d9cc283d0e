// Parsing of kvd's cluster flags and the planning of its resource limits, kept apart from main()
// so they can be tested.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace kvd::cli {

// Parses "1=host:port,2=host:port" into id -> address. Returns nullopt and sets *error on a
// malformed list (empty, bad id, duplicate id, an address rpc::ParseHostPort refuses).
std::optional<std::map<uint64_t, std::string>> ParseNodeList(const std::string& text,
                                                             std::string* error);

// The open-file limit (RLIMIT_NOFILE) as kvd found it and left it.
struct FileLimit {
  uint64_t soft_before = 0;
  uint64_t soft = 0;  // after raising: the hard limit, or as close to it as the kernel allowed
  uint64_t hard = 0;
  std::string error;  // why raising failed, if it did (soft == soft_before then)
};

// Raises the soft RLIMIT_NOFILE to the hard limit (the kernel's nr_open when the hard limit is
// unlimited). Called once at start, before any thread exists.
FileLimit RaiseFileLimit();

// Descriptors kept out of the connection caps: LevelDB's two databases (raftdb, kvdb), each with
// a table cache of up to 1000 open files (leveldb::Options::max_open_files) plus its log,
// manifest, lock and info log, and the process's own (stdio, epoll, timers, listeners, outbound
// peer links).
inline constexpr uint64_t kLevelDbFileReserve = 2 * (1000 + 20);
inline constexpr uint64_t kOtherFileReserve = 64;

struct ConnectionCaps {
  int http_max_connections = 0;     // HttpOptions::max_connections
  size_t peer_max_inbound = 0;      // PeerTransportOptions::max_inbound_connections
  uint64_t reserved_for_files = 0;  // descriptors left for LevelDB and the rest
};

// Caps every connection count (HTTP and inbound peer) below 'fd_limit' with room for files.
// The reserve is kLevelDbFileReserve + kOtherFileReserve + peers, but at most half the limit (a
// small limit still admits connections; LevelDB then rarely needs its whole table cache). Of the
// rest, HTTP gets three quarters, counted twice because the HTTP server holds up to twice
// max_connections sockets (the 429 window), and inbound peer connections one quarter. Each cap is
// the wanted value unless that does not fit, and at least 1.
ConnectionCaps PlanConnectionCaps(uint64_t fd_limit, int http_wanted, size_t peer_wanted,
                                  size_t peers);

}  // namespace kvd::cli
