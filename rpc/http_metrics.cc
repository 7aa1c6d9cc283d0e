#include "rpc/http_metrics.h"

#include <algorithm>
#include <cstdio>

namespace kvd::rpc {

std::string_view HttpRouteName(HttpRoute route) {
  switch (route) {
    case HttpRoute::kKvPut:
      return "kv_put";
    case HttpRoute::kKvGet:
      return "kv_get";
    case HttpRoute::kKvDelete:
      return "kv_delete";
    case HttpRoute::kKvScan:
      return "kv_scan";
    case HttpRoute::kCluster:
      return "cluster";
    case HttpRoute::kDirectory:
      return "directory";
    case HttpRoute::kHealthz:
      return "healthz";
    case HttpRoute::kReadyz:
      return "readyz";
    case HttpRoute::kMetrics:
      return "metrics";
    case HttpRoute::kLockAcquire:
      return "lock_acquire";
    case HttpRoute::kLockKeepalive:
      return "lock_keepalive";
    case HttpRoute::kLockRelease:
      return "lock_release";
    case HttpRoute::kLockGet:
      return "lock_get";
    case HttpRoute::kLockList:
      return "lock_list";
    case HttpRoute::kTxn:
      return "txn";
    case HttpRoute::kTxnList:
      return "txn_list";
    case HttpRoute::kOther:
      break;
  }
  return "other";
}

bool IsWriteRoute(HttpRoute route) {
  return route == HttpRoute::kKvPut || route == HttpRoute::kKvDelete ||
         route == HttpRoute::kLockAcquire || route == HttpRoute::kLockKeepalive ||
         route == HttpRoute::kLockRelease || route == HttpRoute::kTxn;
}

void HttpMetrics::RecordRequest(HttpRoute route, int status,
                                std::chrono::steady_clock::duration latency) {
  double seconds = std::chrono::duration<double>(latency).count();
  size_t bucket = 0;
  while (bucket < kBuckets.size() && seconds > kBuckets[bucket]) ++bucket;
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
  Histogram& h = latency_[static_cast<size_t>(route)];
  ++h.counts[bucket];
  h.sum_seconds += seconds;
  ++h.count;
}

void HttpMetrics::ConnectionOpened() {
  std::lock_guard lock(mu_);
  ++connections_active_;
}

void HttpMetrics::ConnectionClosed() {
  std::lock_guard lock(mu_);
  --connections_active_;
}

void HttpMetrics::ConnectionRejected() {
  std::lock_guard lock(mu_);
  ++connections_rejected_;
}

void HttpMetrics::ConnectionEvicted() {
  std::lock_guard lock(mu_);
  ++connections_evicted_;
}

std::string HttpMetrics::Render() const {
  std::string out;
  char line[512];
  auto emit = [&](const char* fmt, auto... args) {
    int n = std::snprintf(line, sizeof(line), fmt, args...);
    if (n > 0) out.append(line, std::min<size_t>(static_cast<size_t>(n), sizeof(line) - 1));
  };
  std::lock_guard lock(mu_);
  out +=
      "# HELP kvd_http_requests_total HTTP requests answered, by route and status.\n"
      "# TYPE kvd_http_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    emit("kvd_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
         HttpRouteName(key.first).data(), key.second, static_cast<unsigned long long>(count));
  }
  out +=
      "# HELP kvd_http_request_duration_seconds Time from a parsed request header to its reply.\n"
      "# TYPE kvd_http_request_duration_seconds histogram\n";
  for (int r = 0; r < kHttpRouteCount; ++r) {
    const Histogram& h = latency_[r];
    if (h.count == 0) continue;
    const char* name = HttpRouteName(static_cast<HttpRoute>(r)).data();
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += h.counts[b];
      emit("kvd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n", name,
           kBuckets[b], static_cast<unsigned long long>(cumulative));
    }
    emit("kvd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", name,
         static_cast<unsigned long long>(h.count));
    emit("kvd_http_request_duration_seconds_sum{route=\"%s\"} %.9g\n", name, h.sum_seconds);
    emit("kvd_http_request_duration_seconds_count{route=\"%s\"} %llu\n", name,
         static_cast<unsigned long long>(h.count));
  }
  emit(
      "# HELP kvd_http_connections_active Open HTTP connections.\n"
      "# TYPE kvd_http_connections_active gauge\n"
      "kvd_http_connections_active %lld\n",
      static_cast<long long>(connections_active_));
  emit(
      "# HELP kvd_http_connections_rejected_total Connections refused over max_connections.\n"
      "# TYPE kvd_http_connections_rejected_total counter\n"
      "kvd_http_connections_rejected_total %llu\n",
      static_cast<unsigned long long>(connections_rejected_));
  emit(
      "# HELP kvd_http_connections_evicted_total Idle connections closed to admit new ones at "
      "max_connections.\n"
      "# TYPE kvd_http_connections_evicted_total counter\n"
      "kvd_http_connections_evicted_total %llu\n",
      static_cast<unsigned long long>(connections_evicted_));
  return out;
}

}  // namespace kvd::rpc
