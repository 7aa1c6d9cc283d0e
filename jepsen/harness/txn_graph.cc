// Copyright (c) kvd authors.

#include "jepsen/harness/txn_graph.h"

#include <algorithm>

namespace kvd::jepsen {

const char* EdgeName(uint8_t types) {
  if (types & kWW) return "ww";
  if (types & kWR) return "wr";
  if (types & kRW) return "rw";
  if (types & kRT) return "rt";
  return "?";
}

void DepGraph::Add(int from, int to, uint8_t type, int key) {
  if (from == to) return;
  adj_[static_cast<size_t>(from)].push_back({to, type, type == kRT ? -1 : key});
}

void DepGraph::Finish() {
  for (std::vector<Edge>& list : adj_) {
    std::stable_sort(list.begin(), list.end(),
                     [](const Edge& a, const Edge& b) { return a.to < b.to; });
    size_t w = 0;
    for (size_t r = 0; r < list.size(); ++r) {
      if (w > 0 && list[w - 1].to == list[r].to) {
        list[w - 1].types |= list[r].types;
        if (list[w - 1].key < 0) list[w - 1].key = list[r].key;
      } else {
        list[w++] = list[r];
      }
    }
    list.resize(w);
  }
}

size_t DepGraph::edges() const {
  size_t n = 0;
  for (const auto& list : adj_) n += list.size();
  return n;
}

size_t DepGraph::edges_of(uint8_t type) const {
  size_t n = 0;
  for (const auto& list : adj_) {
    for (const Edge& e : list) n += (e.types & type) != 0;
  }
  return n;
}

std::vector<std::vector<int>> DepGraph::Sccs(uint8_t mask) const {
  const int n = nodes();
  std::vector<int> index(n, -1), low(n, 0);
  std::vector<char> on_stack(n, 0);
  std::vector<int> stack;
  std::vector<std::vector<int>> out;
  struct Frame {
    int v;
    size_t edge;
  };
  std::vector<Frame> calls;
  int counter = 0;
  auto visit = [&](int v) {
    index[v] = low[v] = counter++;
    stack.push_back(v);
    on_stack[v] = 1;
    calls.push_back({v, 0});
  };
  for (int s = 0; s < n; ++s) {
    if (index[s] != -1) continue;
    visit(s);
    while (!calls.empty()) {
      const int v = calls.back().v;
      const std::vector<Edge>& list = adj_[static_cast<size_t>(v)];
      if (calls.back().edge < list.size()) {
        const Edge& e = list[calls.back().edge++];
        if ((e.types & mask) == 0) continue;
        if (index[e.to] == -1) {
          visit(e.to);
        } else if (on_stack[e.to]) {
          low[v] = std::min(low[v], index[e.to]);
        }
        continue;
      }
      if (low[v] == index[v]) {
        std::vector<int> component;
        int w = -1;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = 0;
          component.push_back(w);
        } while (w != v);
        if (component.size() >= 2) {
          std::sort(component.begin(), component.end());
          out.push_back(std::move(component));
        }
      }
      calls.pop_back();
      if (!calls.empty()) {
        const int u = calls.back().v;
        low[u] = std::min(low[u], low[v]);
      }
    }
  }
  return out;
}

std::vector<DepGraph::Step> DepGraph::ShortestPath(int from, int to,
                                                   const std::vector<char>& member,
                                                   uint8_t mask) const {
  if (from == to) return {};
  // parent_[v]: the node BFS reached v from (-1: the start), via_[v] the edge; -2 = not reached.
  // Only the nodes reached are reset afterwards, so a search costs what it visits.
  parent_.resize(adj_.size(), -2);
  via_.resize(adj_.size(), nullptr);
  std::vector<int> reached{from};
  parent_[from] = -1;
  for (size_t head = 0; head < reached.size() && parent_[to] == -2; ++head) {
    const int v = reached[head];
    for (const Edge& e : adj_[static_cast<size_t>(v)]) {
      if ((e.types & mask) == 0 || !member[e.to] || parent_[e.to] != -2) continue;
      parent_[e.to] = v;
      via_[e.to] = &e;
      reached.push_back(e.to);
    }
  }
  visited_ += reached.size();
  std::vector<Step> path;
  if (parent_[to] != -2) {
    for (int v = to; v != from; v = parent_[v]) {
      path.push_back({parent_[v], static_cast<uint8_t>(via_[v]->types & mask), via_[v]->key});
    }
    std::reverse(path.begin(), path.end());
  }
  for (int v : reached) parent_[v] = -2;
  return path;
}

void AddRealtimeEdges(const std::vector<int64_t>& call, const std::vector<int64_t>& ret,
                      DepGraph& graph) {
  const int n = static_cast<int>(call.size());
  // Events in time order; at one instant invocations first (an op that returned at the very
  // moment another was invoked does not precede it).
  struct Event {
    int64_t at;
    bool complete;
    int node;
  };
  std::vector<Event> events;
  events.reserve(2 * static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    events.push_back({call[i], false, i});
    if (ret[i] != kNever) events.push_back({ret[i], true, i});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.at != b.at) return a.at < b.at;
    return a.complete < b.complete;
  });
  std::vector<char> in_frontier(n, 0);
  std::vector<int> frontier;  // may hold nodes already removed (in_frontier 0); compacted lazily
  std::vector<std::vector<int>> pred(n);
  for (const Event& ev : events) {
    if (!ev.complete) {
      std::erase_if(frontier, [&](int f) { return !in_frontier[f]; });
      pred[ev.node] = frontier;
      for (int f : frontier) graph.Add(f, ev.node, kRT);
      continue;
    }
    // Everything that preceded this node now precedes the frontier through it.
    for (int p : pred[ev.node]) in_frontier[p] = 0;
    std::vector<int>().swap(pred[ev.node]);
    in_frontier[ev.node] = 1;
    frontier.push_back(ev.node);
  }
}

}  // namespace kvd::jepsen
