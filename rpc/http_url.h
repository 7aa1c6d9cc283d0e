// Request-target decoding for the HTTP front end: splitting path and query, percent-decoding
// (RFC 3986 §2.1) and the strict query parsing the API promises (a malformed or unknown parameter
// is a 400, never silently ignored: a mistyped ?if_version would otherwise turn a conditional
// write into an unconditional one).
//
// Path and query differ in one point: in the query, '+' means a space (the
// application/x-www-form-urlencoded convention most client libraries use); in the path (keys) it
// is a literal '+'. Clients that percent-encode everything (%2B, %20) are understood both ways.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvd::rpc {

struct SplitTargetResult {
  std::string_view path;   // up to the first '?'
  std::string_view query;  // after it, without the '?'; empty if none
};
SplitTargetResult SplitTarget(std::string_view target);

// Decodes %XX escapes (hex digits in either case). Returns nullopt if a '%' is not followed by two
// hex digits. Any byte may result, including '/', NUL and bytes that are not UTF-8.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space);

// A decimal unsigned integer: one or more digits, no sign, no spaces, no overflow.
std::optional<uint64_t> ParseUint64(std::string_view s);

// The decoded parameters of a query string, e.g. "prefix=a%2Fb&limit=10".
class Query {
 public:
  // Fails (with a message for the client in *error) on a malformed escape, a parameter without
  // '=', an empty name or a name given twice. An empty query has no parameters.
  static std::optional<Query> Parse(std::string_view query, std::string* error);

  // The value of 'name', or nullptr if absent.
  const std::string* Find(std::string_view name) const;

  // The first parameter whose name is not in 'allowed', or nullptr if all are known.
  const std::string* FirstUnknown(std::initializer_list<std::string_view> allowed) const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

}  // namespace kvd::rpc
