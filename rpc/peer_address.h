// HostPort: a peer address as configured ("host:port", "[v6]:port"). Parsing only; resolution
// happens in the transport (an IP literal is used as is, a name is resolved on each connect so a
// container that comes up later is found).
//
// Thread-safety: plain values; the function is pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvd::rpc {

struct HostPort {
  std::string host;  // without brackets for IPv6 literals
  uint16_t port = 0;
};

// Returns nullopt (and sets *error if non-null) unless 'address' is host:port with a non-empty
// host and a decimal port in 0..65535. Port 0 is only meaningful for a listen address.
std::optional<HostPort> ParseHostPort(std::string_view address, std::string* error = nullptr);

}  // namespace kvd::rpc
