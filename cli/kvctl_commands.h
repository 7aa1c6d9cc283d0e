// kvctl's commands after parsing (private to cli/): each runs against an HttpClient, prints its
// result in the chosen format and returns an exit code from kvctl.h. Errors are one line on
// env.err, starting with "kvctl: ".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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
};

struct ScanCommand {
  std::string prefix;
  std::string after;
  size_t limit = 0;  // 0: every matching key (follows "more")
};

int RunPut(Session& s, const PutCommand& cmd);
int RunGet(Session& s, const std::string& key);
int RunDelete(Session& s, const std::string& key, std::optional<uint64_t> if_version,
              std::optional<rpc::IdempotencyKey> idempotency);
int RunScan(Session& s, const ScanCommand& cmd);
int RunClusterStatus(Session& s);

// Maps a failed call to its exit code and prints the one-line explanation. `key` may be empty.
int ReportFailure(Session& s, const rpc::Result& r, std::string_view key, bool is_write);

// Formatting helpers (kvctl_format.cc).
// "name": value as a JSON member: "name" if the bytes are UTF-8, else "name_base64".
std::string JsonBytesMember(std::string_view name, std::string_view bytes);
// For text output and messages: control and invalid bytes as C escapes, valid UTF-8 kept.
std::string Printable(std::string_view bytes);

}  // namespace kvd::cli
