// Copyright (c) kvd authors.
//
// The append workload's checker (append_workload.h), after Elle (Kingsbury & Alvaro, "Elle:
// inferring isolation anomalies from experimental observations", VLDB 2020): every key holds a
// list, transactions append unique elements and read whole lists, so each read reveals the order
// of every append before it, and the dependencies between transactions can be read off the
// history.
//
// The graph's nodes are the committed (ok) transactions ("txn" ops, the final reads included)
// and the indeterminate (unknown) ones some of whose appends were read: those committed. Per
// key, the version order is the longest read's element order (every read must be a prefix of
// it). Edges (txn_graph.h): ww between the appenders of consecutive elements of that order; wr
// from the appender of a read's last element to the reader; rw from a reader to the appender of
// the element that follows its read in the order; rt from every transaction to those invoked
// after it completed (through the real-time frontier). A read by a transaction that also
// appends to the key is the list before its own append.
//
// Any cycle is an anomaly. Each strongly connected component (Tarjan) reports one cycle, of the
// most specific kind it holds: searches run in the order G0 (ww only), G1c (ww and wr), G-single
// (one rw), G2 (two or more rw), then the same with real time (G0-realtime, ..., G2-realtime:
// the cycle needs an rt edge), each a candidate first edge of the kind's new type and a shortest
// path back (BFS) over the kind's edge types. The report names the cycle's transactions (T<n>:
// the op on line n, from 0, of history.jsonl), the edges between them with the key that induced
// each, and every transaction's micro-ops.

// Other anomalies: garbage (a read element nobody appended, or not a number), aborted read
// (G1a: an element whose append definitely failed), intermediate read (G1b: a read ending in an
// element its transaction appended before another of its own to the key), duplicate elements
// (one element twice in a read), incompatible order (a read that is not a prefix of the key's
// longest read), lost write (an acknowledged append no read contains, although a read of its key
// was invoked after it completed).
//
// Pure functions; thread-safe. Linear in the history plus O(transactions x concurrency) for the
// real-time edges.

#ifndef KVD_JEPSEN_HARNESS_APPEND_CHECK_H_
#define KVD_JEPSEN_HARNESS_APPEND_CHECK_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "jepsen/harness/history.h"

namespace kvd::jepsen {

struct AppendCheckOptions {
  bool require_cross_shard = true;  // non-vacuity: a committed append spanning 2+ shards
  size_t max_examples = 3;          // cycles and elements shown per anomaly kind
};

struct AppendCheckResult {
  // The workers' transactions: committed; compare failed (a version moved since it was read);
  // refused (409, 503, ...: nothing applied); unknown.
  size_t txns = 0, txns_ok = 0, txns_compare_failed = 0, txns_refused = 0, txns_unknown = 0;
  size_t ok_with_appends = 0;           // committed transactions that appended
  size_t cross_shard_ok = 0;            // committed, answer listed 2+ shards
  size_t cross_shard_writes = 0;        // of those, the ones that appended
  size_t appends_ok = 0, reads_ok = 0;  // micro-ops of committed transactions (final reads too)
  size_t unknown_included = 0;          // indeterminate transactions whose appends were read
  size_t keys = 0;
  size_t nodes = 0, edges = 0, ww = 0, wr = 0, rw = 0, rt = 0;
  double elapsed_ms = 0;

  std::map<std::string, size_t> counts;  // anomaly kind -> how many
  std::vector<std::string> anomalies;    // one line per kind: count and the first example
  std::string report;                    // every kind with its examples in full (cycles' ops)
  std::vector<std::string> vacuity;
  bool valid() const { return anomalies.empty(); }
};

AppendCheckResult CheckAppend(const std::vector<HistoryOp>& ops, const AppendCheckOptions& options);

// One line for the summary: the counts above.
std::string AppendSummaryLine(const AppendCheckResult& r);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_APPEND_CHECK_H_
