// Copyright (c) kvd authors.

#include "jepsen/harness/summary.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "jepsen/harness/json.h"

namespace kvd::jepsen {
namespace {

std::string Format(const char* fmt, double a) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, a);
  return buf;
}

}  // namespace

void Summary::Count(const std::vector<HistoryOp>& history) {
  ops = ok = failed = unknown = 0;
  for (const HistoryOp& op : history) {
    if (op.worker < 0) continue;  // final reads are reported on their own
    ops++;
    if (op.outcome == lincheck::Outcome::kOk) ok++;
    if (op.outcome == lincheck::Outcome::kFail) failed++;
    if (op.outcome == lincheck::Outcome::kUnknown) unknown++;
  }
}

std::string Summary::Verdict() const {
  if (!anomalies.empty()) return "anomaly";
  if (interrupted) return "interrupted";
  if (!vacuity.empty()) return "vacuous";
  return "pass";
}

int Summary::ExitCode() const {
  if (options->expect_anomaly) return anomalies.empty() ? 1 : 0;
  if (!anomalies.empty()) return 1;
  if (interrupted) return 130;
  if (!vacuity.empty()) return 3;
  return 0;
}

std::vector<std::string> Summary::Lines() const {
  std::vector<std::string> l;
  l.push_back("verdict: " + Verdict() +
              (options->expect_anomaly ? (anomalies.empty() ? " (an anomaly was expected: FAIL)"
                                                            : " (as expected: PASS)")
                                       : ""));
  std::string nemeses;
  for (FaultKind f : options->nemeses)
    nemeses += std::string(nemeses.empty() ? "" : ",") + FaultName(f);
  if (options->crash) nemeses += std::string(nemeses.empty() ? "" : ",") + "crash";
  l.push_back(std::string("workload: ") + WorkloadName(options->workload) + ", " +
              std::to_string(options->nodes) + " nodes, nemesis " +
              (nemeses.empty() ? "none" : nemeses) + ", " + Format("%.0f s", workload_s) +
              ", concurrency " + std::to_string(options->concurrency) + ", seed " +
              std::to_string(options->seed));
  for (const std::string& u : unavailable) l.push_back("UNAVAILABLE nemesis: " + u);
  l.push_back("ops: " + std::to_string(ops) + " (ok " + std::to_string(ok) + ", failed " +
              std::to_string(failed) + ", unknown " + std::to_string(unknown) + ")");
  l.push_back("ops/s before faults: " + Format("%.1f", ops_per_s_before_faults));
  int acted = 0;
  for (const FaultRecord& f : faults) acted += f.acted ? 1 : 0;
  l.push_back("faults: " + std::to_string(faults.size()) + " injected, " + std::to_string(acted) +
              " visibly acted, " + std::to_string(leader_changes) + " leader changes observed");
  if (crash) l.push_back(CrashSummaryLine(*crash));
  if (shard_check) {
    l.push_back("shards: " + std::to_string(options->shards) + " (" + layout +
                "); ok answers from " + std::to_string(shard_check->touched.size()) + " shards, " +
                std::to_string(shard_check->misrouted) + " of " +
                std::to_string(shard_check->answers_checked) +
                " from a shard the directory does not assign; elections over all shards " +
                std::to_string(directory_terms_after -
                               std::min(directory_terms_after, directory_terms_before)) +
                " (leader terms summed " + std::to_string(directory_terms_before) + " -> " +
                std::to_string(directory_terms_after) + ")");
  }
  for (const std::string& n : notes) l.push_back("note: " + n);
  l.push_back("after healing: leader n" + std::to_string(leader_after_heal) + ", final reads " +
              std::to_string(final_reads - final_reads_failed) + "/" + std::to_string(final_reads) +
              " ok");
  if (register_result) {
    const auto& r = *register_result;
    l.push_back(std::string("register (linearizability, per key): ") +
                std::string(lincheck::VerdictName(r.verdict)) + ", " +
                std::to_string(r.ops_checked) + " ops checked over " +
                std::to_string(r.keys.size()) + " keys, " + Format("%.1f ms", r.elapsed_ms) + ", " +
                std::to_string(r.states_explored) + " states");
  }
  if (set_result) {
    const auto& s = *set_result;
    l.push_back(std::string("set: ") + (s.valid() ? "valid" : "invalid") + ", " +
                std::to_string(s.attempted) + " adds (" + std::to_string(s.acknowledged) + " ok, " +
                std::to_string(s.failed) + " failed, " + std::to_string(s.unknown) +
                " unknown of which " + std::to_string(s.unknown_present) + " present), " +
                std::to_string(s.present) + " present, " + std::to_string(s.lost.size()) +
                " lost, " + std::to_string(s.unexpected.size()) + " unexpected, " +
                Format("%.1f ms", s.elapsed_ms));
  }
  if (lock_result) l.push_back(LockSummaryLine(*lock_result));
  if (bank_result) l.push_back(BankSummaryLine(*bank_result));
  if (append_result) l.push_back(AppendSummaryLine(*append_result));
  for (const std::string& a : anomalies) l.push_back("ANOMALY: " + a);
  for (const std::string& v : vacuity) l.push_back("NOT PROVEN: " + v);
  l.push_back("output: " + out_dir);
  return l;
}

