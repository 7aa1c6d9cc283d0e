// Copyright (c) kvd authors.

#include "jepsen/harness/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "jepsen/harness/json.h"

namespace kvd::jepsen {
namespace {

constexpr double kWidth = 1100, kLeft = 60, kRight = 20;

const char* Colour(lincheck::Outcome o) {
  switch (o) {
    case lincheck::Outcome::kOk:
      return "#3a9a3a";
    case lincheck::Outcome::kFail:
      return "#d04040";
    case lincheck::Outcome::kUnknown:
      return "#f0a020";
  }
  return "#888";
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

struct Scale {
  double t_end_s;
  double X(int64_t ns) const { return kLeft + (ns / 1e9) / t_end_s * (kWidth - kLeft - kRight); }
};

// Fault intervals as shaded rectangles, and second ticks along the bottom.
void Frame(std::ostream& out, const Scale& s, const std::vector<FaultRecord>& faults, double top,
           double height) {
  for (const FaultRecord& f : faults) {
    const double x0 = s.X(f.start_ns), x1 = s.X(f.end_ns);
    out << "<rect x='" << Num(x0) << "' y='" << Num(top) << "' width='" << Num(x1 - x0)
        << "' height='" << Num(height) << "' fill='#8080ff' opacity='0.18'><title>"
        << HtmlEscape(f.description + ": " + f.evidence) << "</title></rect>"
        << "<text x='" << Num(x0 + 2) << "' y='" << Num(top + 10) << "' font-size='9'>"
        << FaultName(f.kind) << "</text>";
  }
  const int step = std::max(1, static_cast<int>(s.t_end_s / 20));
  for (int t = 0; t <= s.t_end_s; t += step) {
    const double x = s.X(static_cast<int64_t>(t) * 1'000'000'000);
    out << "<line x1='" << Num(x) << "' x2='" << Num(x) << "' y1='" << Num(top) << "' y2='"
        << Num(top + height) << "' stroke='#ddd'/><text x='" << Num(x) << "' y='"
        << Num(top + height + 12) << "' font-size='10' text-anchor='middle'>" << t << "s</text>";
  }
}

void Timeline(std::ostream& out, const Scale& s, const ReportInput& in) {
  const double row = 14, top = 10;
  const int rows = in.workers + 1;  // the last row holds the final reads
  const double height = rows * row;
  out << "<h2>Operations per worker</h2><svg width='" << kWidth << "' height='" << height + 30
      << "' xmlns='http://www.w3.org/2000/svg'>";
  Frame(out, s, *in.faults, top, height);
  for (int w = 0; w < rows; ++w) {
    out << "<text x='2' y='" << Num(top + w * row + 10) << "' font-size='10'>"
        << (w < in.workers ? "w" + std::to_string(w) : std::string("final")) << "</text>";
  }
  // Adjacent ops of one worker with the same outcome that touch on screen become one rectangle.
  struct Run {
    double x0 = 0, x1 = -1;
    lincheck::Outcome outcome{};
  };
  std::vector<Run> open(rows);
  auto flush = [&](int w) {
    Run& r = open[w];
    if (r.x1 < r.x0) return;
    out << "<rect x='" << Num(r.x0) << "' y='" << Num(top + w * row + 2) << "' width='"
        << Num(std::max(0.8, r.x1 - r.x0)) << "' height='" << row - 4 << "' fill='"
        << Colour(r.outcome) << "'/>";
    r.x1 = -1;
  };
  std::vector<const HistoryOp*> sorted;
  for (const HistoryOp& op : *in.ops) sorted.push_back(&op);
  std::sort(sorted.begin(), sorted.end(),
            [](const HistoryOp* a, const HistoryOp* b) { return a->call_ns < b->call_ns; });
  for (const HistoryOp* op : sorted) {
    const int w = op->worker < 0 ? in.workers : std::min(op->worker, in.workers);
    const double x0 = s.X(op->call_ns), x1 = s.X(op->ret_ns);
    Run& r = open[w];
    if (r.x1 >= r.x0 && r.outcome == op->outcome && x0 <= r.x1 + 0.5) {
      r.x1 = std::max(r.x1, x1);
      continue;
    }
    flush(w);
    r = {x0, x1, op->outcome};
  }
  for (int w = 0; w < rows; ++w) flush(w);
  out << "</svg><p class='legend'><span style='color:#3a9a3a'>&#9632; ok</span> "
         "<span style='color:#d04040'>&#9632; fail</span> <span style='color:#f0a020'>&#9632; "
         "unknown</span> <span style='color:#8080ff'>&#9632; fault</span></p>";
}

void Latency(std::ostream& out, const Scale& s, const ReportInput& in) {
  const double top = 10, height = 220;
  out << "<h2>Latency (ms, log scale)</h2><svg width='" << kWidth << "' height='" << height + 30
      << "' xmlns='http://www.w3.org/2000/svg'>";
  Frame(out, s, *in.faults, top, height);
  auto y = [&](double ms) {
    const double lo = -1, hi = 4;  // 0.1 ms .. 10 s
    const double v = std::clamp(std::log10(std::max(ms, 0.1)), lo, hi);
    return top + height - (v - lo) / (hi - lo) * height;
  };
  for (double ms : {1.0, 10.0, 100.0, 1000.0}) {
    out << "<text x='2' y='" << Num(y(ms) + 3) << "' font-size='10'>" << ms << "</text>"
        << "<line x1='" << kLeft << "' x2='" << kWidth - kRight << "' y1='" << Num(y(ms))
        << "' y2='" << Num(y(ms)) << "' stroke='#eee'/>";
  }
  const size_t stride = std::max<size_t>(1, in.ops->size() / 8000);  // at most ~8000 dots
  for (size_t i = 0; i < in.ops->size(); ++i) {
    const HistoryOp& op = (*in.ops)[i];
    if (i % stride != 0 && op.outcome == lincheck::Outcome::kOk) continue;
    out << "<circle cx='" << Num(s.X(op.call_ns)) << "' cy='"
        << Num(y((op.ret_ns - op.call_ns) / 1e6)) << "' r='1.3' fill='" << Colour(op.outcome)
        << "'/>";
  }
  out << "</svg>";
}

void Throughput(std::ostream& out, const Scale& s, const ReportInput& in) {
  const double top = 10, height = 180;
  const int buckets = std::max(1, static_cast<int>(std::ceil(s.t_end_s)));
  std::vector<std::vector<int>> count(3, std::vector<int>(buckets, 0));
  for (const HistoryOp& op : *in.ops) {
    const int b = std::min(buckets - 1, static_cast<int>(op.ret_ns / 1'000'000'000));
    count[static_cast<int>(op.outcome)][b]++;
  }
  int peak = 1;
  for (const auto& c : count) peak = std::max(peak, *std::max_element(c.begin(), c.end()));
  out << "<h2>Throughput (ops/s, by completion second)</h2><svg width='" << kWidth << "' height='"
      << height + 30 << "' xmlns='http://www.w3.org/2000/svg'>";
  Frame(out, s, *in.faults, top, height);
  out << "<text x='2' y='" << top + 8 << "' font-size='10'>" << peak << "</text>";
  const lincheck::Outcome outcomes[] = {lincheck::Outcome::kOk, lincheck::Outcome::kFail,
                                        lincheck::Outcome::kUnknown};
  for (lincheck::Outcome o : outcomes) {
    out << "<polyline fill='none' stroke-width='1.5' stroke='" << Colour(o) << "' points='";
    for (int b = 0; b < buckets; ++b) {
      out << Num(s.X(static_cast<int64_t>(b) * 1'000'000'000 + 500'000'000)) << ","
          << Num(top + height - count[static_cast<int>(o)][b] * height / peak) << " ";
    }
    out << "'/>";
  }
  out << "</svg>";
}

}  // namespace

bool WriteReport(const ReportInput& in, const std::string& path) {
  int64_t end_ns = 1'000'000'000;
  for (const HistoryOp& op : *in.ops) end_ns = std::max(end_ns, op.ret_ns);
  for (const FaultRecord& f : *in.faults) end_ns = std::max(end_ns, f.end_ns);
  const Scale scale{end_ns / 1e9};
  std::ostringstream out;
  out << "<!DOCTYPE html><html><head><meta charset='utf-8'><title>" << HtmlEscape(in.title)
      << "</title><style>body{font-family:sans-serif;margin:20px}pre{background:#f6f6f6;"
         "padding:8px}.pass{color:#2a7a2a}.fail{color:#c02020}svg{border:1px solid #ccc}"
         "</style></head><body><h1>"
      << HtmlEscape(in.title) << "</h1><h2 class='" << (in.passed ? "pass" : "fail") << "'>"
      << (in.passed ? "PASS" : "FAIL") << "</h2><pre>";
  for (const std::string& line : in.summary_lines) out << HtmlEscape(line) << "\n";
  out << "</pre>";
  Timeline(out, scale, in);
  Latency(out, scale, in);
  Throughput(out, scale, in);
  out << "<h2>Faults</h2><pre>";
  for (const FaultRecord& f : *in.faults) {
    char line[64];
    std::snprintf(line, sizeof(line), "%8.3fs - %8.3fs  ", f.start_ns / 1e9, f.end_ns / 1e9);
    out << line << HtmlEscape(f.description) << " | " << (f.acted ? "acted: " : "NOT ACTED: ")
        << HtmlEscape(f.evidence) << "\n";
  }
  out << "</pre></body></html>\n";
  std::ofstream file(path);
  file << out.str();
  return static_cast<bool>(file);
}

}  // namespace kvd::jepsen
