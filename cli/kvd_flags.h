// Parsing of kvd's cluster flags, kept apart from main() so it can be tested.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace kvd::cli {

// Parses "1=host:port,2=host:port" into id -> address. Returns nullopt and sets *error on a
// malformed list (empty, bad id, duplicate id, missing address).
std::optional<std::map<uint64_t, std::string>> ParseNodeList(const std::string& text,
                                                             std::string* error);

}  // namespace kvd::cli
