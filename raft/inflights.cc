#include "raft/inflights.h"

#include "raft/check.h"

namespace kvd::raft {

void Inflights::Add(uint64_t index, uint64_t bytes) {
  KVD_CHECK_MSG(!Full(), "adding to full inflights");
  KVD_CHECK_MSG(items_.empty() || items_.back().index < index,
                "inflight index " << index << " does not increase");
  items_.push_back({index, bytes});
  bytes_ += bytes;
}

void Inflights::FreeLE(uint64_t index) {
  while (!items_.empty() && items_.front().index <= index) {
    bytes_ -= items_.front().bytes;
    items_.pop_front();
  }
}

bool Inflights::Full() const {
  return Count() >= max_count_ || (max_bytes_ != 0 && bytes_ >= max_bytes_);
}

void Inflights::Reset() {
  items_.clear();
  bytes_ = 0;
}

}  // namespace kvd::raft
