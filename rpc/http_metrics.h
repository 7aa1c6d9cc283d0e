// HttpMetrics: the HTTP layer's own counters, appended to the node's Metrics() on /metrics in the
// Prometheus text format (version 0.0.4):
//
//   kvd_http_requests_total{route, status}            counter
//   kvd_http_request_duration_seconds{route}          histogram (header parsed -> reply ready)
//   kvd_http_connections_active                       gauge
//   kvd_http_connections_rejected_total               counter (over max_connections)
//
// Routes are a fixed set of labels (HttpRoute) and statuses the ones the server produces, so the
// number of series is bounded. Thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace kvd::rpc {

enum class HttpRoute {
  kKvPut,
  kKvGet,
  kKvDelete,
  kKvScan,
  kCluster,
  kDirectory,
  kHealthz,
  kReadyz,
  kMetrics,
  kLockAcquire,
  kLockKeepalive,
  kLockRelease,
  kLockGet,
  kLockList,
  kTxn,
  kTxnList,
  kOther,  // unknown routes, wrong methods, unparsable requests
};
inline constexpr int kHttpRouteCount = 17;

std::string_view HttpRouteName(HttpRoute route);  // the metrics label, e.g. "kv_put"
// Key writes, lock operations and transactions: a 504 on them is indeterminate.
bool IsWriteRoute(HttpRoute route);

class HttpMetrics {
 public:
  void RecordRequest(HttpRoute route, int status, std::chrono::steady_clock::duration latency);
  void ConnectionOpened();
  void ConnectionClosed();
  void ConnectionRejected();
  void ConnectionEvicted();  // an idle connection closed to make room for a new one

  std::string Render() const;

 private:
  // Upper bounds in seconds; a final +Inf bucket is implied.
  static constexpr std::array<double, 14> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  struct Histogram {
    std::array<uint64_t, kBuckets.size() + 1> counts{};  // not cumulative; last: +Inf
    double sum_seconds = 0;
    uint64_t count = 0;
  };

  mutable std::mutex mu_;
  std::map<std::pair<HttpRoute, int>, uint64_t> requests_;  // GUARDED_BY(mu_)
  std::array<Histogram, kHttpRouteCount> latency_;          // GUARDED_BY(mu_)
  int64_t connections_active_ = 0;                          // GUARDED_BY(mu_)
  uint64_t connections_rejected_ = 0;                       // GUARDED_BY(mu_)
  uint64_t connections_evicted_ = 0;                        // GUARDED_BY(mu_)
};

}  // namespace kvd::rpc
