// LockFence: "X-Fence: <lock>:<token>" (docs/api.md, "X-Fence: fenced writes"), parsed in ONE place
// for the server (rpc/http_router.cc) and the client (rpc/http_client.cc, kvctl --fence), so both
// sides agree on what is valid.
//
// Accepted: a lock name of 1..kMaxFenceLockBytes bytes as the raw name (no percent-encoding; it
// may itself contain ':', the split is at the LAST one), then ':', then the token: a decimal
// integer of 1..20 digits in 1..2^64-1 (no sign, no spaces). A header value cannot carry control
// bytes and loses leading and trailing spaces on the way, so a name with bytes below 0x20, 0x7F,
// or a leading or trailing space is refused: such a lock cannot fence writes.
//
// Thread-safety: plain values; the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvd::rpc {

inline constexpr size_t kMaxFenceLockBytes = 4096;  // a lock name's limit (docs/api.md)

struct LockFence {
  std::string lock;
  uint64_t token = 0;  // positive

  std::string ToString() const { return lock + ":" + std::to_string(token); }
  // Whether ToString() would parse back (a usable name, token >= 1).
  bool IsValid() const;
  // Parses "name:token" as described above; nullopt (with the reason in *error if non-null) if not.
  static std::optional<LockFence> Parse(std::string_view text, std::string* error = nullptr);
};

}  // namespace kvd::rpc
