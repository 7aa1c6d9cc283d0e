// Output helpers for kvctl: JSON strings, UTF-8 checks, base64, escaping for terminals.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "cli/kvctl_commands.h"
#include "rpc/text_codec.h"

namespace kvd::cli {
namespace {

std::string Hex(const char* format, unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, format, c);
  return buf;
}

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(const std::string& text, bool allow_zero) {
  size_t used = 0;
  double number = 0;
  try {
    number = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(used);
  double scale = unit == "ms" ? 1 : (unit == "s" || unit.empty()) ? 1000 : unit == "m" ? 60000 : 0;
  if (!std::isfinite(number) || scale == 0 || number < 0 || (number == 0 && !allow_zero) ||
      number * scale > 24 * 3600 * 1000.0 || text.find('-') != std::string::npos) {
    return std::nullopt;
  }
  if (number == 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::max<int64_t>(1, static_cast<int64_t>(number * scale)));
}

std::string JsonBytesMember(std::string_view name, std::string_view bytes) {
  if (rpc::IsValidUtf8(bytes)) return rpc::JsonQuote(name) + ": " + rpc::JsonQuote(bytes);
  return rpc::JsonQuote(std::string(name) + "_base64") + ": " +
         rpc::JsonQuote(rpc::Base64Encode(bytes));
}

void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string JoinIds(const std::vector<uint64_t>& ids, std::optional<uint64_t> marked) {
  std::string out;
  for (uint64_t id : ids) {
    if (!out.empty()) out += ",";
    out += std::to_string(id) + (id == marked ? "*" : "");
  }
  return out.empty() ? "-" : out;
}

std::string Printable(std::string_view bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size();) {
    auto c = static_cast<unsigned char>(bytes[i]);
    size_t n = rpc::Utf8SequenceLength(bytes, i);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (n == 0 || c < 0x20 || c == 0x7F) {
      out += Hex("\\x%02x", c);
      n = 1;
    } else {
      out.append(bytes.substr(i, n));
    }
    i += n == 0 ? 1 : n;
  }
  return out;
}

}  // namespace kvd::cli
