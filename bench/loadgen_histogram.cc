#include "bench/loadgen_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace kvd::bench {
namespace {

constexpr size_t kLinear = 128;   // exact buckets for 0..127
constexpr size_t kSub = 64;       // buckets per power of two above that
constexpr size_t kMaxShift = 57;  // 64-bit values: the top 7 bits leave a shift of at most 57
constexpr size_t kBuckets = kLinear + kMaxShift * kSub;

}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBuckets, 0) {}

size_t LatencyHistogram::BucketOf(uint64_t v) {
  if (v < kLinear) return static_cast<size_t>(v);
  // msb >= 7; keep the top 7 bits (64..127) and index by (shift, top - 64).
  size_t msb = 63 - static_cast<size_t>(std::countl_zero(v));
  size_t shift = msb - 6;
  size_t top = static_cast<size_t>(v >> shift);
  return kLinear + (shift - 1) * kSub + (top - kSub);
}

uint64_t LatencyHistogram::BucketValue(size_t bucket) {
  if (bucket < kLinear) return bucket;
  size_t shift = (bucket - kLinear) / kSub + 1;
  uint64_t top = kSub + (bucket - kLinear) % kSub;
  uint64_t low = top << shift;
  return low + ((uint64_t{1} << shift) >> 1);
}

void LatencyHistogram::Record(uint64_t micros) {
  ++buckets_[BucketOf(micros)];
  ++count_;
  max_ = std::max(max_, micros);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

uint64_t LatencyHistogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  double clamped = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<uint64_t>(std::ceil(clamped / 100.0 * static_cast<double>(count_)));
  rank = std::max<uint64_t>(rank, 1);
  if (rank >= count_) return max_;  // the top sample is known exactly
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(BucketValue(i), max_);
  }
  return max_;
}

}  // namespace kvd::bench
