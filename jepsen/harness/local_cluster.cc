// Copyright (c) kvd authors.

#include "jepsen/harness/local_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <utility>

extern char** environ;

namespace kvd::jepsen {
namespace {

// A port free on `ip` right now (bind to port 0, read it back, close).
uint16_t FreePort(const std::string& ip) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot bind " + ip + " (is 127.0.0.0/8 routed to lo?)");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

rpc::HttpClient ShortClient(const std::string& address, int timeout_ms) {
  rpc::ClientOptions o;
  o.endpoints = {address};
  o.connect_timeout = std::chrono::milliseconds(timeout_ms);
  o.request_timeout = std::chrono::milliseconds(timeout_ms);
  o.max_attempts = 1;
  o.retry_unavailable = false;
  return rpc::HttpClient(o);
}

// The harness's environment without the crash-point variables, then `extra` (NAME=VALUE), which
// replaces an inherited variable of the same name.
std::vector<std::string> NodeEnvironment(const std::vector<std::string>& extra) {
  auto name = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e, n = name(entry);
    bool replaced = n == "KVD_CRASH_AT" || n == "KVD_CRASH_ONE_IN";
    for (const std::string& x : extra) replaced = replaced || name(x) == n;
    if (!replaced) env.push_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

}  // namespace

bool ExitEvent::AtCrashPoint() const { return WIFEXITED(status) && WEXITSTATUS(status) == 137; }

std::string ExitEvent::Describe() const {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::strsignal(WTERMSIG(status));
    return "signal " + std::to_string(WTERMSIG(status)) +
           (name ? std::string(" (") + name + ")" : "");
  }
  return "status " + std::to_string(status);
}

LocalCluster::LocalCluster(Config config)
    : config_(std::move(config)), pids_(config_.nodes, 0), paused_(config_.nodes, false) {
  for (int i = 1; i <= config_.nodes; ++i) {
    http_ports_.push_back(FreePort(Ip(i)));
    peer_ports_.push_back(FreePort(Ip(i)));
    std::filesystem::create_directories(config_.dir + "/node" + std::to_string(i));
  }
}

LocalCluster::~LocalCluster() {
  std::lock_guard<std::mutex> lock(mu_);
  for (pid_t& pid : pids_) {
    if (pid == 0) continue;
    ::kill(pid, SIGCONT);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid = 0;
  }
}

std::string LocalCluster::HttpAddress(int node) const {
  return Ip(node) + ":" + std::to_string(http_ports_[node - 1]);
}

std::vector<std::string> LocalCluster::HttpAddresses() const {
  std::vector<std::string> out;
  for (int i = 1; i <= config_.nodes; ++i) out.push_back(HttpAddress(i));
  return out;
}

bool LocalCluster::Start(int node) {
  std::string peers, http_peers;
  for (int i = 1; i <= config_.nodes; ++i) {
    const std::string sep = i > 1 ? "," : "";
    peers += sep + std::to_string(i) + "=" + Ip(i) + ":" + std::to_string(peer_ports_[i - 1]);
    http_peers += sep + std::to_string(i) + "=" + HttpAddress(i);
  }
  const std::string node_dir = config_.dir + "/node" + std::to_string(node);
  std::vector<std::string> args = {
      config_.kvd_path, "--id", std::to_string(node), "--data-dir", node_dir + "/data",
      "--peers",        peers,  "--http-peers",       http_peers,   "--http-listen",
      HttpAddress(node)};
  args.insert(args.end(), config_.extra_flags.begin(), config_.extra_flags.end());
  if (auto it = config_.node_flags.find(node); it != config_.node_flags.end()) {
    args.insert(args.end(), it->second.begin(), it->second.end());
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = NodeEnvironment(config_.env);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string log = node_dir + ".log";

  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return false;
  if (pids_[node - 1] != 0) return true;
  // Everything the child needs is prepared above: after fork() it only calls async-signal-safe
  // functions.
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  pids_[node - 1] = pid;
  paused_[node - 1] = false;
  return true;
}

void LocalCluster::StartAll() {
  for (int i = 1; i <= config_.nodes; ++i) Start(i);
}

bool LocalCluster::Kill(int node, bool* exited_first) {
  std::lock_guard<std::mutex> lock(mu_);
  if (exited_first != nullptr) *exited_first = false;
  pid_t pid = pids_[node - 1];
  if (pid == 0) return false;
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  pids_[node - 1] = 0;
  paused_[node - 1] = false;
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) return true;
  exits_.push_back({node, status, std::chrono::steady_clock::now()});
  if (exited_first != nullptr) *exited_first = true;
  return false;
}

bool LocalCluster::Pause(int node, bool* exited_first) {
  std::lock_guard<std::mutex> lock(mu_);
  if (exited_first != nullptr) *exited_first = false;
  pid_t pid = pids_[node - 1];
  if (pid == 0 || ::kill(pid, SIGSTOP) != 0) return false;
  int status = 0;
  // WUNTRACED reports the stop once it happened: proof that the process is frozen.
  pid_t got = ::waitpid(pid, &status, WUNTRACED);
  if (got == pid && !WIFSTOPPED(status)) {  // it exited meanwhile and is reaped now
    pids_[node - 1] = 0;
    exits_.push_back({node, status, std::chrono::steady_clock::now()});
    if (exited_first != nullptr) *exited_first = true;
    return false;
  }
  paused_[node - 1] = true;
  return got == pid;
}

std::vector<ExitEvent> LocalCluster::TakeExits() {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < pids_.size(); ++i) {
    int status = 0;
    // Without WUNTRACED a stop is not reported: only an exit or a death by a signal.
    if (pids_[i] == 0 || ::waitpid(pids_[i], &status, WNOHANG) != pids_[i]) continue;
    pids_[i] = 0;
    paused_[i] = false;
    exits_.push_back({static_cast<int>(i) + 1, status, std::chrono::steady_clock::now()});
  }
  return std::exchange(exits_, {});
}

