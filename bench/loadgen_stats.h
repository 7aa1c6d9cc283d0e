// Counters of one load phase, and the report printed from them (a human line or one JSON line).
//
// Only requests that started at or after the measured window's start and finished by its end are
// counted. Latencies are those of successful requests; failed ones are counted by error kind
// ("timeout", "io:...", "not_found", "http_503:no_leader", ...).
//
// Threading: thread-compatible; each event-loop thread fills its own RunStats, merged afterwards.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "bench/loadgen_histogram.h"
#include "bench/loadgen_options.h"

namespace kvd::bench {

struct OpStats {
  uint64_t ok = 0;
  LatencyHistogram latency;  // successful requests only, microseconds
  std::map<std::string, uint64_t> errors;

  uint64_t error_count() const;
  void Merge(const OpStats& other);
};

struct RunStats {
  std::array<OpStats, kOpCount> by_op;
  std::map<std::string, uint64_t> connect_errors;  // failed (re)connects, not requests
  // Measured requests still in flight when the window closed (in a closed loop, normally about
  // one per connection), and the age of the oldest: a tail the percentiles cannot show.
  uint64_t unfinished = 0;
  uint64_t unfinished_oldest_us = 0;

  OpStats Total() const;
  void Merge(const RunStats& other);
};

// One line, e.g. "kvd put c=64 10.0s: 4012.3 ops/s, errors 0, latency ms p50 15.1 p99 ...".
std::string HumanReport(const Options& options, const RunStats& stats, double seconds);
// One JSON object on one line (no trailing newline); schema in bench/README.md.
std::string JsonReport(const Options& options, const RunStats& stats, double seconds);

}  // namespace kvd::bench
