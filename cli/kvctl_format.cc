// Output helpers for kvctl: JSON strings, UTF-8 checks, base64, escaping for terminals.
#include <cstdio>

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

std::string JsonBytesMember(std::string_view name, std::string_view bytes) {
  if (rpc::IsValidUtf8(bytes)) return rpc::JsonQuote(name) + ": " + rpc::JsonQuote(bytes);
  return rpc::JsonQuote(std::string(name) + "_base64") + ": " +
         rpc::JsonQuote(rpc::Base64Encode(bytes));
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
