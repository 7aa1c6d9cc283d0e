#include "kv/keys.h"

namespace kvd::kv::keys {
namespace {

constexpr char kEntryTag = 'e';
constexpr char kHardStateTag = 'h';
constexpr char kSnapshotTag = 's';
constexpr char kDataTag = 'd';
constexpr char kAppliedTag = 'a';
constexpr char kSessionTag = 'c';
constexpr char kBootTag = 'b';
constexpr char kLockTag = 'l';
constexpr char kFenceTag = 'f';

std::string TagShard(char tag, uint64_t shard) {
  std::string out;
  out.reserve(1 + 8 + 8);
  out.push_back(tag);
  PutBigEndian64(&out, shard);
  return out;
}

}  // namespace

void PutBigEndian64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

uint64_t GetBigEndian64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

std::string EntryKey(uint64_t shard, uint64_t index) {
  std::string out = TagShard(kEntryTag, shard);
  PutBigEndian64(&out, index);
  return out;
}

std::string EntryPrefix(uint64_t shard) { return TagShard(kEntryTag, shard); }
std::string HardStateKey(uint64_t shard) { return TagShard(kHardStateTag, shard); }
std::string BootKey() { return std::string(1, kBootTag); }
std::string SnapshotKey(uint64_t shard) { return TagShard(kSnapshotTag, shard); }

std::string DataKey(uint64_t shard, std::string_view user_key) {
  std::string out = TagShard(kDataTag, shard);
  out.append(user_key);
  return out;
}

std::string DataPrefix(uint64_t shard) { return TagShard(kDataTag, shard); }
std::string AppliedKey(uint64_t shard) { return TagShard(kAppliedTag, shard); }

std::string SessionKey(uint64_t shard, std::string_view client_id) {
  std::string out = TagShard(kSessionTag, shard);
  out.append(client_id);
  return out;
}

std::string SessionPrefix(uint64_t shard) { return TagShard(kSessionTag, shard); }

std::string LockKey(uint64_t shard, std::string_view name) {
  std::string out = TagShard(kLockTag, shard);
  out.append(name);
  return out;
}

std::string LockPrefix(uint64_t shard) { return TagShard(kLockTag, shard); }

std::string FenceKey(uint64_t shard, std::string_view user_key) {
  std::string out = TagShard(kFenceTag, shard);
  out.append(user_key);
  return out;
}

std::string FencePrefix(uint64_t shard) { return TagShard(kFenceTag, shard); }

std::string TxnStateKey(char kind, uint64_t shard, std::string_view key) {
  std::string out = TagShard(kind, shard);
  out.append(key);
  return out;
}
std::string TxnStatePrefix(char kind, uint64_t shard) { return TagShard(kind, shard); }

bool ParseEntryKey(std::string_view key, uint64_t* shard, uint64_t* index) {
  if (key.size() != 17 || key[0] != kEntryTag) return false;
  *shard = GetBigEndian64(key.substr(1));
  *index = GetBigEndian64(key.substr(9));
  return true;
}

bool ParseDataKey(std::string_view key, uint64_t* shard, std::string_view* user_key) {
  if (key.size() < 9 || key[0] != kDataTag) return false;
  *shard = GetBigEndian64(key.substr(1));
  *user_key = key.substr(9);
  return true;
}

}  // namespace kvd::kv::keys
