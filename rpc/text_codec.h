// Text encodings shared by everything that speaks the HTTP API (server, client, kvctl, bench):
// strict UTF-8 validation (JSON strings must be UTF-8; other bytes travel as base64) and
// standard base64. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kvd::rpc {

// Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 if none starts there
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s, size_t i);
bool IsValidUtf8(std::string_view s);

// 'text' as a quoted JSON string literal: quotes, backslashes and control characters escaped;
// other bytes pass through (callers send non-UTF-8 data as base64 instead).
std::string JsonQuote(std::string_view text);

// Standard base64 with padding (RFC 4648 §4).
std::string Base64Encode(std::string_view in);
// Accepts the standard and URL-safe alphabets, with or without padding; false on any other byte.
bool Base64Decode(std::string_view in, std::string& out);

}  // namespace kvd::rpc
