// Copyright (c) kvd authors.

#include "jepsen/checker/config_cache.h"

#include <cstring>

namespace kvd::lincheck {

namespace {

bool Equal(const uint64_t* a, const uint64_t* b, size_t words) {
  return words == 0 || std::memcmp(a, b, words * sizeof(uint64_t)) == 0;
}

}  // namespace

bool ConfigCache::Insert(const LinearizedSet& set, int32_t state, int64_t first_unset,
                         int64_t last_set) {
  const auto first_word = static_cast<uint32_t>(first_unset / 64);
  const int64_t end_word = last_set < 0 ? 0 : last_set / 64 + 1;
  const auto num_words = static_cast<uint32_t>(end_word > first_word ? end_word - first_word : 0);
  const uint64_t* prefix = set.words();
  const uint64_t* window = set.words() + first_word;
  const uint64_t hash = Mix64(set.hash() ^ (static_cast<uint64_t>(state) * 0xff51afd7ed558ccdULL));
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const uint32_t slot = slots_[i];
    if (slot == 0) {
      slots_[i] = static_cast<uint32_t>(entries_.size() + 1);
      entries_.push_back(Entry{.hash = hash,
                               .offset = arena_.size(),
                               .first_word = first_word,
                               .num_words = num_words,
                               .state = state});
      arena_.insert(arena_.end(), prefix, prefix + prefix_words_);
      arena_.insert(arena_.end(), window, window + num_words);
      if (entries_.size() * 2 > slots_.size()) Grow();
      return true;
    }
    const Entry& e = entries_[slot - 1];
    if (e.hash == hash && e.state == state && e.first_word == first_word &&
        e.num_words == num_words && Equal(arena_.data() + e.offset, prefix, prefix_words_) &&
        Equal(arena_.data() + e.offset + prefix_words_, window, num_words)) {
      return false;
    }
  }
}

void ConfigCache::Grow() {
  std::vector<uint32_t> slots(slots_.size() * 2, 0);
  const size_t mask = slots.size() - 1;
  for (size_t e = 0; e < entries_.size(); ++e) {
    size_t i = entries_[e].hash & mask;
    while (slots[i] != 0) i = (i + 1) & mask;
    slots[i] = static_cast<uint32_t>(e + 1);
  }
  slots_.swap(slots);
}

size_t ConfigCache::memory_bytes() const {
  return arena_.capacity() * sizeof(uint64_t) + entries_.capacity() * sizeof(Entry) +
         slots_.capacity() * sizeof(uint32_t);
}

}  // namespace kvd::lincheck
