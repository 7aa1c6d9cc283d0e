#include "rpc/lock_fence.h"

#include <charconv>

namespace kvd::rpc {
namespace {

std::optional<LockFence> Fail(const char* why, std::string* error) {
  if (error != nullptr) *error = why;
  return std::nullopt;
}

bool ValidLockName(std::string_view name) {
  if (name.empty() || name.size() > kMaxFenceLockBytes) return false;
  if (name.front() == ' ' || name.back() == ' ') return false;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) return false;
  }
  return true;
}

}  // namespace

bool LockFence::IsValid() const { return token >= 1 && ValidLockName(lock); }

std::optional<LockFence> LockFence::Parse(std::string_view text, std::string* error) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return Fail("expected <lock>:<token>", error);
  const std::string_view name = text.substr(0, colon);
  const std::string_view digits = text.substr(colon + 1);
  if (!ValidLockName(name)) {
    return Fail(
        "the lock name must be 1 to 4096 bytes, without control bytes or leading or trailing "
        "spaces",
        error);
  }
  uint64_t token = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), token);
  if (digits.empty() || digits.size() > 20 || ec != std::errc() ||
      end != digits.data() + digits.size() || token == 0 || digits.front() == '+') {
    return Fail("the token must be a decimal integer from 1 to 2^64-1", error);
  }
  return LockFence{std::string(name), token};
}

}  // namespace kvd::rpc
