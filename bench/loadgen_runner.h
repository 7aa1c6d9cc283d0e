// RunPhase: drives one phase of load with Beast/Asio async connections and returns its counters.
//
// Each connection is keep-alive HTTP/1.1 with exactly one request in flight (a closed loop):
// connection i talks to endpoints[i % endpoints.size()] and is served by event-loop thread
// i % threads, each thread with its own io_context (nothing shared on the hot path but the
// immutable Dialect and, when populating, one atomic counter). A request that fails (timeout,
// connection error, malformed response) is counted and its connection reopened; a failed connect
// is retried after a short pause. No request is ever retried by the load generator itself.
//
// Bounds: a load phase returns at `end` (in-flight requests are abandoned and reported as
// unfinished); a populate phase returns when every key was written once or at `end`. Every
// request has the options' request_timeout.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <vector>

#include "bench/loadgen_dialect.h"
#include "bench/loadgen_options.h"
#include "bench/loadgen_stats.h"
#include "bench/loadgen_txn.h"

namespace kvd::bench {

using Clock = std::chrono::steady_clock;

struct Phase {
  // Populate: each key in [0, keys) is put once (a failed put is retried a few times), the keys
  // handed out by *next_key; every request counts. Load: ops from the mix on random keys.
  bool populate = false;
  std::atomic<uint64_t>* next_key = nullptr;  // populate only; starts at 0
  Clock::time_point measure_start;            // load: requests starting earlier are warmup
  Clock::time_point end;                      // the phase stops here, whatever is in flight
};

struct Endpoint {
  std::string name;  // "host:port", sent as the Host header
  boost::asio::ip::tcp::endpoint endpoint;
};

// Resolves "host:port" strings (synchronously, once). Returns false and sets *error on failure.
bool ResolveEndpoints(const std::vector<std::string>& names, std::vector<Endpoint>* out,
                      std::string* error);

// txn builds and judges the transaction operations (txn, txn-cross); null when the mix has none.
RunStats RunPhase(const Options& options, const Dialect& dialect, const TxnWorkload* txn,
                  const std::vector<Endpoint>& targets, const Phase& phase);

}  // namespace kvd::bench
