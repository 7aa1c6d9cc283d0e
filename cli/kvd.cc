// kvd: one node of a kvd cluster. Parses flags, opens the node's stores, starts the peer
// transport, the node's driver and the HTTP front end, and runs until SIGINT or SIGTERM.
#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>

#include "cli/kvd_flags.h"
#include "kv/node.h"
#include "rpc/http_server.h"
#include "rpc/peer_address.h"
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

  std::unique_ptr<kvd::kv::Node> node;
  kvd::raft::Status s = kvd::kv::Node::Open(cfg, &node);
  if (!s.ok()) return Fail("cannot open node: " + s.ToString());

  kvd::kv::Node* node_ptr = node.get();
  kvd::rpc::PeerTransportOptions peer_options;
  peer_options.log = [](std::string_view line) { LogLine("kvd peer", line); };
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
