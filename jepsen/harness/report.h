// Copyright (c) kvd authors.
//
// report.html: a self-contained page (inline SVG and CSS, no scripts or network resources) with
//   - a timeline of operations per worker, coloured by outcome, with fault intervals shaded;
//   - latency of every operation (log scale) over time;
//   - throughput (ok / fail / unknown per second) over time;
//   - the run's summary lines and the fault log.

#ifndef KVD_JEPSEN_HARNESS_REPORT_H_
#define KVD_JEPSEN_HARNESS_REPORT_H_

#include <string>
#include <vector>

#include "jepsen/harness/history.h"
#include "jepsen/harness/nemesis.h"

namespace kvd::jepsen {

struct ReportInput {
  std::string title;
  std::vector<std::string> summary_lines;  // shown verbatim, first line as the verdict
  bool passed = false;
  const std::vector<HistoryOp>* ops = nullptr;
  const std::vector<FaultRecord>* faults = nullptr;
  int workers = 0;
};

bool WriteReport(const ReportInput& input, const std::string& path);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_REPORT_H_
