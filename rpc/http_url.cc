#include "rpc/http_url.h"

#include <algorithm>

namespace kvd::rpc {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

SplitTargetResult SplitTarget(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return std::nullopt;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<uint64_t> ParseUint64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

std::optional<Query> Query::Parse(std::string_view query, std::string* error) {
  Query result;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;  // "a=1&&b=2", a trailing '&'
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      *error = "query parameter without a value: " + std::string(part.substr(0, 64));
      return std::nullopt;
    }
    auto name = PercentDecode(part.substr(0, eq), true);
    auto value = PercentDecode(part.substr(eq + 1), true);
    if (!name || !value) {
      *error = "invalid percent-encoding in the query";
      return std::nullopt;
    }
    if (name->empty()) {
      *error = "query parameter without a name";
      return std::nullopt;
    }
    if (result.Find(*name) != nullptr) {
      *error = "query parameter given twice: " + name->substr(0, 64);
      return std::nullopt;
    }
    result.params_.emplace_back(std::move(*name), std::move(*value));
  }
  return result;
}

const std::string* Query::Find(std::string_view name) const {
  for (const auto& [n, v] : params_) {
    if (n == name) return &v;
  }
  return nullptr;
}

const std::string* Query::FirstUnknown(std::initializer_list<std::string_view> allowed) const {
  for (const auto& [n, v] : params_) {
    if (std::find(allowed.begin(), allowed.end(), n) == allowed.end()) return &n;
  }
  return nullptr;
}

}  // namespace kvd::rpc