bool LocalCluster::Resume(int node) {
  std::lock_guard<std::mutex> lock(mu_);
  pid_t pid = pids_[node - 1];
  if (pid == 0) return false;
  paused_[node - 1] = false;
  return ::kill(pid, SIGCONT) == 0;
}

bool LocalCluster::Running(int node) const {
  std::lock_guard<std::mutex> lock(mu_);
  return pids_[node - 1] != 0;
}

bool LocalCluster::Paused(int node) const {
  std::lock_guard<std::mutex> lock(mu_);
  return paused_[node - 1];
}

void LocalCluster::StopAll() {
  std::vector<pid_t> pids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    for (size_t i = 0; i < pids_.size(); ++i) {
      if (pids_[i] == 0) continue;
      ::kill(pids_[i], SIGCONT);
      ::kill(pids_[i], SIGTERM);
      pids.push_back(pids_[i]);
      pids_[i] = 0;
      paused_[i] = false;
    }
  }
  for (pid_t pid : pids) {
    for (int i = 0; i < 100; ++i) {  // up to 5 s for a graceful stop
      if (::waitpid(pid, nullptr, WNOHANG) == pid) {
        pid = 0;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (pid != 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
}

const ShardView* NodeView::Find(uint64_t shard) const {
  auto it = shards.find(shard);
  return it == shards.end() ? nullptr : &it->second;
}

uint64_t Leadership::Busiest() const {
  std::map<uint64_t, int> led;
  for (const auto& [shard, lead] : shards) {
    if (lead.leader != 0) led[lead.leader]++;
  }
  uint64_t best = 0;
  int most = 0;
  for (const auto& [node, count] : led) {
    if (count > most) best = node, most = count;
  }
  return best;
}

int Leadership::Led(uint64_t node) const {
  int led = 0;
  for (const auto& [shard, lead] : shards) led += lead.leader == node && node != 0;
  return led;
}

uint64_t Leadership::TermSum() const {
  uint64_t sum = 0;
  for (const auto& [shard, lead] : shards) sum += lead.term;
  return sum;
}

NodeView LocalCluster::View(int node) const {
  NodeView view;
  view.node = node;
  if (!Running(node) || Paused(node)) return view;
  auto st = ShortClient(HttpAddress(node), 500).ClusterStatus();
  if (!st.ok()) return view;
  view.answered = true;
  for (const auto& sh : st.shards) {
    if (sh.id == 0) continue;  // the meta shard
    view.shards[sh.id] = ShardView{sh.leader, sh.term, sh.applied_index, sh.replicas};
  }
  return view;
}

Leadership LocalCluster::Leaders(const std::vector<int>& nodes) const {
  Leadership out;
  for (int n : nodes) {
    NodeView v = View(n);
    if (!v.answered) continue;
    for (const auto& [shard, sv] : v.shards) {
      Leadership::Lead& lead = out.shards[shard];
      if (lead.replicas.empty()) lead.replicas = sv.replicas;
      if (sv.leader != 0 && sv.term >= lead.term) {
        lead.leader = sv.leader;
        lead.term = sv.term;
      }
    }
    out.views[static_cast<uint64_t>(n)] = std::move(v);
  }
  return out;
}

std::pair<uint64_t, uint64_t> LocalCluster::LeaderAndTerm(const std::vector<int>& nodes) const {
  const Leadership l = Leaders(nodes);
  return {l.Busiest(), l.TermSum()};
}

uint64_t LocalCluster::WaitLeader(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto usable = [this](uint64_t node) {
    return node >= 1 && node <= static_cast<uint64_t>(config_.nodes) &&
           Running(static_cast<int>(node)) && !Paused(static_cast<int>(node));
  };
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<int> up;
    bool ready = true;
    for (int n = 1; n <= config_.nodes; ++n) {
      if (!Running(n) || Paused(n)) continue;
      up.push_back(n);
      ready = ready && ShortClient(HttpAddress(n), 500).Ready().ok();
    }
    const Leadership l = Leaders(up);
    bool agree = ready && l.views.size() == up.size() &&
                 l.shards.size() == static_cast<size_t>(config_.shards);
    for (const auto& [shard, lead] : l.shards) {
      agree = agree && usable(lead.leader);
      for (const auto& [node, view] : l.views) {
        const ShardView* sv = view.Find(shard);
        agree = agree && (sv == nullptr || sv->leader == lead.leader);
      }
    }
    if (agree) return l.Busiest();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

rpc::DirectoryResult LocalCluster::Directory(int node) const {
  if (!Running(node) || Paused(node)) return rpc::DirectoryResult{};
  return ShortClient(HttpAddress(node), 1000).Directory();
}

}  // namespace kvd::jepsen
