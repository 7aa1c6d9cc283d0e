#include "rpc/idempotency_key.h"

#include <charconv>

namespace kvd::rpc {

namespace {

std::optional<IdempotencyKey> Fail(const char* why, std::string* error) {
  if (error != nullptr) *error = why;
  return std::nullopt;
}

bool ValidClientId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdempotencyClientIdBytes) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7E) return false;
  }
  return true;
}

}  // namespace

bool IdempotencyKey::IsValid() const { return seq >= 1 && ValidClientId(client_id); }

std::optional<IdempotencyKey> IdempotencyKey::Parse(std::string_view text, std::string* error) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return Fail("expected <client-id>:<seq>", error);
  const std::string_view id = text.substr(0, colon);
  const std::string_view digits = text.substr(colon + 1);
  if (!ValidClientId(id)) {
    return Fail("client id must be 1 to 256 printable ASCII bytes without spaces", error);
  }
  uint64_t seq = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (digits.empty() || digits.size() > 20 || ec != std::errc() ||
      end != digits.data() + digits.size() || seq == 0) {
    return Fail("seq must be a decimal integer from 1 to 2^64-1", error);
  }
  return IdempotencyKey{std::string(id), seq};
}

}  // namespace kvd::rpc
