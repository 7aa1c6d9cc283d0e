// The simulated replicas' state machine: a map key -> value with per-client deduplication, and
// the command format carried in log entries.
//
// Command encoding (sim only, versioned by its first byte): 'K', version 1, then varint client,
// varint op, kind byte, and length-prefixed key, value and (for CAS) a presence byte plus the
// expected value. Entries that do not decode (leader no-ops, ConfChange bytes turned into no-op
// entries) are ignored by Apply.
//
// Exactly-once: each client has at most one operation in flight and numbers them 1, 2, 3...; the
// state machine remembers the highest op applied per client and skips any entry for an op at or
// below it. A proposal duplicated by the network (a forwarded MSG_PROP delivered twice) therefore
// takes effect once, like kvd's client sessions (docs/design.md).
//
// Apply is deterministic; Serialize() is canonical (std::map order), so two replicas with the same
// state produce the same bytes. Value type, not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace kvd::sim {

struct Command {
  enum class Kind : uint8_t { kWrite = 1, kCas = 2 };
  uint64_t client = 0;
  uint64_t op = 0;
  Kind kind = Kind::kWrite;
  std::string key;
  std::string value;
  std::optional<std::string> expected;  // kCas only; nullopt = the key must be absent
};

std::string EncodeCommand(const Command& cmd);
// False if data is not a command (no-op entries, foreign bytes).
bool DecodeCommand(std::string_view data, Command* out);

struct ApplyResult {
  bool duplicate = false;  // an op already applied for this client: no effect
  bool cas_ok = false;     // kCas: the comparison held and the value was written
};

class KvStateMachine {
 public:
  ApplyResult Apply(const Command& cmd);
  std::optional<std::string> Get(const std::string& key) const;

  std::string Serialize() const;
  // Replaces the whole state. False (state unchanged) if data is malformed.
  bool Restore(std::string_view data);

  bool operator==(const KvStateMachine&) const = default;

 private:
  std::map<std::string, std::string> data_;
  std::map<uint64_t, uint64_t> last_op_;  // client -> highest op applied
};

}  // namespace kvd::sim
