// LatencyHistogram: a log-linear histogram of latencies in microseconds (HdrHistogram-like).
//
// Values below 128 us are exact; above, every power-of-two range is split into 64 equal buckets,
// so a reported percentile is within 1/128 (under 0.8%) of a recorded value. The maximum is kept
// exactly. Memory is fixed (a few thousand counters), independent of the number of samples.
//
// Threading: thread-compatible; give each thread its own and Merge() them afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvd::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  void Record(uint64_t micros);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  // The value at percentile p in [0, 100] (the smallest recorded value v with at least p% of the
  // samples <= v, up to bucket precision). 0 when empty.
  uint64_t Percentile(double p) const;

 private:
  static size_t BucketOf(uint64_t micros);
  // The midpoint of a bucket: the value reported for samples that fell into it.
  static uint64_t BucketValue(size_t bucket);

  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace kvd::bench
