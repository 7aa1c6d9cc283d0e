// kvctl lock run: hold a lock while a command runs (the contract is in kvctl_lock.h). The main
// thread supervises: it polls the child's pidfd, the keepalive thread's reports and forwarded
// signals, with the lease deadline as the poll timeout (no busy loop). A Keeper thread sends the
// keepalives with its own HttpClient, so a slow keepalive never delays the deadline.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <ostream>
#include <thread>
#include <utility>

#include "cli/kvctl_lock.h"

extern char** environ;

namespace kvd::cli {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kKillGrace{2000};  // SIGTERM, then this long, then SIGKILL
constexpr milliseconds kNoPidfdPoll{50};  // without pidfd_open: how often to check the child

std::string Quoted(std::string_view name) { return "\"" + Printable(name) + "\""; }

// A lock the server says is gone for this token: 409 fenced or 404.
bool IsLost(const rpc::Result& r) {
  return r.transport == rpc::Transport::kOk &&
         ((r.status == 409 && r.error_code == "fenced") || r.not_found());
}

std::string Describe(const rpc::Result& r) {
  if (r.transport != rpc::Transport::kOk) return r.transport_error;
  std::string d = std::to_string(r.status) + " " + r.error_code;
  if (!r.error_message.empty()) d += ": " + Printable(r.error_message);
  return d;
}

int CeilMs(Clock::duration d) {
  auto ms = std::chrono::ceil<milliseconds>(d).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 24 * 3600 * 1000));
}

struct Pipe {
  int read = -1;
  int write = -1;
  bool Open() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return false;
    read = fds[0];
    write = fds[1];
    return true;
  }
  void CloseWrite() {
    if (write >= 0) close(write);
    write = -1;
  }
  ~Pipe() {
    if (read >= 0) close(read);
    CloseWrite();
  }
};

// ---- Signals sent to kvctl by kill(2), passed on to CMD ----

int g_signal_pipe = -1;  // write end while a SignalForwarding is installed

void OnSignal(int signo, siginfo_t* info, void*) {
  // A terminal's signals (si_code SI_KERNEL) reach CMD directly: it is in our process group.
  if (info == nullptr || (info->si_code != SI_USER && info->si_code != SI_QUEUE)) return;
  if (g_signal_pipe < 0) return;
  const int saved = errno;
  auto byte = static_cast<unsigned char>(signo);
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe, &byte, 1);
  errno = saved;
}

class SignalForwarding {
 public:
  explicit SignalForwarding(int write_fd) {
    g_signal_pipe = write_fd;
    struct sigaction sa {};
    sa.sa_sigaction = OnSignal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~SignalForwarding() {
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &old_[i], nullptr);
    g_signal_pipe = -1;
  }

 private:
  static constexpr std::array<int, 3> kSignals = {SIGTERM, SIGINT, SIGHUP};
  std::array<struct sigaction, 3> old_{};
};

// ---- The keepalive thread ----

class Keeper {
 public:
  struct Outcome {
    Clock::time_point sent;
    bool ok = false;
    bool lost = false;  // 409 fenced or 404: the lock is gone
    std::string why;    // when !ok
  };

  // Sends the first keepalive at first_due, then every `interval` from the send time of the last
  // successful one, or `retry` after a failure; stops after a lost answer. Each outcome is queued
  // and a byte written to notify_fd.
  Keeper(const rpc::ClientOptions& options, std::string name, uint64_t token, milliseconds interval,
         milliseconds retry, Clock::time_point first_due, int notify_fd)
      : client_(options),
        name_(std::move(name)),
        token_(token),
        interval_(interval),
        retry_(retry),
        notify_fd_(notify_fd),
        thread_([this, first_due] { Loop(first_due); }) {}

