// Copyright (c) kvd authors.

#include "jepsen/harness/history.h"

#include <fstream>

#include "jepsen/harness/json.h"

namespace kvd::jepsen {

void History::Append(HistoryOp op) {
  std::lock_guard<std::mutex> lock(mu_);
  ops_.push_back(std::move(op));
}

std::vector<HistoryOp> History::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ops_;
}

size_t History::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ops_.size();
}

bool WriteJsonl(const std::vector<HistoryOp>& ops, const std::string& path) {
  std::ofstream out(path);
  for (const HistoryOp& op : ops) {
    out << "{\"worker\":" << op.worker << ",\"process\":" << op.process
        << ",\"f\":" << JsonQuote(op.f) << ",\"key\":" << JsonQuote(op.key);
    if (op.f != "read" && op.f != "scan" && op.mops.empty()) {
      out << ",\"value\":" << JsonOptional(op.value);
    }
    if (op.f == "cas") {
      out << ",\"expected\":" << JsonOptional(op.expected);
      if (op.if_version) out << ",\"if_version\":" << *op.if_version;
    }
    out << ",\"outcome\":" << JsonQuote(lincheck::OutcomeName(op.outcome));
    if (op.f == "read" && op.outcome == lincheck::Outcome::kOk) {
      out << ",\"result\":" << JsonOptional(op.result);
    }
    if (!op.error.empty()) out << ",\"error\":" << JsonQuote(op.error);
    if (!op.mops.empty()) {
      // [f, key, value]: a read's value only when the transaction is ok (else it saw nothing).
      out << ",\"txn\":[";
      for (size_t i = 0; i < op.mops.size(); ++i) {
        const Mop& m = op.mops[i];
        const bool seen = m.f != "r" || op.outcome == lincheck::Outcome::kOk;
        out << (i ? "," : "") << "[" << JsonQuote(m.f) << "," << JsonQuote(m.key) << ","
            << (seen ? JsonOptional(m.value) : "null") << "]";
      }
      out << "],\"shards\":[";
      for (size_t i = 0; i < op.txn_shards.size(); ++i) out << (i ? "," : "") << op.txn_shards[i];
      out << "],\"revision\":" << op.revision;
    }
    if (!op.lock.empty()) {
      out << ",\"lock\":" << JsonQuote(op.lock) << ",\"token\":" << op.token
          << ",\"revision\":" << op.revision << ",\"version\":" << op.version
          << ",\"stale\":" << (op.stale ? "true" : "false");
    }
    out << ",\"endpoint\":" << JsonQuote(op.endpoint) << ",\"shard\":" << op.shard
        << ",\"call_ns\":" << op.call_ns << ",\"ret_ns\":" << op.ret_ns << "}\n";
  }
  return static_cast<bool>(out);
}

std::vector<lincheck::Operation> ToCheckerOps(const std::vector<HistoryOp>& ops) {
  std::vector<lincheck::Operation> out;
  for (const HistoryOp& h : ops) {
    lincheck::Operation op;
    if (h.f == "read") {
      op.type = lincheck::OpType::kRead;
    } else if (h.f == "write") {
      op.type = lincheck::OpType::kWrite;
    } else if (h.f == "cas") {
      op.type = lincheck::OpType::kCas;
      if (h.outcome == lincheck::Outcome::kFail && !h.cas_mismatch) continue;
    } else {
      continue;
    }
    op.process = h.process;
    op.key = h.key;
    op.value = h.value;
    op.expected = h.expected;
    op.outcome = h.outcome;
    op.result = h.result;
    op.call = h.call_ns;
    op.ret = h.ret_ns;
    out.push_back(std::move(op));
  }
  return out;
}

}  // namespace kvd::jepsen
