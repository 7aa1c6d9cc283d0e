// LogReader: the read-only view of durable Raft storage that the core uses. The core never
// writes storage; the driver persists each Ready (entries, hard state, snapshot) and then calls
// Advance(). Implementations must reflect every write the driver made before that Advance().
//
// Thread-safety: called only from the thread that drives the RawNode that owns the reference.
#pragma once

#include <cstdint>
#include <vector>

#include "proto/raft.pb.h"
#include "raft/status.h"

namespace kvd::raft {

class LogReader {
 public:
  virtual ~LogReader() = default;

  // The durable hard state and membership, read once when a RawNode is created.
  virtual Status InitialState(raftpb::HardState* hard_state, raftpb::ConfState* conf) const = 0;

  // Appends entries [lo, hi) to *out, stopping once their total size would exceed max_bytes
  // (at least one entry is returned when lo < hi). kCompacted if lo < FirstIndex(),
  // kUnavailable if hi > LastIndex() + 1.
  virtual Status Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes,
                         std::vector<raftpb::Entry>* out) const = 0;

  // Term of entry i, for FirstIndex()-1 <= i <= LastIndex() (the entry before the first is the
  // snapshot's). kCompacted / kUnavailable outside that range.
  virtual Status Term(uint64_t index, uint64_t* term) const = 0;

  virtual uint64_t FirstIndex() const = 0;
  virtual uint64_t LastIndex() const = 0;

  // The most recent snapshot. kSnapshotTemporarilyUnavailable if it is being built.
  virtual Status Snapshot(raftpb::Snapshot* out) const = 0;
};

}  // namespace kvd::raft