bool Summary::WriteJson(const std::string& path) const {
  std::ofstream out(path);
  out << "{\n  \"verdict\": " << JsonQuote(Verdict())
      << ",\n  \"workload\": " << JsonQuote(WorkloadName(options->workload))
      << ",\n  \"nodes\": " << options->nodes << ",\n  \"nemesis\": [";
  for (size_t i = 0; i < options->nemeses.size(); ++i) {
    out << (i ? ", " : "") << JsonQuote(FaultName(options->nemeses[i]));
  }
  if (options->crash) out << (options->nemeses.empty() ? "" : ", ") << JsonQuote("crash");
  out << "],\n  \"unavailable\": [";
  for (size_t i = 0; i < unavailable.size(); ++i)
    out << (i ? ", " : "") << JsonQuote(unavailable[i]);
  out << "],\n  \"seed\": " << options->seed << ",\n  \"time_s\": " << workload_s
      << ",\n  \"concurrency\": " << options->concurrency << ",\n  \"ops\": {\"total\": " << ops
      << ", \"ok\": " << ok << ", \"failed\": " << failed << ", \"unknown\": " << unknown
      << "},\n  \"ops_per_s_before_faults\": " << ops_per_s_before_faults
      << ",\n  \"leader_changes\": " << leader_changes
      << ",\n  \"shards\": {\"count\": " << options->shards << ", \"layout\": " << JsonQuote(layout)
      << ", \"leader_terms_before\": " << directory_terms_before
      << ", \"leader_terms_after\": " << directory_terms_after;
  if (shard_check) {
    out << ", \"touched\": " << shard_check->touched.size()
        << ", \"answers_checked\": " << shard_check->answers_checked
        << ", \"misrouted\": " << shard_check->misrouted;
  }
  out << "},\n  \"misconfigured_node\": " << options->misconfigure_node << ",\n  \"faults\": [";
  for (size_t i = 0; i < faults.size(); ++i) {
    const FaultRecord& f = faults[i];
    out << (i ? "," : "") << "\n    {\"kind\": " << JsonQuote(FaultName(f.kind))
        << ", \"description\": " << JsonQuote(f.description)
        << ", \"on_leader\": " << (f.on_leader ? "true" : "false")
        << ", \"start_s\": " << f.start_ns / 1e9 << ", \"end_s\": " << f.end_ns / 1e9
        << ", \"injected\": " << (f.injected ? "true" : "false")
        << ", \"acted\": " << (f.acted ? "true" : "false")
        << ", \"cut_short\": " << (f.cut_short ? "true" : "false")
        << ", \"target_crashed\": " << (f.target_crashed ? "true" : "false")
        << ", \"evidence\": " << JsonQuote(f.evidence) << ", \"leader_before\": " << f.leader_before
        << ", \"term_before\": " << f.term_before << ", \"leader_after\": " << f.leader_after
        << ", \"term_after\": " << f.term_after << ", \"shards_led\": " << f.shards_led.size()
        << ", \"shards_moved\": " << f.shards_moved << "}";
  }
  out << "]";
  if (crash) {
    const CrashResult& c = *crash;
    out << ",\n  \"crash\": {\"point\": " << JsonQuote(c.point) << ", \"one_in\": " << c.one_in
        << ", \"crashes\": " << c.crashes << ", \"restarts\": " << c.restarts
        << ", \"other_exits\": " << c.other_exits.size()
        << ", \"first_crash_s\": " << (c.first_crash_known ? c.first_crash_s : -1)
        << ", \"ok_after_first_crash\": " << c.ok_after_first_crash
        << ", \"ok_multi_shard_writes_after_first_crash\": " << c.ok_multi_shard_after_first_crash
        << ", \"in_doubt\": {\"checked\": " << (c.in_doubt.checked ? "true" : "false")
        << ", \"drained\": " << (c.in_doubt.drained ? "true" : "false")
        << ", \"seconds\": " << c.in_doubt.seconds << ", \"left\": " << JsonQuote(c.in_doubt.left)
        << "}}";
  }
  out << ",\n  \"final_reads\": {\"total\": " << final_reads
      << ", \"failed\": " << final_reads_failed << ", \"leader\": " << leader_after_heal << "}";
  if (register_result) {
    const auto& r = *register_result;
    size_t invalid = 0, unknown_keys = 0;
    for (const auto& k : r.keys) {
      invalid += k.verdict == lincheck::Verdict::kInvalid;
      unknown_keys += k.verdict == lincheck::Verdict::kUnknown;
    }
    out << ",\n  \"register\": {\"verdict\": " << JsonQuote(lincheck::VerdictName(r.verdict))
        << ", \"ops_checked\": " << r.ops_checked << ", \"keys\": " << r.keys.size()
        << ", \"invalid_keys\": " << invalid << ", \"unknown_keys\": " << unknown_keys
        << ", \"states\": " << r.states_explored << ", \"checker_ms\": " << r.elapsed_ms << "}";
  }
  if (set_result) {
    const auto& s = *set_result;
    out << ",\n  \"set\": {\"valid\": " << (s.valid() ? "true" : "false")
        << ", \"attempted\": " << s.attempted << ", \"acknowledged\": " << s.acknowledged
        << ", \"failed\": " << s.failed << ", \"unknown\": " << s.unknown
        << ", \"unknown_present\": " << s.unknown_present << ", \"present\": " << s.present
        << ", \"lost\": " << s.lost.size() << ", \"unexpected\": " << s.unexpected.size()
        << ", \"nodes_not_converged\": " << s.nodes_not_converged.size()
        << ", \"checker_ms\": " << s.elapsed_ms << "}";
  }
  if (lock_result) {
    const auto& k = *lock_result;
    out << ",\n  \"lock\": {\"valid\": " << (k.valid() ? "true" : "false")
        << ", \"acquires\": {\"total\": " << k.acquires << ", \"ok\": " << k.acquires_ok
        << ", \"held\": " << k.acquires_held << ", \"failed\": " << k.acquires_failed
        << ", \"unknown\": " << k.acquires_unknown
        << "}, \"fenced_writes\": {\"total\": " << k.fenced_writes << ", \"ok\": " << k.fenced_ok
        << ", \"fenced\": " << k.fenced_refused << ", \"version_mismatch\": " << k.fenced_mismatch
        << ", \"failed\": " << k.fenced_failed << ", \"unknown\": " << k.fenced_unknown
        << "}, \"stale_writes\": {\"total\": " << k.stale_writes
        << ", \"refused\": " << k.stale_refused << ", \"accepted\": " << k.stale_accepted
        << ", \"other\": " << k.stale_other << "}, \"releases\": {\"total\": " << k.releases
        << ", \"ok\": " << k.releases_ok << ", \"fenced\": " << k.releases_fenced
        << ", \"other\": " << k.releases_other << "}, \"keepalives\": {\"total\": " << k.keepalives
        << ", \"ok\": " << k.keepalives_ok << ", \"fenced\": " << k.keepalives_fenced
        << ", \"other\": " << k.keepalives_other << "}, \"keys_checked\": " << k.keys_checked
        << "}";
  }
  if (bank_result) {
    const auto& b = *bank_result;
    out << ",\n  \"bank\": {\"valid\": " << (b.valid() ? "true" : "false")
        << ", \"transfers\": {\"total\": " << b.transfers << ", \"ok\": " << b.transfers_ok
        << ", \"cross_shard\": " << b.transfers_cross_shard
        << ", \"compare_failed\": " << b.transfers_compare_failed
        << ", \"refused\": " << b.transfers_refused << ", \"unknown\": " << b.transfers_unknown
        << "}, \"reads\": {\"total\": " << b.reads << ", \"ok\": " << b.reads_ok
        << ", \"cross_shard\": " << b.reads_cross_shard << ", \"failed\": " << b.reads_failed
        << ", \"unknown\": " << b.reads_unknown << "}, \"pair_reads\": {\"total\": " << b.pair_reads
        << ", \"ok\": " << b.pair_reads_ok
        << "}, \"final_read_ok\": " << (b.final_read_ok ? "true" : "false")
        << ", \"final_total\": " << b.final_total << "}";
  }
  if (append_result) {
    const auto& a = *append_result;
    out << ",\n  \"append\": {\"valid\": " << (a.valid() ? "true" : "false")
        << ", \"txns\": {\"total\": " << a.txns << ", \"ok\": " << a.txns_ok
        << ", \"compare_failed\": " << a.txns_compare_failed << ", \"refused\": " << a.txns_refused
        << ", \"unknown\": " << a.txns_unknown << "}, \"ok_with_appends\": " << a.ok_with_appends
        << ", \"cross_shard_ok\": " << a.cross_shard_ok
        << ", \"cross_shard_writes\": " << a.cross_shard_writes
        << ", \"appends_ok\": " << a.appends_ok << ", \"reads_ok\": " << a.reads_ok
        << ", \"keys\": " << a.keys << ", \"unknown_included\": " << a.unknown_included
        << ", \"graph\": {\"nodes\": " << a.nodes << ", \"edges\": " << a.edges
        << ", \"ww\": " << a.ww << ", \"wr\": " << a.wr << ", \"rw\": " << a.rw
        << ", \"rt\": " << a.rt << "}, \"anomaly_counts\": {";
    size_t i = 0;
    for (const auto& [kind, count] : a.counts) {
      out << (i++ ? ", " : "") << JsonQuote(kind) << ": " << count;
    }
    out << "}, \"checker_ms\": " << a.elapsed_ms << "}";
  }
  out << ",\n  \"anomalies\": [";
  for (size_t i = 0; i < anomalies.size(); ++i) out << (i ? ", " : "") << JsonQuote(anomalies[i]);
  out << "],\n  \"not_proven\": [";
  for (size_t i = 0; i < vacuity.size(); ++i) out << (i ? ", " : "") << JsonQuote(vacuity[i]);
  out << "]\n}\n";
  return static_cast<bool>(out);
}

}  // namespace kvd::jepsen
