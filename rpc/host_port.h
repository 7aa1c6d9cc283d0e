// HostPort: a network address as configured ("host:port", "[v6]:port"), parsed in ONE place for
// every side that takes one: kvd's listen and peer addresses (cli/kvd.cc, the peer transport) and
// the client's endpoints (rpc/client_transport.cc, kvctl). Parsing only; resolution happens where
// the address is used (an IP literal is used as is, a name is resolved on each connect so a
// container that comes up later is found).
//
// Accepted: a host of 1..kMaxHostBytes bytes without whitespace, control characters, '/', '@'
// or brackets ("[...]" only around an IPv6 literal, which must then contain ':'), and a decimal
// port of 1..5 digits in 0..65535. A missing ":port" is an error unless the caller supplies a
// default port. Port 0 is only meaningful for a listen address; callers that connect reject it.
//
// Thread-safety: plain values; the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvd::rpc {

// DNS names are at most 253 bytes; IPv6 literals with a zone fit easily.
inline constexpr size_t kMaxHostBytes = 255;

struct HostPort {
  std::string host;  // without brackets for IPv6 literals
  uint16_t port = 0;

  // "host:port", or "[host]:port" when host contains ':' (IPv6).
  std::string ToString() const;
};

// Returns nullopt (and sets *error if non-null) unless 'address' is as described above.
// 'default_port': used when 'address' has no ":port" (the client's endpoints default to 80).
std::optional<HostPort> ParseHostPort(std::string_view address, std::string* error = nullptr,
                                      std::optional<uint16_t> default_port = std::nullopt);

}  // namespace kvd::rpc