  ~Keeper() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();  // at most one keepalive in flight, bounded by its request timeout
  }

  std::vector<Outcome> Take() {
    std::lock_guard lock(mu_);
    return std::exchange(outcomes_, {});
  }

 private:
  void Loop(Clock::time_point due) {
    std::unique_lock lock(mu_);
    while (!cv_.wait_until(lock, due, [&] { return stop_; })) {
      lock.unlock();
      Outcome o;
      o.sent = Clock::now();
      rpc::LockResult r = client_.LockKeepalive(name_, token_);
      o.ok = r.ok();
      o.lost = IsLost(r);
      if (!o.ok) o.why = Describe(r);
      lock.lock();
      outcomes_.push_back(o);
      [[maybe_unused]] ssize_t n = ::write(notify_fd_, "k", 1);
      if (o.lost) return;
      due = o.ok ? o.sent + interval_ : Clock::now() + retry_;
    }
  }

  rpc::HttpClient client_;  // used by the thread only
  const std::string name_;
  const uint64_t token_;
  const milliseconds interval_;
  const milliseconds retry_;
  const int notify_fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;              // GUARDED_BY(mu_)
  std::vector<Outcome> outcomes_;  // GUARDED_BY(mu_)
  std::thread thread_;             // last: starts once the rest is ready
};

// ---- The child ----

// environ without the lock variables, then the lock variables.
std::vector<std::string> ChildEnvironment(const std::string& name, uint64_t token) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.starts_with("KVD_LOCK_NAME=") || entry.starts_with("KVD_LOCK_TOKEN=") ||
        entry.starts_with("KVD_FENCE=")) {
      continue;
    }
    env.emplace_back(entry);
  }
  env.push_back("KVD_LOCK_NAME=" + name);
  env.push_back("KVD_LOCK_TOKEN=" + std::to_string(token));
  env.push_back("KVD_FENCE=" + name + ":" + std::to_string(token));
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Waits up to `timeout` for the child to exit; true (with its status) if it did.
bool WaitForExit(pid_t pid, int pidfd, milliseconds timeout, int& status) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (waitpid(pid, &status, WNOHANG) == pid) return true;
    const auto now = Clock::now();
    if (now >= deadline) return false;
    int wait_ms = CeilMs(deadline - now);
    if (pidfd >= 0) {
      pollfd fd{pidfd, POLLIN, 0};
      poll(&fd, 1, wait_ms);
    } else {
      poll(nullptr, 0, std::min<int>(wait_ms, kNoPidfdPoll.count()));
    }
  }
}

int ExitStatusOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kExitError;
}

}  // namespace

