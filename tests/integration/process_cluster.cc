#include "tests/integration/process_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace kvd::test {
namespace {

// A port that is free on 'ip' right now (bind to port 0, read it back, close).
uint16_t FreePort(const std::string& ip) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    throw std::runtime_error("cannot bind " + ip);
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string Ip(int node) { return "127.0.0." + std::to_string(node); }

}  // namespace

ProcessCluster::ProcessCluster(std::string name, int nodes, std::vector<std::string> extra_flags)
    : name_(std::move(name)), nodes_(nodes), extra_flags_(std::move(extra_flags)) {
  dir_ = (std::filesystem::temp_directory_path() /
          ("kvd_it_" + name_ + "_" + std::to_string(::getpid())))
             .string();
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  for (int i = 1; i <= nodes_; ++i) {
    http_ports_.push_back(FreePort(Ip(i)));
    peer_ports_.push_back(FreePort(Ip(i)));
  }
}

ProcessCluster::~ProcessCluster() {
  for (auto& [node, pid] : pids_) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string ProcessCluster::HttpAddress(int node) const {
  return Ip(node) + ":" + std::to_string(http_ports_[node - 1]);
}

std::vector<std::string> ProcessCluster::AllHttpAddresses() const {
  std::vector<std::string> out;
  for (int i = 1; i <= nodes_; ++i) out.push_back(HttpAddress(i));
  return out;
}

void ProcessCluster::SetNodeFlags(int node, std::vector<std::string> flags) {
  node_flags_[node] = std::move(flags);
}

void ProcessCluster::SetNodeBinary(int node, std::string binary, std::vector<std::string> env) {
  if (binary.empty()) {
    node_binary_.erase(node);
    return;
  }
  node_binary_[node] = {std::move(binary), std::move(env)};
}

void ProcessCluster::Start(int node) {
  std::string peers, http_peers;
  for (int i = 1; i <= nodes_; ++i) {
    peers += (i > 1 ? "," : "") + std::to_string(i) + "=" + Ip(i) + ":" +
             std::to_string(peer_ports_[i - 1]);
    http_peers += (i > 1 ? "," : "") + std::to_string(i) + "=" + HttpAddress(i);
  }
  std::string binary = KVD_BINARY;
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  if (auto it = node_binary_.find(node); it != node_binary_.end()) {
    binary = it->second.first;
    env.insert(env.end(), it->second.second.begin(), it->second.second.end());
  }
  std::vector<std::string> args = {binary,
                                   "--id",
                                   std::to_string(node),
                                   "--data-dir",
                                   dir_ + "/node" + std::to_string(node),
                                   "--peers",
                                   peers,
                                   "--http-peers",
                                   http_peers,
                                   "--http-listen",
                                   HttpAddress(node)};
  args.insert(args.end(), extra_flags_.begin(), extra_flags_.end());
  if (auto it = node_flags_.find(node); it != node_flags_.end()) {
    args.insert(args.end(), it->second.begin(), it->second.end());
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string log = dir_ + "/node" + std::to_string(node) + ".log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot spawn " + binary);
  pids_[node] = pid;
}

void ProcessCluster::StartAll() {
  for (int i = 1; i <= nodes_; ++i) Start(i);
}

void ProcessCluster::Kill(int node) {
  auto it = pids_.find(node);
  if (it == pids_.end()) return;
  ::kill(it->second, SIGKILL);
  ::waitpid(it->second, nullptr, 0);
  pids_.erase(it);
}

void ProcessCluster::Stop(int node) {
  auto it = pids_.find(node);
  if (it == pids_.end()) return;
  ::kill(it->second, SIGTERM);
  ::waitpid(it->second, nullptr, 0);
  pids_.erase(it);
}

bool ProcessCluster::Running(int node) const { return pids_.count(node) > 0; }

std::optional<int> ProcessCluster::WaitExit(int node, std::chrono::milliseconds timeout) {
  auto it = pids_.find(node);
  if (it == pids_.end()) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(it->second, &status, WNOHANG) == it->second) {
      pids_.erase(it);
      return status;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool ProcessCluster::WaitReady(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& [node, pid] : pids_) {
    rpc::HttpClient c = Client(node, std::chrono::seconds(1));
    while (!c.Ready().ok()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return true;
}

uint64_t ProcessCluster::WaitLeader(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    uint64_t leader = 0;
    bool agree = true;
    for (auto& [node, pid] : pids_) {
      auto st = Client(node, std::chrono::seconds(1)).ClusterStatus();
      uint64_t l = 0;  // of the first data shard (shard 0 is the meta shard)
      for (const auto& sh : st.ok() ? st.shards : decltype(st.shards){}) {
        if (sh.id == 1) l = sh.leader;
      }
      if (l == 0 || (leader != 0 && l != leader)) agree = false;
      leader = l;
    }
    if (agree && leader != 0 && Running(static_cast<int>(leader))) return leader;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return 0;
}

rpc::HttpClient ProcessCluster::Client(int node, std::chrono::milliseconds timeout) {
  rpc::ClientOptions o;
  o.endpoints = {HttpAddress(node)};
  o.request_timeout = timeout;
  o.max_attempts = 1;
  return rpc::HttpClient(o);
}

rpc::HttpClient ProcessCluster::ClusterClient(std::chrono::milliseconds timeout) {
  rpc::ClientOptions o;
  o.endpoints = AllHttpAddresses();
  o.request_timeout = timeout;
  o.max_attempts = 10;
  o.retry_unavailable = true;
  return rpc::HttpClient(o);
}

double ProcessCluster::Metric(int node, const std::string& name) {
  auto r = Client(node).Request("GET", "/metrics");
  if (!r.ok()) return -1;
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

std::string ProcessCluster::Log(int node) const {
  std::ifstream in(dir_ + "/node" + std::to_string(node) + ".log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace kvd::test
