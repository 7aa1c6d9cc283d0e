// Copyright (c) kvd authors.
//
// A dependency graph over transactions (Adya's DSG, as Elle builds it) and the searches the
// append checker (append_check.h) runs on it: strongly connected components (Tarjan, iterative)
// of the subgraph of some edge types, a shortest cycle inside one by BFS, and real-time edges
// built without the quadratic set of pairs.
//
// Edge types: ww (T' appended the element after T's in a key's order), wr (T read a list whose
// last element T' appended), rw (T read a prefix that lacks the element T' appended next), rt (T
// completed before T' was invoked). Two transactions are joined by at most one edge, carrying
// every type that links them.
//
// Thread-compatible (the searches share scratch space: one at a time per graph).

#ifndef KVD_JEPSEN_HARNESS_TXN_GRAPH_H_
#define KVD_JEPSEN_HARNESS_TXN_GRAPH_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace kvd::jepsen {

enum EdgeType : uint8_t { kWW = 1, kWR = 2, kRW = 4, kRT = 8 };
inline constexpr uint8_t kAllEdges = kWW | kWR | kRW | kRT;

// "ww", "wr", "rw", "rt" for one type; the most specific (first in that order) of several.
const char* EdgeName(uint8_t types);

class DepGraph {
 public:
  struct Edge {
    int to = 0;
    uint8_t types = 0;
    int key = -1;  // a key (caller's id) that induced a ww, wr or rw type; -1: none
  };
  // A step of a cycle: from `node` along an edge of `types` (restricted to the search's mask).
  struct Step {
    int node = 0;
    uint8_t types = 0;
    int key = -1;
  };

  explicit DepGraph(int nodes) : adj_(static_cast<size_t>(nodes)) {}
  int nodes() const { return static_cast<int>(adj_.size()); }
  // Self-loops are ignored. Call Finish() after the last Add and before any search.
  void Add(int from, int to, uint8_t type, int key = -1);
  void Finish();  // merges parallel edges
  size_t edges() const;
  size_t edges_of(uint8_t type) const;  // edges carrying `type`
  const std::vector<Edge>& out(int node) const { return adj_[static_cast<size_t>(node)]; }

  // The components of two or more nodes of the subgraph of edges with a type in `mask`.
  std::vector<std::vector<int>> Sccs(uint8_t mask) const;
  // A shortest path from `from` to `to` over edges with a type in `mask` between nodes with
  // member[node] set; the steps from `from` up to (not including) `to`. Empty if none (or
  // from == to). Costs what it visits.
  std::vector<Step> ShortestPath(int from, int to, const std::vector<char>& member,
                                 uint8_t mask) const;
  size_t visited() const { return visited_; }  // nodes ShortestPath visited so far, in all

 private:
  std::vector<std::vector<Edge>> adj_;
  // ShortestPath's scratch (not thread-safe: one search at a time).
  mutable std::vector<int> parent_;
  mutable std::vector<const Edge*> via_;
  mutable size_t visited_ = 0;
};

// Real-time order: node i ran from call[i] to ret[i] (kNever: no known completion, e.g. an
// indeterminate transaction; it gets edges in, none out). Adds an rt edge to each node from every
// node in the real-time frontier at its invocation: the completed nodes that no other node
// completed before this invocation follows in real time. Every pair a, b with ret[a] < call[b]
// is then joined by a path of rt edges, with O(nodes x concurrency) edges.
inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
void AddRealtimeEdges(const std::vector<int64_t>& call, const std::vector<int64_t>& ret,
                      DepGraph& graph);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_TXN_GRAPH_H_
