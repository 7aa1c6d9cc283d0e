#include "cli/kvd_flags.h"

#include <charconv>
#include <sstream>

namespace kvd::cli {

std::optional<std::map<uint64_t, std::string>> ParseNodeList(const std::string& text,
                                                             std::string* error) {
  std::map<uint64_t, std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t eq = item.find('=');
    uint64_t id = 0;
    const char* end = item.data() + (eq == std::string::npos ? 0 : eq);
    auto [ptr, ec] = std::from_chars(item.data(), end, id);
    if (eq == std::string::npos || ec != std::errc() || ptr != end || id == 0) {
      *error = "expected ID=HOST:PORT with a positive ID, got '" + item + "'";
      return std::nullopt;
    }
    std::string address = item.substr(eq + 1);
    if (address.empty()) {
      *error = "node " + std::to_string(id) + " has no address";
      return std::nullopt;
    }
    if (!out.emplace(id, std::move(address)).second) {
      *error = "node " + std::to_string(id) + " is listed twice";
      return std::nullopt;
    }
  }
  if (out.empty()) {
    *error = "the node list is empty";
    return std::nullopt;
  }
  return out;
}

}  // namespace kvd::cli
