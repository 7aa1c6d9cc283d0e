#include "rpc/peer_address.h"

#include <charconv>

namespace kvd::rpc {

namespace {

std::optional<HostPort> Fail(std::string_view address, const char* why, std::string* error) {
  if (error != nullptr) *error = "bad address '" + std::string(address) + "': " + why;
  return std::nullopt;
}

}  // namespace

std::optional<HostPort> ParseHostPort(std::string_view address, std::string* error) {
  std::string_view host;
  std::string_view port;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos) return Fail(address, "missing ']'", error);
    host = address.substr(1, close - 1);
    if (close + 1 >= address.size() || address[close + 1] != ':') {
      return Fail(address, "missing ':port'", error);
    }
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return Fail(address, "missing ':port'", error);
    host = address.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return Fail(address, "IPv6 literals need brackets", error);
    }
    port = address.substr(colon + 1);
  }
  if (host.empty()) return Fail(address, "empty host", error);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return Fail(address, "port must be a number in 0..65535", error);
  }
  return HostPort{std::string(host), static_cast<uint16_t>(value)};
}

}  // namespace kvd::rpc
