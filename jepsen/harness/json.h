// Copyright (c) kvd authors.
//
// Minimal JSON writing helpers for the harness's output files (history.jsonl, summary.json).
// Pure functions; thread-safe.

#ifndef KVD_JEPSEN_HARNESS_JSON_H_
#define KVD_JEPSEN_HARNESS_JSON_H_

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace kvd::jepsen {

// `text` as a quoted JSON string; bytes >= 0x80 pass through (values we write are ASCII).
inline std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

inline std::string JsonOptional(const std::optional<std::string>& value) {
  return value ? JsonString(*value) : "null";
}

// HTML-escapes text for report.html.
inline std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_JSON_H_
