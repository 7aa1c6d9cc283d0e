// Copyright (c) kvd authors.

#include "jepsen/harness/set_check.h"

#include <map>
#include <set>
#include <thread>

namespace kvd::jepsen {
namespace {

// Every key under kSetPrefix, following `more`; false if any page failed.
bool ScanAll(rpc::HttpClient& client, bool stale, std::set<std::string>* keys) {
  keys->clear();
  std::string after;
  for (;;) {
    rpc::ScanResult page = client.Scan(kSetPrefix, after, 0, stale);
    if (!page.ok()) return false;
    for (const auto& item : page.items) keys->insert(item.key);
    if (!page.more || page.items.empty()) return true;
    after = page.items.back().key;
  }
}

}  // namespace

SetCheckResult CheckSet(const std::vector<std::string>& node_endpoints, History& history,
                        Clock::time_point start, std::chrono::seconds timeout) {
  const auto began = Clock::now();
  SetCheckResult result;
  std::map<std::string, lincheck::Outcome> adds;
  for (const HistoryOp& op : history.Snapshot()) {
    if (op.f != "add") continue;
    adds[op.key] = op.outcome;
    result.attempted++;
    if (op.outcome == lincheck::Outcome::kOk) result.acknowledged++;
    if (op.outcome == lincheck::Outcome::kFail) result.failed++;
    if (op.outcome == lincheck::Outcome::kUnknown) result.unknown++;
  }

  rpc::HttpClient client = FinalClient(node_endpoints);
  std::set<std::string> present;
  const auto deadline = Clock::now() + timeout;
  HistoryOp scan;
  scan.worker = -1;
  scan.process = 2'000'000;
  scan.f = "scan";
  scan.key = kSetPrefix;
  do {
    scan.call_ns = SinceNs(start);
    result.final_read_ok = ScanAll(client, /*stale=*/false, &present);
    scan.ret_ns = SinceNs(start);
  } while (!result.final_read_ok && Clock::now() < deadline);
  scan.outcome = result.final_read_ok ? lincheck::Outcome::kOk : lincheck::Outcome::kFail;
  scan.result = std::to_string(present.size()) + " elements";
  history.Append(scan);

  result.present = present.size();
  for (const auto& [key, outcome] : adds) {
    if (outcome == lincheck::Outcome::kOk && !present.count(key)) result.lost.push_back(key);
    if (outcome == lincheck::Outcome::kUnknown && present.count(key)) result.unknown_present++;
  }
  for (const std::string& key : present) {
    auto it = adds.find(key);
    if (it == adds.end() || it->second == lincheck::Outcome::kFail) {
      result.unexpected.push_back(key);
    }
  }

  // Every replica must catch up: its stale scan holds every acknowledged add that the linearizable
  // scan found (lost ones are reported above; waiting for them would only burn the timeout).
  for (size_t i = 0; i < node_endpoints.size(); ++i) {
    rpc::ClientOptions o;
    o.endpoints = {node_endpoints[i]};
    o.request_timeout = std::chrono::milliseconds(3000);
    o.max_attempts = 1;
    rpc::HttpClient node_client(o);
    bool converged = false;
    while (!converged) {
      std::set<std::string> local;
      if (ScanAll(node_client, /*stale=*/true, &local)) {
        converged = true;
        for (const auto& [key, outcome] : adds) {
          if (outcome == lincheck::Outcome::kOk && present.count(key) && !local.count(key)) {
            converged = false;
          }
        }
      }
      if (converged || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (!converged) result.nodes_not_converged.push_back(static_cast<int>(i) + 1);
  }
  result.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
  return result;
}

}  // namespace kvd::jepsen
