// Integration tests of locks with fencing tokens (label: integration): three real kvd processes
// and real kvctl processes. They check what the lock contract promises: a holder that was
// SIGSTOPped past its lease is fenced when it wakes (its write gets 409) while the new holder's
// write stands; a lease and its token survive the death of the shard's leader; a lease ends
// after its TTL without keepalives; `kvctl lock run` hands its command the token and stops it
// when the lock is lost.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/process_cluster.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A child process running argv (kvctl, a shell), its output in a file.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& out_path) : out_(out_path) {
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(out_path.c_str(), "w", stdout);
      if (f != nullptr) ::dup2(::fileno(stdout), 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::kill(pid_, SIGCONT);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Blocks until the child stops (SIGSTOP) or exits; true if it stopped.
  bool WaitStopped() {
    int status = 0;
    if (::waitpid(pid_, &status, WUNTRACED) != pid_) return false;
    if (WIFSTOPPED(status)) return true;
    reaped_ = true;
    exit_status_ = status;
    return false;
  }
  // Blocks until the child exits; its exit code (-1 if killed by a signal).
  int Wait() {
    if (!reaped_) {
      ::waitpid(pid_, &exit_status_, 0);
      reaped_ = true;
    }
    return WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : -1;
  }
  std::string Output() const {
    std::ifstream in(out_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string out_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_status_ = 0;
};

class LocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ProcessCluster>(
        ::testing::UnitTest::GetInstance()->current_test_info()->name(), 3);
    cluster_->StartAll();
    ASSERT_TRUE(cluster_->WaitReady());
    ASSERT_NE(cluster_->WaitLeader(), 0u);
    out_dir_ = ::testing::TempDir();
  }
  std::string Endpoints() const {
    std::string all;
    for (const auto& a : cluster_->AllHttpAddresses()) all += (all.empty() ? "" : ",") + a;
    return all;
  }
  std::vector<std::string> Kvctl(std::vector<std::string> args) const {
    std::vector<std::string> argv = {KVCTL_BINARY, "--endpoints", Endpoints()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  std::string OutPath(const std::string& what) const {
    return out_dir_ + "/locks_test_" + std::to_string(::getpid()) + "_" + what + ".out";
  }
  // Acquires, retrying answers that applied nothing (an election).
  rpc::LockResult Acquire(rpc::HttpClient& c, const std::string& name, const std::string& owner,
                          int64_t ttl_ms, int64_t wait_ms = 0) {
    rpc::LockResult r;
    for (int i = 0; i < 100; ++i) {
      r = c.LockAcquire(name, owner, ttl_ms, wait_ms);
      if (r.status != 503 && r.transport != rpc::Transport::kConnectFailed) return r;
      std::this_thread::sleep_for(50ms);
    }
    return r;
  }

  std::unique_ptr<ProcessCluster> cluster_;
  std::string out_dir_;
};

TEST_F(LocksTest, APausedHolderIsFencedAndTheNewHoldersWriteStands) {
  rpc::HttpClient c = cluster_->ClusterClient();
  const rpc::LockResult a = Acquire(c, "{job}lock", "A", 1500);
  ASSERT_TRUE(a.ok()) << a.status << " " << a.error_message;
  ASSERT_TRUE(
      c.Put("{job}out", "A1", std::nullopt, std::nullopt, rpc::LockFence{"{job}lock", a.token})
          .ok());
  // A's next write, in a process that is SIGSTOPped before it sends it (a GC pause, a VM
  // freeze): it stays stopped well past A's 1.5 s lease.
  const std::string fence = "{job}lock:" + std::to_string(a.token);
  std::string script = "kill -STOP $$; exec";
  for (const auto& arg : Kvctl({"put", "{job}out", "A-late", "--fence", fence})) {
    script += " '" + arg + "'";
  }
  Child holder({"sh", "-c", script}, OutPath("holder"));
  ASSERT_TRUE(holder.WaitStopped()) << holder.Output();

  // B queues for the lock and gets it when A's lease runs out (no keepalive comes).
  const auto asked = Clock::now();
  const rpc::LockResult b = Acquire(c, "{job}lock", "B", 10'000, 10'000);
  ASSERT_TRUE(b.ok()) << b.status << " " << b.error_message;
  EXPECT_GT(b.token, a.token);
  EXPECT_GT(Clock::now() - asked, 500ms);  // it waited for A's lease, not less
  ASSERT_TRUE(
      c.Put("{job}out", "B", std::nullopt, std::nullopt, rpc::LockFence{"{job}lock", b.token})
          .ok());

  ::kill(holder.pid(), SIGCONT);  // A wakes up and sends its stale write
  const int code = holder.Wait();
  EXPECT_NE(code, 0) << holder.Output();
  EXPECT_NE(holder.Output().find("fenced"), std::string::npos) << holder.Output();
  const rpc::Result got = c.Get("{job}out");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.body, "B");
}

TEST_F(LocksTest, ALeaseAndItsTokenSurviveTheShardLeadersDeath) {
  rpc::HttpClient c = cluster_->ClusterClient();
  const rpc::LockResult a = Acquire(c, "L", "A", 30'000);
  ASSERT_TRUE(a.ok()) << a.status << " " << a.error_message;
  const uint64_t leader = cluster_->WaitLeader();  // one data shard: the lock's
  ASSERT_NE(leader, 0u);
  cluster_->Kill(static_cast<int>(leader));

  rpc::LockResult keep;
  for (int i = 0; i < 100; ++i) {  // until a new leader serves it
    keep = c.LockKeepalive("L", a.token);
    if (keep.ok() || keep.status == 409) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(keep.ok()) << keep.status << " " << keep.error_message;
  EXPECT_EQ(keep.token, a.token);
  const rpc::LockResult b = Acquire(c, "L", "B", 1000);
  EXPECT_EQ(b.status, 409);
  EXPECT_EQ(b.error_code, "lock_held");
  ASSERT_TRUE(b.holder.has_value());
  EXPECT_EQ(b.holder->token, a.token);
  EXPECT_TRUE(c.Put("k", "v", std::nullopt, std::nullopt, rpc::LockFence{"L", a.token}).ok());

  cluster_->Start(static_cast<int>(leader));
  ASSERT_TRUE(c.LockRelease("L", a.token).ok());
  const rpc::LockResult again = Acquire(c, "L", "B", 1000);
  ASSERT_TRUE(again.ok());
  EXPECT_GT(again.token, a.token);
}

TEST_F(LocksTest, ALeaseEndsAfterItsTtlWithoutKeepalives) {
  rpc::HttpClient c = cluster_->ClusterClient();
  const auto sent = Clock::now();
  const rpc::LockResult a = Acquire(c, "L", "A", 1000);
  ASSERT_TRUE(a.ok()) << a.status << " " << a.error_message;
  const rpc::LockResult b = Acquire(c, "L", "B", 1000, 5000);
  ASSERT_TRUE(b.ok()) << b.status << " " << b.error_message;
  EXPECT_GE(Clock::now() - sent, 950ms);  // never before A's TTL (less drift) ran out
  EXPECT_GT(b.token, a.token);
  const rpc::LockResult late = c.LockKeepalive("L", a.token);
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(late.error_code, "fenced");
  const rpc::LockInfoResult info = c.LockGet("L");
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(info.lock.holder.has_value());
  EXPECT_EQ(info.lock.holder->owner, "B");
  EXPECT_EQ(info.lock.last_token, b.token);
}

TEST_F(LocksTest, KvctlLockRunHandsTheTokenToItsCommandAndStopsItWhenTheLockIsLost) {
  // The command writes under the fence kvctl gives it.
  Child ok(Kvctl({"lock", "run", "{r}lock", "--ttl", "2s", "--", "sh", "-c",
                  "exec \"$0\" --endpoints \"$1\" put '{r}out' \"token $KVD_LOCK_TOKEN\" "
                  "--fence \"$KVD_FENCE\"",
                  KVCTL_BINARY, Endpoints()}),
           OutPath("run_ok"));
  ASSERT_EQ(ok.Wait(), 0) << ok.Output();
  rpc::HttpClient c = cluster_->ClusterClient();
  const rpc::Result out = c.Get("{r}out");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.body.rfind("token ", 0), 0u) << out.body;
  const rpc::LockInfoResult info = c.LockGet("{r}lock");
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info.lock.holder.has_value());  // released when the command exited
  EXPECT_EQ(out.body, "token " + std::to_string(info.lock.last_token));

  // kvctl itself is stopped past the lease, so its keepalives stop; someone else takes the
  // lock; when kvctl wakes, its keepalive is fenced and it stops the command.
  Child held(Kvctl({"lock", "run", "{r}lock", "--ttl", "1s", "--", "sleep", "60"}),
             OutPath("run_lost"));
  rpc::LockInfoResult now;
  for (int i = 0; i < 100; ++i) {
    now = c.LockGet("{r}lock");
    if (now.ok() && now.lock.holder) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(now.ok() && now.lock.holder) << held.Output();
  ::kill(held.pid(), SIGSTOP);
  const rpc::LockResult other = Acquire(c, "{r}lock", "other", 30'000, 10'000);
  ASSERT_TRUE(other.ok()) << other.status << " " << other.error_message;
  ::kill(held.pid(), SIGCONT);
  EXPECT_EQ(held.Wait(), 6) << held.Output();  // kExitLockLost
}

}  // namespace
}  // namespace kvd::test
