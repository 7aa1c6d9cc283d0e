// Copyright (c) kvd authors.

#include "jepsen/harness/partitioner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

namespace kvd::jepsen {

int RunQuiet(const std::vector<std::string>& args, std::string* output) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  int pipe_fds[2] = {-1, -1};
  if (output != nullptr && ::pipe(pipe_fds) != 0) return -1;
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int null_fd = ::open("/dev/null", O_RDWR);
    ::dup2(output != nullptr ? pipe_fds[1] : null_fd, 1);
    ::dup2(null_fd, 2);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  if (output != nullptr) {
    ::close(pipe_fds[1]);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0) output->append(buf, n);
    ::close(pipe_fds[0]);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Partitioner::Partitioner(std::vector<uint16_t> peer_ports)
    : peer_ports_(std::move(peer_ports)), chain_("KVDJ_" + std::to_string(::getpid())) {}

Partitioner::~Partitioner() { Teardown(); }

bool Partitioner::Iptables(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"iptables", "-w", "5"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunQuiet(argv) == 0;
}

bool Partitioner::Setup(std::string* error) {
  // Remove chains of earlier runs that died without cleaning up (their pid is gone).
  std::string listing;
  if (RunQuiet({"iptables", "-w", "5", "-S"}, &listing) != 0) {
    *error = "iptables is not available or not permitted (needs root / CAP_NET_ADMIN)";
    return false;
  }
  std::istringstream in(listing);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("-N KVDJ_", 0) != 0) continue;
    const std::string name = line.substr(3);
    if (std::filesystem::exists("/proc/" + name.substr(5))) continue;
    Iptables({"-D", "INPUT", "-i", "lo", "-j", name});
    Iptables({"-F", name});
    Iptables({"-X", name});
  }
  if (!Iptables({"-N", chain_})) {
    *error = "iptables -N " + chain_ + " failed";
    return false;
  }
  set_up_ = true;
  if (!Iptables({"-I", "INPUT", "-i", "lo", "-j", chain_})) {
    Teardown();
    *error = "iptables -I INPUT -i lo -j " + chain_ + " failed";
    return false;
  }
  return true;
}

bool Partitioner::DropBetween(int a, int b, const std::vector<std::string>& match) {
  const std::string ports =
      std::to_string(peer_ports_[a - 1]) + "," + std::to_string(peer_ports_[b - 1]);
  const std::string ip_a = "127.0.0." + std::to_string(a);
  const std::string ip_b = "127.0.0." + std::to_string(b);
  bool ok = true;
  for (const auto& [src, dst] : {std::pair{ip_a, ip_b}, std::pair{ip_b, ip_a}}) {
    std::vector<std::string> rule = {"-A", chain_, "-s", src,         "-d",      dst,
                                     "-p", "tcp",  "-m", "multiport", "--ports", ports};
    rule.insert(rule.end(), match.begin(), match.end());
    rule.insert(rule.end(), {"-j", "DROP"});
    ok = Iptables(rule) && ok;
  }
  return ok;
}

bool Partitioner::Cut(const Topology& topology) {
  if (!set_up_ || !Heal()) return false;
  bool ok = true;
  for (const auto& [a, b] : topology.cuts) ok = DropBetween(a, b, {}) && ok;
  return ok;
}

bool Partitioner::Lossy(double probability) {
  if (!set_up_ || !Heal()) return false;
  char p[32];
  std::snprintf(p, sizeof(p), "%.4f", probability);
  const int n = static_cast<int>(peer_ports_.size());
  bool ok = true;
  for (int a = 1; a <= n; ++a) {
    for (int b = a + 1; b <= n; ++b) {
      ok = DropBetween(a, b, {"-m", "statistic", "--mode", "random", "--probability", p}) && ok;
    }
  }
  return ok;
}

int64_t Partitioner::DroppedPackets() {
  std::string listing;
  if (!set_up_ || RunQuiet({"iptables", "-w", "5", "-L", chain_, "-v", "-x", "-n"}, &listing) != 0)
    return -1;
  // Two header lines, then one line per rule whose first column is its packet count.
  std::istringstream in(listing);
  int64_t total = 0;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    if (++line_no <= 2) continue;
    std::istringstream fields(line);
    int64_t packets = 0;
    if (fields >> packets) total += packets;
  }
  return total;
}

bool Partitioner::Heal() { return !set_up_ || Iptables({"-F", chain_}); }

void Partitioner::Teardown() {
  if (!set_up_) return;
  while (Iptables({"-D", "INPUT", "-i", "lo", "-j", chain_})) {
  }
  Iptables({"-F", chain_});
  Iptables({"-X", chain_});
  set_up_ = false;
}

}  // namespace kvd::jepsen
