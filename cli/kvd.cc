// kvd: one node of a kvd cluster. Parses flags, opens the node's stores, starts the peer
// transport, the node's driver and the HTTP front end, and runs until SIGINT or SIGTERM.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>

#include "cli/kvd_flags.h"
#include "kv/node.h"
#include "rpc/host_port.h"
#include "rpc/http_server.h"
#include "rpc/peer_transport.h"

namespace {

// Writes one log line to stderr, stamped with the UTC time to the millisecond.
void LogLine(std::string_view component, std::string_view line) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char stamp[80];
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms.count()));
  std::string out =
      std::string(stamp) + " " + std::string(component) + ": " + std::string(line) + "\n";
  std::cerr << out << std::flush;
}

int Fail(const std::string& message) {
  std::cerr << "kvd: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvd: a node of a Raft-replicated, strongly consistent key-value cluster"};
  uint64_t id = 0;
  std::string data_dir, peers_flag, http_peers_flag, peer_listen, http_listen = "127.0.0.1:8080";
  kvd::kv::NodeConfig cfg;
  kvd::rpc::HttpOptions http;
  size_t max_value_bytes = http.max_body_bytes;
  app.add_option("--id", id, "This node's id (positive; one of the ids in --peers)")->required();
  app.add_option("--data-dir", data_dir, "Directory for this node's data (raftdb/, kvdb/)")
      ->required();
  app.add_option("--peers", peers_flag,
                 "The initial cluster: ID=HOST:PORT of every node's peer (Raft) address, "
                 "comma-separated, e.g. 1=127.0.0.1:7080,2=127.0.0.2:7080,3=127.0.0.3:7080")
      ->required();
  app.add_option("--http-peers", http_peers_flag,
                 "Every node's HTTP address, ID=HOST:PORT comma-separated (shown by /v1/cluster)");
  app.add_option("--peer-listen", peer_listen,
                 "Address for peer traffic (default: this node's entry in --peers); outgoing "
                 "peer connections bind its IP too");
  app.add_option("--http-listen", http_listen, "Address of the HTTP API")->capture_default_str();
  int shard_count = 1;
  app.add_option("--shards", shard_count,
                 "Data shards (Raft groups 1..N) on the consistent-hash ring; every node must be "
                 "given the same value")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--replication", cfg.replication,
                 "Replicas per data shard (clamped to the number of nodes); same on every node")
      ->capture_default_str()
      ->check(CLI::Range(1, 9));
  app.add_option("--vnodes", cfg.vnodes_per_shard,
                 "Virtual nodes per shard on the hash ring; same on every node")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--quiesce", cfg.quiesce,
                 "Idle shard groups stop heartbeating until something needs them (true/false)")
      ->capture_default_str();
  app.add_option("--tick-ms", cfg.tick_ms, "Raft tick length in milliseconds")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--election-ticks", cfg.election_ticks,
                 "Ticks without a leader before an election (randomized up to twice this)")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  app.add_option("--request-timeout-ms", cfg.request_timeout_ms,
                 "How long a request may wait for commit before its outcome is reported unknown")
      ->capture_default_str()
      ->check(CLI::Range(10, 600000));
  app.add_option("--max-value-bytes", max_value_bytes, "Largest accepted value (request body)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64 << 20));
  app.add_option("--compact-every", cfg.compact_every,
                 "Applied entries between Raft log compactions")
      ->capture_default_str()
      ->check(CLI::Range(10, 100000000));
  int http_max_connections = http.max_connections;
  app.add_option("--http-max-connections", http_max_connections,
                 "Open HTTP connections before idle ones are evicted (then 429); lowered to fit "
                 "the open-file limit")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  int64_t header_timeout_ms = http.header_timeout.count();
  app.add_option("--http-header-timeout-ms", header_timeout_ms,
                 "Time for a request header to arrive (from accept, or from its first byte on a "
                 "kept-alive connection); then 408 request_timeout, or a silent close if nothing "
                 "came")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}));
  int64_t idle_timeout_ms = http.idle_timeout.count();
  app.add_option("--http-idle-timeout-ms", idle_timeout_ms,
                 "How long a kept-alive HTTP connection may wait for its next request")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}));
  kvd::rpc::PeerTransportOptions peer_options;
  size_t peer_max_inbound = peer_options.max_inbound_connections;
  app.add_option("--peer-max-inbound", peer_max_inbound,
                 "Inbound peer connections in all; lowered to fit the open-file limit")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  app.add_option("--peer-max-inbound-per-source", peer_options.max_inbound_per_source,
                 "Inbound peer connections from one IP address")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  int64_t peer_stall_ms = peer_options.inbound_stall_timeout.count();
  app.add_option("--peer-stall-timeout-ms", peer_stall_ms,
                 "An inbound peer connection must complete its first frame within this time, "
                 "and a frame once begun may not pause longer")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}));
  size_t peer_max_frame_bytes = 0;
  app.add_option("--peer-max-frame-bytes", peer_max_frame_bytes,
                 "Largest peer frame sent or accepted (0: the larger of 8 MiB and "
                 "2 * --max-value-bytes + 1 MiB)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{1} << 30));
  size_t peer_buffer_bytes = 0;
  app.add_option("--peer-inbound-buffer-bytes", peer_buffer_bytes,
                 "Receive buffers of all inbound peer connections together (0: the larger of "
                 "64 MiB and 4 * the frame cap)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{1} << 32));
  CLI11_PARSE(app, argc, argv);

  std::string error;
  auto peers = kvd::cli::ParseNodeList(peers_flag, &error);
  if (!peers) return Fail("--peers: " + error);
  std::map<uint64_t, std::string> http_peers;
  if (!http_peers_flag.empty()) {
    auto parsed = kvd::cli::ParseNodeList(http_peers_flag, &error);
    if (!parsed) return Fail("--http-peers: " + error);
    http_peers = *parsed;
  }
  if (!peers->count(id)) return Fail("--id " + std::to_string(id) + " is not listed in --peers");
  if (peer_listen.empty()) peer_listen = peers->at(id);
  auto http_address = kvd::rpc::ParseHostPort(http_listen, &error);
  if (!http_address) return Fail("--http-listen: " + error);
  if (!http_peers.count(id)) http_peers[id] = http_listen;

  cfg.node_id = id;
  cfg.data_dir = data_dir;
  cfg.shards.clear();
  for (int s = 1; s <= shard_count; ++s) cfg.shards.push_back(static_cast<uint64_t>(s));
  cfg.log = [](std::string_view line) { LogLine("kvd raft", line); };
  for (const auto& [node, address] : *peers) {
    cfg.members.push_back({node, address, http_peers.count(node) ? http_peers[node] : "", false});
  }

  // Block the stop signals before any thread starts, so that only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Every connection cap must stay below the open-file limit, with room for LevelDB: at the
  // limit LevelDB fails with EMFILE and the node aborts.
  const kvd::cli::FileLimit files = kvd::cli::RaiseFileLimit();
  const kvd::cli::ConnectionCaps caps = kvd::cli::PlanConnectionCaps(
      files.soft, http_max_connections, peer_max_inbound, peers->size());
  LogLine("kvd", "open files: soft limit " + std::to_string(files.soft_before) +
                     (files.soft != files.soft_before ? " raised to " + std::to_string(files.soft)
                                                      : std::string(" kept")) +
                     " (hard " + std::to_string(files.hard) + ")" +
                     (files.error.empty() ? "" : "; could not raise: " + files.error) +
                     "; HTTP connections <= " + std::to_string(caps.http_max_connections) +
                     " (asked " + std::to_string(http_max_connections) +
                     "), inbound peer connections <= " + std::to_string(caps.peer_max_inbound) +
                     " (asked " + std::to_string(peer_max_inbound) + "), " +
                     std::to_string(caps.reserved_for_files) + " kept for LevelDB and the rest");

  std::unique_ptr<kvd::kv::Node> node;
  kvd::raft::Status s = kvd::kv::Node::Open(cfg, &node);
  if (!s.ok()) return Fail("cannot open node: " + s.ToString());

  kvd::kv::Node* node_ptr = node.get();
  peer_options.log = [](std::string_view line) { LogLine("kvd peer", line); };
  peer_options.max_inbound_connections = caps.peer_max_inbound;
  peer_options.inbound_stall_timeout = std::chrono::milliseconds(peer_stall_ms);
  // A frame carries at most ~1 MiB of entries or one snapshot chunk, but always one whole entry.
  peer_options.max_frame_bytes =
      peer_max_frame_bytes != 0
          ? peer_max_frame_bytes
          : std::max(kvd::rpc::kDefaultMaxPeerFrameBytes, 2 * max_value_bytes + (size_t{1} << 20));
  peer_options.max_inbound_buffer_bytes =
      peer_buffer_bytes != 0 ? peer_buffer_bytes
                             : std::max(size_t{64} << 20, 4 * peer_options.max_frame_bytes);
  kvd::rpc::PeerTransport transport(
      id, peer_listen, *peers,
      [node_ptr](kvd::kvpb::PeerBatch batch) { node_ptr->Deliver(std::move(batch)); },
      peer_options);
  kvd::rpc::PeerStatus ps = transport.Start();
  if (!ps.ok()) return Fail("peer transport: " + ps.message());
  node->Start(&transport);

  http.host = http_address->host;
  http.port = http_address->port;
  http.max_body_bytes = max_value_bytes;
  http.request_timeout = std::chrono::milliseconds(cfg.request_timeout_ms + 1000);
  http.max_connections = caps.http_max_connections;
  http.header_timeout = std::chrono::milliseconds(header_timeout_ms);
  http.idle_timeout = std::chrono::milliseconds(idle_timeout_ms);
  http.log = [](std::string_view line) { LogLine("kvd http", line); };
  kvd::rpc::HttpServer server(*node, http);
  if (!server.Start(&error)) {
    node->Stop();
    return Fail("HTTP server on " + http_listen + ": " + error);
  }
  LogLine("kvd", "node " + std::to_string(id) + " serving HTTP on " + http_address->host + ":" +
                     std::to_string(server.port()) + ", peers on " + transport.listen_address() +
                     ", data in " + data_dir);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  LogLine("kvd", "node " + std::to_string(id) + " stopping (signal " + std::to_string(sig) + ")");
  server.Stop();
  node->Stop();
  transport.Stop();
  return 0;
}
