// Copyright (c) kvd authors.

#include "jepsen/harness/topology.h"

#include <algorithm>

namespace kvd::jepsen {
namespace {

bool Contains(const std::vector<int>& nodes, int node) {
  return std::find(nodes.begin(), nodes.end(), node) != nodes.end();
}

Link MakeLink(int a, int b) { return a < b ? Link{a, b} : Link{b, a}; }

void Normalize(std::vector<Link>& links) {
  std::sort(links.begin(), links.end());
  links.erase(std::unique(links.begin(), links.end()), links.end());
}

std::string Name(int node) { return "n" + std::to_string(node); }

}  // namespace

std::string NodeList(const std::vector<int>& nodes) {
  std::string out = "{";
  for (size_t i = 0; i < nodes.size(); ++i) out += (i ? "," : "") + Name(nodes[i]);
  return out + "}";
}

Topology Isolate(const std::vector<int>& side, int n) {
  Topology t;
  std::vector<int> rest;
  for (int b = 1; b <= n; ++b) {
    if (!Contains(side, b)) rest.push_back(b);
  }
  for (int a : side) {
    for (int b : rest) t.cuts.push_back(MakeLink(a, b));
  }
  Normalize(t.cuts);
  t.description = NodeList(side) + " | " + NodeList(rest);
  return t;
}

Topology Ring(const std::vector<int>& order) {
  const int n = static_cast<int>(order.size());
  if (n == 3) return Bridge({order[0]}, order[1], {order[2]});
  Topology t;
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      const bool neighbours = j == i + 1 || (i == 0 && j == n - 1);
      if (!neighbours) t.cuts.push_back(MakeLink(order[i], order[j]));
    }
  }
  Normalize(t.cuts);
  t.description = "ring ";
  for (int i = 0; i < n; ++i) t.description += (i ? "-" : "") + Name(order[i]);
  t.description += "-" + Name(order[0]);
  return t;
}

Topology Bridge(const std::vector<int>& left, int bridge, const std::vector<int>& right) {
  Topology t;
  for (int a : left) {
    for (int b : right) t.cuts.push_back(MakeLink(a, b));
  }
  Normalize(t.cuts);
  t.description = "bridge " + NodeList(left) + " - " + Name(bridge) + " - " + NodeList(right);
  return t;
}

bool Connected(const Topology& t, int a, int b) {
  return a == b || !std::binary_search(t.cuts.begin(), t.cuts.end(), MakeLink(a, b));
}

std::vector<int> CutOffFrom(const Topology& t, int node, int n) {
  std::vector<int> out;
  for (int b = 1; b <= n; ++b) {
    if (!Connected(t, node, b)) out.push_back(b);
  }
  return out;
}

}  // namespace kvd::jepsen
