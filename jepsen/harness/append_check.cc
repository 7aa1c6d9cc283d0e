// Copyright (c) kvd authors.

#include "jepsen/harness/append_check.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "jepsen/harness/txn_graph.h"

namespace kvd::jepsen {
namespace {

using lincheck::Outcome;

std::optional<uint64_t> Element(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// "1,2,3" -> {1, 2, 3}; "" -> {}. nullopt if an element is not a number.
std::optional<std::vector<uint64_t>> ParseList(const std::string& text) {
  std::vector<uint64_t> out;
  if (text.empty()) return out;
  size_t begin = 0;
  for (;;) {
    const size_t comma = text.find(',', begin);
    const auto e = Element(std::string_view(text).substr(begin, comma - begin));
    if (!e) return std::nullopt;
    out.push_back(*e);
    if (comma == std::string::npos) return out;
    begin = comma + 1;
  }
}

std::string ListText(const std::vector<uint64_t>& list) {
  std::string s = "[";
  const size_t first = list.size() > 8 ? list.size() - 6 : 0;
  if (first > 0) s += "... ";
  for (size_t i = first; i < list.size(); ++i)
    s += (i > first ? " " : "") + std::to_string(list[i]);
  s += "]";
  if (first > 0) s += " (" + std::to_string(list.size()) + " elements)";
  return s;
}

struct Writer {
  int txn = 0;
  int pos = 0;    // among the transaction's appends to the key
  int count = 0;  // the transaction's appends to the key
};

struct Read {
  int txn = 0;
  int key = 0;
  std::vector<uint64_t> list;
  bool usable = true;  // a prefix of the key's longest read, every element known
};

struct KeyState {
  std::string name;
  std::unordered_map<uint64_t, Writer> writers;
  std::vector<int> reads;
  int longest = -1;
  std::unordered_set<uint64_t> observed;
  int64_t last_read_call = std::numeric_limits<int64_t>::min();
};

class Checker {
 public:
  Checker(const std::vector<HistoryOp>& ops, const AppendCheckOptions& o, AppendCheckResult& r)
      : o_(o), r_(r), base_(ops.data()) {
    for (const HistoryOp& op : ops) {
      if (op.f == "txn") txns_.push_back(&op);
    }
  }

  void Run() {
    Count();
    CollectAppends();
    CollectReads();
    CheckReads();
    BuildGraph();
    LostWrites();
    Cycles();
    for (const auto& [kind, count] : r_.counts) {
      r_.anomalies.push_back(std::to_string(count) + " x " + kind + ": " + first_[kind]);
    }
  }

 private:
  int KeyId(const std::string& name) {
    auto [it, fresh] = key_ids_.emplace(name, static_cast<int>(keys_.size()));
    if (fresh) keys_.push_back(KeyState{name, {}, {}, -1, {}, std::numeric_limits<int64_t>::min()});
    return it->second;
  }

  void Count() {
    for (const HistoryOp* op : txns_) {
      const bool ok = op->outcome == Outcome::kOk;
      bool appends = false;
      for (const Mop& m : op->mops) appends = appends || m.f == "append";
      if (ok) {
        r_.ok_with_appends += appends && op->worker >= 0;
        r_.cross_shard_ok += op->txn_shards.size() > 1 && op->worker >= 0;
        r_.cross_shard_writes += appends && op->txn_shards.size() > 1 && op->worker >= 0;
      }
      if (op->worker < 0) continue;
      r_.txns++;
      r_.txns_ok += ok;
      r_.txns_unknown += op->outcome == Outcome::kUnknown;
      if (op->outcome == Outcome::kFail) {
        (op->error == "200 compare failed" ? r_.txns_compare_failed : r_.txns_refused)++;
      }
    }
  }

  void Add(const std::string& kind, const std::string& example, const std::string& detail = "") {
    if (r_.counts[kind]++ == 0) first_[kind] = example;
    if (r_.counts[kind] <= o_.max_examples) {
      r_.report += kind + ": " + (detail.empty() ? example : detail) + "\n";
    }
  }

  void CollectAppends() {
    for (size_t t = 0; t < txns_.size(); ++t) {
      std::unordered_map<int, std::vector<uint64_t>> own;  // key -> elements in order
      for (const Mop& m : txns_[t]->mops) {
        if (m.f != "append") continue;
        const int k = KeyId(m.key);
        const auto e = Element(m.value.value_or(""));
        if (!e) continue;
        own[k].push_back(*e);
        if (txns_[t]->outcome == Outcome::kOk) r_.appends_ok++;
      }
      for (const auto& [k, elements] : own) {
        for (size_t i = 0; i < elements.size(); ++i) {
          keys_[k].writers.emplace(elements[i], Writer{static_cast<int>(t), static_cast<int>(i),
                                                       static_cast<int>(elements.size())});
        }
      }
    }
  }

  void CollectReads() {
    for (size_t t = 0; t < txns_.size(); ++t) {
      const HistoryOp& op = *txns_[t];
      if (op.outcome != Outcome::kOk) continue;
      for (const Mop& m : op.mops) {
        if (m.f != "r") continue;
        const int k = KeyId(m.key);
        auto list = ParseList(m.value.value_or(""));
        if (!list) {
          Add("garbage", m.key + " = '" + m.value.value_or("") + "' (not a list of numbers) in " +
                             Describe(static_cast<int>(t)));
          continue;
        }
        r_.reads_ok++;
        keys_[k].reads.push_back(static_cast<int>(reads_.size()));
        keys_[k].last_read_call = std::max(keys_[k].last_read_call, op.call_ns);
        reads_.push_back({static_cast<int>(t), k, std::move(*list), true});
      }
    }
    r_.keys = keys_.size();
  }

  void CheckReads() {
    for (Read& rd : reads_) {
      KeyState& ks = keys_[rd.key];
      std::unordered_set<uint64_t> seen;
      for (size_t i = 0; i < rd.list.size(); ++i) {
        const uint64_t e = rd.list[i];
        ks.observed.insert(e);
        auto where = [&] {
          return ks.name + " = " + ListText(rd.list) + " in " + Describe(rd.txn);
        };
        if (!seen.insert(e).second) {
          Add("duplicate elements", std::to_string(e) + " twice in " + where());
          rd.usable = false;
        }
        auto w = ks.writers.find(e);
        if (w == ks.writers.end()) {
          Add("garbage", std::to_string(e) + " was never appended; read " + where());
          rd.usable = false;
          continue;
        }
        if (txns_[w->second.txn]->outcome == Outcome::kFail) {
          Add("G1a (aborted read)", std::to_string(e) + ", appended by failed " +
                                        Describe(w->second.txn) + ", read " + where());
        }
        if (w->second.txn == rd.txn) {
          Add("internal (a read saw its own transaction's append)",
              std::to_string(e) + " read " + where());
        } else if (i + 1 == rd.list.size() && w->second.pos + 1 < w->second.count) {
          Add("G1b (intermediate read)", std::to_string(e) + ", not the last append of " +
                                             Describe(w->second.txn) + ", read " + where());
        }
      }
      if (ks.longest < 0 || reads_[ks.longest].list.size() < rd.list.size()) {
        ks.longest = static_cast<int>(&rd - reads_.data());
      }
    }
    for (Read& rd : reads_) {
      const std::vector<uint64_t>& longest = reads_[keys_[rd.key].longest].list;
      if (!std::equal(rd.list.begin(), rd.list.end(), longest.begin())) {
        rd.usable = false;
        Add("incompatible order", keys_[rd.key].name + " = " + ListText(rd.list) + " in " +
                                      Describe(rd.txn) + " is not a prefix of " +
                                      ListText(longest) + " in " +
                                      Describe(reads_[keys_[rd.key].longest].txn));
      }
    }
  }

  // The node of the transaction that appended `e` to key `k`, or -1.
  int WriterNode(const KeyState& ks, uint64_t e) const {
    auto w = ks.writers.find(e);
    return w == ks.writers.end() ? -1 : node_of_[w->second.txn];
  }

  void BuildGraph() {
    node_of_.assign(txns_.size(), -1);
    for (size_t t = 0; t < txns_.size(); ++t) {
      const HistoryOp& op = *txns_[t];
      bool include = op.outcome == Outcome::kOk;
      if (op.outcome == Outcome::kUnknown) {
        for (const Mop& m : op.mops) {
          const auto e = Element(m.value.value_or(""));
          if (m.f == "append" && e && keys_[key_ids_[m.key]].observed.count(*e)) include = true;
        }
        r_.unknown_included += include;
      }
      if (!include) continue;
      node_of_[t] = static_cast<int>(txn_of_.size());
      txn_of_.push_back(static_cast<int>(t));
    }
    graph_.emplace(static_cast<int>(txn_of_.size()));
    for (size_t k = 0; k < keys_.size(); ++k) {
      const KeyState& ks = keys_[k];
      if (ks.longest < 0) continue;
      const std::vector<uint64_t>& order = reads_[ks.longest].list;
      for (size_t i = 1; i < order.size(); ++i) {
        const int a = WriterNode(ks, order[i - 1]), b = WriterNode(ks, order[i]);
        if (a >= 0 && b >= 0) graph_->Add(a, b, kWW, static_cast<int>(k));
      }
    }
    for (const Read& rd : reads_) {
      if (!rd.usable) continue;
      const KeyState& ks = keys_[rd.key];
      const int reader = node_of_[rd.txn];
      if (!rd.list.empty()) {
        const int w = WriterNode(ks, rd.list.back());
        if (w >= 0) graph_->Add(w, reader, kWR, rd.key);
      }
      const std::vector<uint64_t>& order = reads_[ks.longest].list;
      if (rd.list.size() < order.size()) {
        const int next = WriterNode(ks, order[rd.list.size()]);
        if (next >= 0) graph_->Add(reader, next, kRW, rd.key);
      }
    }
    for (int t : txn_of_) {
      call_.push_back(txns_[t]->call_ns);
      ret_.push_back(txns_[t]->outcome == Outcome::kOk ? txns_[t]->ret_ns : kNever);
    }
    AddRealtimeEdges(call_, ret_, *graph_);
    graph_->Finish();
    r_.nodes = txn_of_.size();
    r_.edges = graph_->edges();
    r_.ww = graph_->edges_of(kWW);
    r_.wr = graph_->edges_of(kWR);
    r_.rw = graph_->edges_of(kRW);
    r_.rt = graph_->edges_of(kRT);
  }

  void LostWrites() {
    for (const KeyState& ks : keys_) {
      for (const auto& [e, w] : ks.writers) {
        const HistoryOp& op = *txns_[w.txn];
        if (op.outcome != Outcome::kOk || ks.observed.count(e) || ks.last_read_call <= op.ret_ns) {
          continue;
        }
        Add("lost write", std::to_string(e) + " appended to " + ks.name + " by " + Describe(w.txn) +
                              ", in no read, although one was invoked at " +
                              std::to_string(ks.last_read_call / 1'000'000) + " ms");
      }
    }
  }

  static std::string Kind(const std::vector<DepGraph::Step>& cycle) {
    int rw = 0;
    bool wr = false, rt = false;
    for (const DepGraph::Step& s : cycle) {
      const std::string name = EdgeName(s.types);
      rw += name == "rw";
      wr = wr || name == "wr";
      rt = rt || name == "rt";
    }
    const std::string base = rw == 0 ? (wr ? "G1c" : "G0") : rw == 1 ? "G-single" : "G2";
    return base + (rt ? "-realtime" : "");
  }

  // Per component of the whole graph, one cycle: the searches run most specific kind first, each
  // a first edge whose most specific type is `first` and a shortest path back over `rest`, and
  // the first that succeeds names the component's anomaly. Candidates for the first edge are
  // bounded (those closed by real time first when `rest` has rt); when every search runs out of
  // them, any cycle of the component is reported.
  void Cycles() {
    struct Search {
      uint8_t first, rest;
    };
    const Search searches[] = {
        {kWW, kWW},       {kWR, kWW | kWR},       {kRW, kWW | kWR},       {kRW, kWW | kWR | kRW},
        {kRT, kWW | kRT}, {kRT, kWW | kWR | kRT}, {kRW, kWW | kWR | kRT}, {kRT, kAllEdges}};
    constexpr size_t kTries = 32;
    std::vector<char> member(txn_of_.size(), 0);
    for (const std::vector<int>& comp : graph_->Sccs(kAllEdges)) {
      for (int v : comp) member[v] = 1;
      bool found = false;
      for (const Search& s : searches) {
        std::vector<DepGraph::Step> candidates;  // first edges: node, types, key; `to` apart
        std::vector<int> to;
        for (int u : comp) {
          for (const DepGraph::Edge& e : graph_->out(u)) {
            if (!member[e.to] || EdgeName(e.types) != std::string(EdgeName(s.first))) continue;
            candidates.push_back({u, s.first, e.key});
            to.push_back(e.to);
          }
        }
        std::vector<size_t> order(candidates.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        if (s.rest & kRT) {  // u -> v where v completed before u began: closed by one rt edge
          std::stable_partition(order.begin(), order.end(),
                                [&](size_t i) { return ret_[to[i]] < call_[candidates[i].node]; });
        }
        for (size_t i = 0; i < order.size() && i < kTries; ++i) {
          const DepGraph::Step& first = candidates[order[i]];
          const auto path = graph_->ShortestPath(to[order[i]], first.node, member, s.rest);
          if (path.empty()) continue;
          std::vector<DepGraph::Step> cycle{first};
          cycle.insert(cycle.end(), path.begin(), path.end());
          Report(cycle);
          found = true;
          break;
        }
        if (found) break;
      }
      if (!found) {  // every search ran out of tries: any cycle
        for (const DepGraph::Edge& e : graph_->out(comp[0])) {
          if (!member[e.to]) continue;
          std::vector<DepGraph::Step> cycle{{comp[0], e.types, e.key}};
          const auto path = graph_->ShortestPath(e.to, comp[0], member, kAllEdges);
          cycle.insert(cycle.end(), path.begin(), path.end());
          Report(cycle);
          break;
        }
      }
      for (int v : comp) member[v] = 0;
    }
  }

  void Report(const std::vector<DepGraph::Step>& cycle) {
    std::string line, detail = "a cycle of " + std::to_string(cycle.size()) + " transactions\n";
    for (size_t i = 0; i < cycle.size(); ++i) {
      const DepGraph::Step& s = cycle[i];
      const int next = cycle[(i + 1) % cycle.size()].node;
      const std::string edge =
          std::string(EdgeName(s.types)) +
          (s.key >= 0 && EdgeName(s.types) != std::string("rt") ? " " + keys_[s.key].name : "");
      line += Label(txn_of_[s.node]) + " -" + edge + "-> ";
      detail += "    " + Describe(txn_of_[s.node]) + "\n      -" + edge + "-> " +
                Label(txn_of_[next]) + "\n";
      if (i + 1 == cycle.size()) line += Label(txn_of_[next]);
    }
    if (line.size() > 600) line = line.substr(0, 600) + " ...";
    Add(Kind(cycle), line, detail);
  }

  // "T<n>": the transaction on line n (from 0) of history.jsonl.
  std::string Label(int t) const { return "T" + std::to_string(txns_[t] - base_); }

  std::string Describe(int t) const {
    const HistoryOp& op = *txns_[t];
    char times[64];
    std::snprintf(times, sizeof(times), "%.1f..%.1f ms", op.call_ns / 1e6, op.ret_ns / 1e6);
    std::string s = Label(t) + " (" +
                    (op.worker < 0 ? std::string("final") : "w" + std::to_string(op.worker)) + " " +
                    std::string(lincheck::OutcomeName(op.outcome)) + " " + times;
    if (!op.txn_shards.empty()) {
      s += " shards";
      for (uint64_t shard : op.txn_shards) s += " " + std::to_string(shard);
    }
    s += ") [";
    for (size_t i = 0; i < op.mops.size(); ++i) {
      const Mop& m = op.mops[i];
      s += (i ? ", " : "") + m.f + " " + m.key;
      if (m.f == "append") s += " " + m.value.value_or("?");
      if (m.f == "r" && op.outcome == Outcome::kOk) {
        const auto list = ParseList(m.value.value_or(""));
        s += " " + (list ? ListText(*list) : "'" + m.value.value_or("") + "'");
      }
    }
    return s + "]";
  }

  const AppendCheckOptions& o_;
  AppendCheckResult& r_;
  const HistoryOp* const base_;  // the history; txns_ point into it
  std::vector<const HistoryOp*> txns_;
  std::unordered_map<std::string, int> key_ids_;
  std::vector<KeyState> keys_;
  std::vector<Read> reads_;
  std::vector<int> node_of_;         // txn -> node, -1 if not in the graph
  std::vector<int> txn_of_;          // node -> txn
  std::vector<int64_t> call_, ret_;  // by node; ret_ kNever: unknown outcome
  std::optional<DepGraph> graph_;
  std::map<std::string, std::string> first_;  // kind -> first example, one line
};

}  // namespace

AppendCheckResult CheckAppend(const std::vector<HistoryOp>& ops, const AppendCheckOptions& o) {
  const auto began = std::chrono::steady_clock::now();
  AppendCheckResult r;
  Checker(ops, o, r).Run();
  if (r.ok_with_appends == 0) r.vacuity.push_back("no transaction with an append committed");
  if (o.require_cross_shard && r.cross_shard_writes == 0) {
    r.vacuity.push_back("no committed transaction with an append spanned several shards");
  }
  if (r.reads_ok == 0) r.vacuity.push_back("no committed transaction read a list");
  r.elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
  return r;
}

std::string AppendSummaryLine(const AppendCheckResult& r) {
  auto n = [](size_t v) { return std::to_string(v); };
  char ms[32];
  std::snprintf(ms, sizeof(ms), "%.1f ms", r.elapsed_ms);
  return "append: " + std::string(r.valid() ? "valid" : "INVALID") + "; txns " + n(r.txns) +
         " (ok " + n(r.txns_ok) + ", compare failed " + n(r.txns_compare_failed) + ", refused " +
         n(r.txns_refused) + ", unknown " + n(r.txns_unknown) + "); committed with appends " +
         n(r.ok_with_appends) + ", cross-shard " + n(r.cross_shard_ok) + " (with appends " +
         n(r.cross_shard_writes) + "); " + n(r.appends_ok) + " appends and " + n(r.reads_ok) +
         " reads committed over " + n(r.keys) + " keys; graph " + n(r.nodes) + " txns (" +
         n(r.unknown_included) + " unknown that were read), " + n(r.edges) + " edges (ww " +
         n(r.ww) + ", wr " + n(r.wr) + ", rw " + n(r.rw) + ", rt " + n(r.rt) + "), " + ms;
}

}  // namespace kvd::jepsen
