#include "bench/loadgen_stats.h"

#include <algorithm>
#include <cstdio>
#include <string_view>

namespace kvd::bench {

uint64_t OpStats::error_count() const {
  uint64_t n = 0;
  for (const auto& [kind, count] : errors) n += count;
  return n;
}

void OpStats::Merge(const OpStats& other) {
  ok += other.ok;
  latency.Merge(other.latency);
  for (const auto& [kind, count] : other.errors) errors[kind] += count;
}

OpStats RunStats::Total() const {
  OpStats total;
  for (const OpStats& s : by_op) total.Merge(s);
  return total;
}

void RunStats::Merge(const RunStats& other) {
  for (size_t i = 0; i < kOpCount; ++i) by_op[i].Merge(other.by_op[i]);
  for (const auto& [kind, count] : other.connect_errors) connect_errors[kind] += count;
  unfinished += other.unfinished;
  unfinished_oldest_us = std::max(unfinished_oldest_us, other.unfinished_oldest_us);
}

namespace {

double Ms(uint64_t micros) { return static_cast<double>(micros) / 1000.0; }

double Rate(uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

// Minimal JSON output: fixed-point numbers (Boost.JSON would print 3E0), escaped strings.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(ch));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string Num(double v, int decimals = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string Num(uint64_t v) { return std::to_string(v); }

std::string LatencyJson(const LatencyHistogram& h) {
  return "{\"p50\":" + Num(Ms(h.Percentile(50))) + ",\"p99\":" + Num(Ms(h.Percentile(99))) +
         ",\"p999\":" + Num(Ms(h.Percentile(99.9))) + ",\"max\":" + Num(Ms(h.max())) + "}";
}

std::string ErrorsJson(const std::map<std::string, uint64_t>& errors) {
  std::string out = "{";
  for (const auto& [kind, count] : errors) {
    out += (out.size() > 1 ? "," : "") + Quote(kind) + ":" + Num(count);
  }
  return out + "}";
}

}  // namespace

std::string HumanReport(const Options& o, const RunStats& stats, double seconds) {
  OpStats total = stats.Total();
  const LatencyHistogram& h = total.latency;
  char head[512];
  std::snprintf(head, sizeof head,
                "%s %s c=%d %.1fs: %.1f ops/s (%llu ok), errors %llu, latency ms p50 %.2f p99 "
                "%.2f p99.9 %.2f max %.2f",
                std::string(TargetName(o.target)).c_str(), o.mix.ToString().c_str(), o.connections,
                seconds, Rate(total.ok, seconds), static_cast<unsigned long long>(total.ok),
                static_cast<unsigned long long>(total.error_count()), Ms(h.Percentile(50)),
                Ms(h.Percentile(99)), Ms(h.Percentile(99.9)), Ms(h.max()));
  std::string line = head;
  auto list = [&line](const char* what, const std::map<std::string, uint64_t>& errors) {
    if (errors.empty()) return;
    line += std::string(" ") + what + " {";
    bool first = true;
    for (const auto& [kind, count] : errors) {
      line += (first ? "" : ", ") + kind + "=" + std::to_string(count);
      first = false;
    }
    line += "}";
  };
  // Several operations (a mix, or acquire + release): each one's rate and latency too.
  int ops_seen = 0;
  for (const OpStats& s : stats.by_op) ops_seen += s.ok > 0 || !s.errors.empty();
  for (size_t i = 0; ops_seen > 1 && i < kOpCount; ++i) {
    const OpStats& s = stats.by_op[i];
    if (s.ok == 0 && s.errors.empty()) continue;
    char part[256];
    std::snprintf(part, sizeof part, "; %s %.1f ops/s p50 %.2f p99 %.2f max %.2f",
                  std::string(OpName(static_cast<Op>(i))).c_str(), Rate(s.ok, seconds),
                  Ms(s.latency.Percentile(50)), Ms(s.latency.Percentile(99)), Ms(s.latency.max()));
    line += part;
  }
  list("errors", total.errors);
  list("connect_errors", stats.connect_errors);
  // In-flight requests at the close are normal; one older than every finished request is a tail
  // the percentiles above do not show, so say so.
  if (stats.unfinished_oldest_us > h.max()) {
    char tail[96];
    std::snprintf(tail, sizeof tail, " unfinished %llu (oldest %.2f ms)",
                  static_cast<unsigned long long>(stats.unfinished),
                  Ms(stats.unfinished_oldest_us));
    line += tail;
  }
  return line;
}

std::string JsonReport(const Options& o, const RunStats& stats, double seconds) {
  OpStats total = stats.Total();
  std::string by_op = "{";
  for (size_t i = 0; i < kOpCount; ++i) {
    const OpStats& s = stats.by_op[i];
    if (o.mix.weight[i] == 0 && s.ok == 0 && s.errors.empty())
      continue;  // release is not in the mix
    by_op += (by_op.size() > 1 ? "," : "") + Quote(OpName(static_cast<Op>(i))) +
             ":{\"ok\":" + Num(s.ok) + ",\"ops_per_sec\":" + Num(Rate(s.ok, seconds), 1) +
             ",\"errors\":" + ErrorsJson(s.errors) + ",\"latency_ms\":" + LatencyJson(s.latency) +
             "}";
  }
  by_op += "}";
  std::string out = "{\"target\":" + Quote(TargetName(o.target));
  if (!o.label.empty()) out += ",\"label\":" + Quote(o.label);
  out += ",\"mix\":" + Quote(o.mix.ToString()) +
         ",\"connections\":" + Num(static_cast<uint64_t>(o.connections)) +
         ",\"threads\":" + Num(static_cast<uint64_t>(o.threads)) + ",\"keys\":" + Num(o.keys) +
         ",\"value_bytes\":" + Num(static_cast<uint64_t>(o.value_bytes)) +
         ",\"duration_s\":" + Num(seconds) + ",\"ok\":" + Num(total.ok) +
         ",\"ops_per_sec\":" + Num(Rate(total.ok, seconds), 1) +
         ",\"error_count\":" + Num(total.error_count()) +
         ",\"errors\":" + ErrorsJson(total.errors) +
         ",\"connect_errors\":" + ErrorsJson(stats.connect_errors) +
         ",\"unfinished\":" + Num(stats.unfinished) +
         ",\"unfinished_oldest_ms\":" + Num(Ms(stats.unfinished_oldest_us)) +
         ",\"latency_ms\":" + LatencyJson(total.latency) + ",\"by_op\":" + by_op + "}";
  return out;
}

}  // namespace kvd::bench
