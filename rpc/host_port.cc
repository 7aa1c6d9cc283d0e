#include "rpc/host_port.h"

#include <charconv>

namespace kvd::rpc {

namespace {

std::optional<HostPort> Fail(std::string_view address, const char* why, std::string* error) {
  if (error != nullptr) {
    *error = "bad address '" + std::string(address.substr(0, 300)) + "': " + why;
  }
  return std::nullopt;
}

bool IsHostByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7F && c != '/' && c != '@' && c != '[' && c != ']';
}

}  // namespace

std::string HostPort::ToString() const {
  const std::string p = std::to_string(port);
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + p;
  return host + ":" + p;
}

std::optional<HostPort> ParseHostPort(std::string_view address, std::string* error,
                                      std::optional<uint16_t> default_port) {
  std::string_view host;
  std::optional<std::string_view> port;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos) return Fail(address, "missing ']'", error);
    host = address.substr(1, close - 1);
    if (host.find(':') == std::string_view::npos) {
      return Fail(address, "brackets are only for IPv6 literals", error);
    }
    if (close + 1 < address.size()) {
      if (address[close + 1] != ':') return Fail(address, "expected ':port' after ']'", error);
      port = address.substr(close + 2);
    }
  } else {
    const size_t colon = address.rfind(':');
    host = address.substr(0, colon);
    if (colon != std::string_view::npos) {
      if (host.find(':') != std::string_view::npos) {
        return Fail(address, "IPv6 literals need brackets", error);
      }
      port = address.substr(colon + 1);
    }
  }
  if (host.empty()) return Fail(address, "empty host", error);
  if (host.size() > kMaxHostBytes) return Fail(address, "host name too long", error);
  for (char c : host) {
    if (!IsHostByte(c) && !(c == ':' && address.front() == '[')) {
      return Fail(address, "invalid character in host", error);
    }
  }
  if (!port) {
    if (!default_port) return Fail(address, "missing ':port'", error);
    return HostPort{std::string(host), *default_port};
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port->data(), port->data() + port->size(), value);
  if (port->empty() || port->size() > 5 || ec != std::errc() ||
      end != port->data() + port->size() || value > 65535) {
    return Fail(address, "port must be a number in 0..65535", error);
  }
  return HostPort{std::string(host), static_cast<uint16_t>(value)};
}

}  // namespace kvd::rpc
