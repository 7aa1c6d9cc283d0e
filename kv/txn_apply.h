// Transactions as the state machine applies them (internal to kv/; docs/design.md,
// Transactions). Deterministic: time is the shard clock of the entry being applied ('now').
//
// A transaction whose keys all live in one shard is one TxnExecute entry: compares, then one
// branch, applied at once. A cross-shard one is two-phase commit with its state in Raft:
//   record shard:  TxnBegin (record PENDING) -> TxnDecide (COMMITTED or ABORTED, only from
//                  PENDING) -> TxnForget (once every participant resolved)
//   participants:  TxnPrepare (check compares, place intents, vote) -> TxnResolve (apply the
//                  chosen branch or drop, and remember the outcome)
// An intent (kvpb::TxnIntent under the key) holds a key for one transaction: every other write,
// prepare or single-shard transaction touching the key is refused with RESULT_CONFLICT (no
// waiting inside apply, so no deadlock) and is told which transaction holds it. The data under an
// intent is the value before the transaction until it is resolved. A resolved transaction leaves
// a marker (kvpb::TxnResolved), so a late or duplicated prepare of it places nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proto/kv.pb.h"
#include "raft/status.h"

namespace kvd::kv {

class Overlay;  // kv/apply_overlay.h

// Bounds checked by apply (the HTTP layer and the coordinator check them first).
inline constexpr int64_t kMaxTxnTtlMs = 60'000;
inline constexpr size_t kMaxTxnParticipants = 64;
inline constexpr size_t kMaxTxnIdBytes = 128;
inline constexpr size_t kMaxTxnApplyOps = 512;  // compares or ops of one branch, per command
inline constexpr size_t kMaxTxnKeyBytes = 4096;

// Op and compare kinds of kvpb::TxnOp.type and kvpb::TxnCompare.target.
enum TxnOpKind : uint32_t { kTxnGet = 0, kTxnPut = 1, kTxnDelete = 2 };
enum TxnTarget : uint32_t { kTxnVersion = 0, kTxnValue = 1, kTxnExists = 2 };

// What an applied command changed in the shard's transaction state, so that every replica can
// keep the recovery schedule (kv/node_txn_recovery.cc) without scanning kvdb.
struct TxnEffects {
  struct Prepared {
    uint64_t record_shard = 0;
    int64_t prepared_ms = 0;
  };
  // Records written (set) or forgotten (nullopt), by transaction id.
  std::vector<std::pair<std::string, std::optional<kvpb::TxnRecord>>> records;
  // Prepared transactions placed (set) or resolved (nullopt), by transaction id.
  std::vector<std::pair<std::string, std::optional<Prepared>>> prepared;
};

bool IsTxnOp(const kvpb::Command& c);

// Applies a transaction command (the ops of Command 18-23) at entry 'index', shard time 'now'.
raft::Status ExecuteTxnOp(const kvpb::Command& c, uint64_t index, uint64_t shard, int64_t now,
                          Overlay* overlay, kvpb::Result* r, int64_t* key_delta,
                          TxnEffects* effects);

// For a plain put or delete of 'key': *held = true and *r = RESULT_CONFLICT (naming the
// transaction) if a prepared transaction holds the key.
raft::Status CheckIntent(const std::string& key, uint64_t shard, uint64_t index, Overlay* overlay,
                         kvpb::Result* r, bool* held);

}  // namespace kvd::kv
