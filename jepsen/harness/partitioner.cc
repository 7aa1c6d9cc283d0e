// Copyright (c) kvd authors.

#include "jepsen/harness/partitioner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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

bool Partitioner::Isolate(const std::vector<int>& side) {
  if (!set_up_ || !Heal()) return false;
  const int n = static_cast<int>(peer_ports_.size());
  auto in_side = [&](int node) { return std::find(side.begin(), side.end(), node) != side.end(); };
  bool ok = true;
  for (int a = 1; a <= n; ++a) {
    for (int b = 1; b <= n; ++b) {
      if (a == b || !in_side(a) || in_side(b)) continue;
      const std::string ports =
          std::to_string(peer_ports_[a - 1]) + "," + std::to_string(peer_ports_[b - 1]);
      const std::string ip_a = "127.0.0." + std::to_string(a);
      const std::string ip_b = "127.0.0." + std::to_string(b);
      for (const auto& [src, dst] : {std::pair{ip_a, ip_b}, std::pair{ip_b, ip_a}}) {
        ok = Iptables({"-A", chain_, "-s", src, "-d", dst, "-p", "tcp", "-m", "multiport",
                       "--ports", ports, "-j", "DROP"}) &&
             ok;
      }
    }
  }
  return ok;
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
