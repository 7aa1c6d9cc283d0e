// kvctl's commands after parsing (private to cli/): each runs against an HttpClient, prints its
// result in the chosen format and returns an exit code from kvctl.h. Errors are one line on
// env.err, starting with "kvctl: ".
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/kvctl.h"
#include "rpc/http_client.h"

namespace kvd::cli {

enum class Format { kText, kJson };

struct Session {
  rpc::HttpClient& client;
  KvctlEnv& env;
  Format format = Format::kText;
  bool stale = false;
};

struct PutCommand {
  std::string key;
  std::string value;
  std::optional<uint64_t> if_version;  // cas: the expected version
  std::optional<rpc::IdempotencyKey> idempotency;
  std::optional<rpc::LockFence> fence;
};

struct ScanCommand {
  std::string prefix;
  std::string after;
  size_t limit = 0;  // 0: every matching key (follows "more")
};

int RunPut(Session& s, const PutCommand& cmd);
int RunGet(Session& s, const std::string& key);
int RunDelete(Session& s, const std::string& key, std::optional<uint64_t> if_version,
              std::optional<rpc::IdempotencyKey> idempotency,
              const std::optional<rpc::LockFence>& fence = std::nullopt);
int RunScan(Session& s, const ScanCommand& cmd);
int RunClusterStatus(Session& s);

// The shard directory (kvctl_directory.cc). `ring`: the shards in ring order with their shares of
// the hash space and of the keys, and the imbalance; with `points`, also the arcs (at most
// max_points of them; 0: all). `locate`: where a key lives.
struct RingCommand {
  bool points = false;
  size_t max_points = 0;
};
int RunRing(Session& s, const RingCommand& cmd);
int RunLocate(Session& s, const std::string& key);
// `cluster status`, text: every shard of the directory, after the answering node's own view `r`.
void PrintDirectoryShards(Session& s, const rpc::ClusterStatusResult& r);

// Maps a failed call to its exit code and prints the one-line explanation. `key` may be empty.
int ReportFailure(Session& s, const rpc::Result& r, std::string_view key, bool is_write);

// Durations (kvctl_format.cc): "250ms", "5s", "1m", or plain seconds ("1.5"); at most 24 h. Zero
// only when allow_zero ("0s", "0"); never negative.
std::optional<std::chrono::milliseconds> ParseDuration(const std::string& text,
                                                       bool allow_zero = false);

// Formatting helpers (kvctl_format.cc).
// "name": value as a JSON member: "name" if the bytes are UTF-8, else "name_base64".
std::string JsonBytesMember(std::string_view name, std::string_view bytes);
// For text output and messages: control and invalid bytes as C escapes, valid UTF-8 kept.
std::string Printable(std::string_view bytes);
// Rows as columns two spaces apart, each as wide as its widest cell (the last one unpadded).
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows);
// "1,2*,3" with `marked` starred; "-" when empty.
std::string JoinIds(const std::vector<uint64_t>& ids, std::optional<uint64_t> marked);

}  // namespace kvd::cli
