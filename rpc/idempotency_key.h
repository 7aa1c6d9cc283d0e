// IdempotencyKey: "Idempotency-Key: <client-id>:<seq>" (docs/api.md), parsed in ONE place
// for the server (rpc/http_router.cc) and the client (rpc/http_client.cc, kvctl), so both sides
// agree on what is valid.
//
// Accepted: a client id of 1..kMaxIdempotencyClientIdBytes printable ASCII bytes without spaces
// (0x21..0x7E; it may itself contain ':', the split is at the last one), then ':', then seq: a
// decimal integer of 1..20 digits in 1..2^64-1 (no sign, no spaces).
//
// Thread-safety: plain values; the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvd::rpc {

inline constexpr size_t kMaxIdempotencyClientIdBytes = 256;

struct IdempotencyKey {
  std::string client_id;
  uint64_t seq = 0;  // positive, increasing per client id

  std::string ToString() const { return client_id + ":" + std::to_string(seq); }
  // Whether ToString() would parse back (client_id valid, seq >= 1).
  bool IsValid() const;
  // Parses "id:seq" as described above; nullopt (with the reason in *error if non-null) if not.
  static std::optional<IdempotencyKey> Parse(std::string_view text, std::string* error = nullptr);
};

}  // namespace kvd::rpc
