// Inflights: the MsgApps sent to one follower and not yet acknowledged, bounded by count and by
// bytes (flow control, docs/design.md). At the bound the leader stops sending to that follower
// until acknowledgements free space. Single-threaded; owned by Progress.
#pragma once

#include <cstdint>
#include <deque>

namespace kvd::raft {

class Inflights {
 public:
  Inflights(int max_count, uint64_t max_bytes) : max_count_(max_count), max_bytes_(max_bytes) {}

  // Records a message whose last entry is 'index' carrying 'bytes' of entries. Indexes increase.
  void Add(uint64_t index, uint64_t bytes);
  // Frees every message whose last index is <= 'index' (acknowledged).
  void FreeLE(uint64_t index);
  bool Full() const;
  int Count() const { return static_cast<int>(items_.size()); }
  void Reset();

 private:
  struct Item {
    uint64_t index;
    uint64_t bytes;
  };
  int max_count_;
  uint64_t max_bytes_;  // 0 = unlimited
  uint64_t bytes_ = 0;
  std::deque<Item> items_;
};

}  // namespace kvd::raft
