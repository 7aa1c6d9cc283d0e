// Copyright (c) kvd authors.
//
// Network topologies for the partition nemeses, as the set of links to cut between nodes
// 1..n (pure functions; the Partitioner turns links into iptables rules).
//
//   isolate  {side} | {rest}: every link across is cut (isolate a node, split a minority off).
//   ring     nodes in a cycle keep only the links to their two neighbours. With 5 nodes every
//            node still reaches a majority (itself and two neighbours) but no two nodes reach the
//            same majority: Jepsen's "majorities ring". Symmetric cuts cannot do this on 3 nodes,
//            where the only topology in which every node keeps a majority without a full mesh
//            is a bridge, so a 3-node ring is a bridge.
//   bridge   {left} - b - {right}: the bridge node b reaches everyone, left and right cannot
//            reach each other. With 5 nodes each half plus b is a majority.

#ifndef KVD_JEPSEN_HARNESS_TOPOLOGY_H_
#define KVD_JEPSEN_HARNESS_TOPOLOGY_H_

#include <string>
#include <utility>
#include <vector>

namespace kvd::jepsen {

using Link = std::pair<int, int>;  // nodes (a, b) with a < b

struct Topology {
  std::string description;  // e.g. "ring n2-n5-n1-n3-n4", "bridge {n1,n2} - n3 - {n4,n5}"
  std::vector<Link> cuts;   // sorted, each link once
};

// Every link between `side` and the other nodes of 1..n.
Topology Isolate(const std::vector<int>& side, int n);
// `order` is a permutation of 1..n (n >= 3); node order[i] keeps links to order[i-1] and
// order[i+1] (cyclically). For n == 3 this is Bridge({order[0]}, order[1], {order[2]}).
Topology Ring(const std::vector<int>& order);
Topology Bridge(const std::vector<int>& left, int bridge, const std::vector<int>& right);

// Whether a and b can talk under `t`.
bool Connected(const Topology& t, int a, int b);
// The nodes of 1..n that cannot talk to `node`.
std::vector<int> CutOffFrom(const Topology& t, int node, int n);
// "{n1,n2}".
std::string NodeList(const std::vector<int>& nodes);

}  // namespace kvd::jepsen

#endif  // KVD_JEPSEN_HARNESS_TOPOLOGY_H_