int RunLockRun(Session& s, const LockRunCommand& cmd, const rpc::ClientOptions& keepalive_options) {
  const std::string& name = cmd.lock.name;
  const milliseconds ttl = cmd.lock.ttl;
  const milliseconds interval = std::max(ttl / 3, milliseconds(1));
  const milliseconds retry = std::clamp(ttl / 10, milliseconds(10), interval);
  const milliseconds trust = ttl * 9 / 10;  // the lease as the holder may rely on it
  std::ostream& err = s.env.err;

  const Clock::time_point acquire_sent = Clock::now();
  rpc::LockResult acquired =
      s.client.LockAcquire(name, cmd.lock.owner, ttl.count(), cmd.lock.wait.count());
  if (!acquired.ok()) return ReportLockFailure(s, acquired, name, acquired.holder, 0, true);
  const uint64_t token = acquired.token;
  Clock::time_point last_ok_sent = acquire_sent;
  auto release = [&](bool warn) {
    rpc::LockResult r = s.client.LockRelease(name, token);
    if (!r.ok() && warn) {
      err << "kvctl: warning: releasing lock " << Quoted(name) << " (token " << token
          << ") failed: " << Describe(r) << "; it expires within " << ttl.count() << " ms\n";
    }
  };

  // A waiting acquire may have been granted long after it was sent, and the lease can only be
  // trusted from the send: renew it before CMD starts if a keepalive is already due.
  if (Clock::now() >= last_ok_sent + interval) {
    const Clock::time_point sent = Clock::now();
    rpc::LockResult kept = s.client.LockKeepalive(name, token);
    if (kept.ok()) last_ok_sent = sent;
    if (IsLost(kept)) {
      err << "kvctl: lock " << Quoted(name) << " lost before CMD started: " << Describe(kept)
          << "\n";
      return kExitLockLost;
    }
  }
  if (Clock::now() >= last_ok_sent + trust) {
    err << "kvctl: lock " << Quoted(name) << " cannot be trusted: no keepalive succeeded within "
        << trust.count() << " ms of sending the acquire; CMD not started\n";
    release(false);
    return kExitLockLost;
  }

  Pipe exec_errors, notify, signals;
  if (!exec_errors.Open() || !notify.Open() || !signals.Open()) {
    err << "kvctl: cannot create a pipe: " << std::strerror(errno) << "\n";
    release(true);
    return kExitError;
  }
  std::vector<std::string> args = cmd.argv;
  std::vector<std::string> env = ChildEnvironment(name, token);
  std::vector<char*> argv = Pointers(args), envp = Pointers(env);
  s.env.out.flush();
  err.flush();
  const pid_t pid = fork();
  if (pid < 0) {
    err << "kvctl: cannot fork: " << std::strerror(errno) << "\n";
    release(true);
    return kExitError;
  }
  if (pid == 0) {  // the child: only async-signal-safe calls until exec
    execvpe(argv[0], argv.data(), envp.data());
    int error = errno;
    [[maybe_unused]] ssize_t n = ::write(exec_errors.write, &error, sizeof error);
    _exit(error == ENOENT ? 127 : 126);
  }
  exec_errors.CloseWrite();
  int exec_error = 0;
  ssize_t got;
  do {
    pollfd fd{exec_errors.read, POLLIN, 0};
    poll(&fd, 1, -1);  // readable at exec (EOF: close-on-exec) or at the child's report
    got = read(exec_errors.read, &exec_error, sizeof exec_error);
  } while (got < 0 && (errno == EINTR || errno == EAGAIN));
  if (got == static_cast<ssize_t>(sizeof exec_error)) {
    int status = 0;
    waitpid(pid, &status, 0);
    err << "kvctl: cannot run " << Printable(cmd.argv[0]) << ": " << std::strerror(exec_error)
        << "\n";
    release(true);
    return ExitStatusOf(status);
  }

  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  std::string lost;  // why the lock is lost; empty while held
  bool server_said_lost = false;
  std::string last_failure;  // the last failed keepalive, for the message
  int status = 0;
  bool exited = false;
  {
    SignalForwarding forwarding(signals.write);
    Keeper keeper(keepalive_options, name, token, interval, retry, last_ok_sent + interval,
                  notify.write);
    while (!exited && lost.empty()) {
      const Clock::time_point deadline = last_ok_sent + trust;
      const Clock::time_point now = Clock::now();
      if (now >= deadline) {
        lost = "no keepalive succeeded within " + std::to_string(trust.count()) +
               " ms of sending the last successful one" +
               (last_failure.empty() ? "" : " (last attempt: " + last_failure + ")");
        break;
      }
      int timeout = CeilMs(deadline - now);
      if (pidfd < 0) timeout = std::min<int>(timeout, kNoPidfdPoll.count());
      pollfd fds[3] = {{notify.read, POLLIN, 0}, {signals.read, POLLIN, 0}, {pidfd, POLLIN, 0}};
      poll(fds, pidfd >= 0 ? 3 : 2, timeout);  // EINTR: just go round
      if (pidfd < 0 || (fds[2].revents & POLLIN) != 0) {
        exited = waitpid(pid, &status, WNOHANG) == pid;
      }
      if ((fds[0].revents & POLLIN) != 0) {
        char drain[64];
        while (read(notify.read, drain, sizeof drain) > 0) {
        }
        for (const Keeper::Outcome& o : keeper.Take()) {
          if (o.ok) {
            last_ok_sent = std::max(last_ok_sent, o.sent);
          } else if (o.lost) {
            lost = "keepalive answered " + o.why;
            server_said_lost = true;
          } else {
            last_failure = o.why;
          }
        }
      }
      if ((fds[1].revents & POLLIN) != 0) {
        unsigned char signo;
        while (read(signals.read, &signo, 1) == 1) kill(pid, signo);
      }
    }
    if (!exited) {  // the lock is lost: stop CMD before anything else
      err << "kvctl: lock " << Quoted(name) << " (token " << token << ") lost: " << lost
          << "; sending SIGTERM to " << Printable(cmd.argv[0]) << " (pid " << pid << ")\n";
      kill(pid, SIGTERM);
      if (!WaitForExit(pid, pidfd, kKillGrace, status)) {
        err << "kvctl: " << Printable(cmd.argv[0]) << " still running " << kKillGrace.count()
            << " ms after SIGTERM; sending SIGKILL\n";
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
      }
    }
  }  // the keeper stops here
  if (pidfd >= 0) close(pidfd);
  if (!exited) {
    if (!server_said_lost) release(false);  // it may still be ours: let the next holder in
    return kExitLockLost;
  }
  release(true);
  return ExitStatusOf(status);
}

}  // namespace kvd::cli
