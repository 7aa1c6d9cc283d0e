// Key layout of the two LevelDB databases of a node (docs/formats.md). All integers are
// big-endian so that LevelDB's bytewise order is numeric order: a shard's records are contiguous
// and its log entries are ordered by index.
//
// raftdb:  'e' shard index  -> raftpb::Entry
//          'h' shard        -> raftpb::HardState
//          's' shard        -> kvpb::SnapshotRecord (what the log was compacted to)
//          'b'              -> the node's boot count, 8 bytes big-endian (unique request ids)
// kvdb:    'd' shard key    -> kvpb::KeyRecord
//          'a' shard        -> kvpb::AppliedState (written in the same batch as the data)
//          'c' shard client -> kvpb::ClientSession
//          'l' shard name   -> kvpb::LockRecord
//          'f' shard key    -> kvpb::FenceRecord (a user key's fences; kept when it is deleted)
//          't' shard id     -> kvpb::TxnRecord (transaction records, in their record shard)
//          'p' shard id     -> kvpb::TxnPrepared (a participant's prepared transaction)
//          'i' shard key    -> kvpb::TxnIntent (a user key held by a prepared transaction)
//          'x' shard id     -> kvpb::TxnResolved (a participant's resolved transaction)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvd::kv::keys {

std::string EntryKey(uint64_t shard, uint64_t index);
std::string EntryPrefix(uint64_t shard);  // every entry key of the shard starts with it
std::string HardStateKey(uint64_t shard);
std::string SnapshotKey(uint64_t shard);
std::string BootKey();

std::string DataKey(uint64_t shard, std::string_view user_key);
std::string DataPrefix(uint64_t shard);
std::string AppliedKey(uint64_t shard);
std::string SessionKey(uint64_t shard, std::string_view client_id);
std::string SessionPrefix(uint64_t shard);
std::string LockKey(uint64_t shard, std::string_view name);
std::string LockPrefix(uint64_t shard);
std::string FenceKey(uint64_t shard, std::string_view user_key);
std::string FencePrefix(uint64_t shard);
// Transaction state (kind: one of kTxnKinds): 't', 'p', 'x' by transaction id, 'i' by user key.
inline constexpr char kTxnRecordTag = 't', kTxnPreparedTag = 'p', kTxnIntentTag = 'i',
                      kTxnResolvedTag = 'x';
inline constexpr char kTxnKinds[] = {kTxnRecordTag, kTxnPreparedTag, kTxnIntentTag,
                                     kTxnResolvedTag};
std::string TxnStateKey(char kind, uint64_t shard, std::string_view key);
std::string TxnStatePrefix(char kind, uint64_t shard);

// Decoders for keys produced above; false if the key is not of that kind.
bool ParseEntryKey(std::string_view key, uint64_t* shard, uint64_t* index);
bool ParseDataKey(std::string_view key, uint64_t* shard, std::string_view* user_key);

void PutBigEndian64(std::string* out, uint64_t v);
uint64_t GetBigEndian64(std::string_view in);  // in.size() >= 8

}  // namespace kvd::kv::keys
