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

#include "rpc/text_codec.h"

namespace kvd::jepsen {

// JSON string quoting is the shared codec's (rpc/text_codec.h).
using rpc::JsonQuote;

inline std::string JsonOptional(const std::optional<std::string>& value) {
  return value ? JsonQuote(*value) : "null";
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
