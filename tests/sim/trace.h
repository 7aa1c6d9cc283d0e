// Trace: the fingerprint and (optionally) the printed log of one simulation run.
//
// Every event the simulator executes is folded into a 64-bit hash: its virtual time, kind, node
// and the numbers that describe it (message type/from/to/term/index, ...). Two runs of the same
// seed must produce the same hash; that is the determinism test. When printing is on, every
// record is also written as one human-readable line to the output stream (the --trace flag);
// Tick records are hashed but printed only in verbose mode, they would drown the rest.
//
// Ownership: the Trace borrows the output stream, which must outlive it.
// Thread-safety: none; one simulator owns one trace.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "proto/raft.pb.h"

namespace kvd::sim {

class Trace {
 public:
  // out may be null: hash only.
  Trace(std::ostream* out, bool verbose) : out_(out), verbose_(verbose) {}

  uint64_t hash() const { return hash_; }
  uint64_t records() const { return records_; }
  bool printing() const { return out_ != nullptr; }

  void SetTime(int64_t now) { now_ = now; }

  // A generic record: kind plus up to four numbers; 'detail' is printed, and hashed.
  void Record(std::string_view kind, uint64_t node, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0,
              uint64_t d = 0, std::string_view detail = {});
  // A raft message event ("send", "deliver", "drop", ...).
  void Message(std::string_view kind, const raftpb::Message& m);
  // Ticks: hashed always, printed only when verbose.
  void Tick(uint64_t node);

 private:
  void Mix(uint64_t v);
  void MixString(std::string_view s);
  void Emit(const std::string& line);

  std::ostream* out_;
  bool verbose_;
  int64_t now_ = 0;
  uint64_t hash_ = 0x6a09e667f3bcc909ULL;
  uint64_t records_ = 0;
};

// Short name of a message type ("App", "VoteResp", ...).
std::string_view MessageTypeName(raftpb::MessageType t);

}  // namespace kvd::sim
