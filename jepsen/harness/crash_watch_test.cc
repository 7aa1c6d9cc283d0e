// Copyright (c) kvd authors.
//
// The crash nemesis's parts that need no kvd: its flags, the environment nodes get, exits
// noticed by TakeExits and by Kill, and the watcher restarting a node that exits on its own
// (a shell script stands in for kvd). The runs against kvd_crash_at and the transaction bug
// builds are the ctest tests jepsen_*crash* (label integration).

#include "jepsen/harness/crash_watch.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "jepsen/harness/local_cluster.h"
#include "jepsen/harness/options.h"

namespace kvd::jepsen {
namespace {

std::optional<Options> Parse(std::vector<std::string> args, int* code) {
  args.insert(args.begin(), {"kvd_jepsen", "--kvd", "/bin/true"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseOptions(static_cast<int>(argv.size()), argv.data(), code);
}

TEST(CrashOptionsTest, CrashAtImpliesTheNemesisAndTheNemesisNeedsAPoint) {
  int code = 0;
  auto o = Parse({"--crash-at", "txn-after-commit", "--crash-one-in", "4"}, &code);
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->crash);
  EXPECT_TRUE(o->nemeses.empty());
  EXPECT_EQ(CrashEnvironment(*o),
            (std::vector<std::string>{"KVD_CRASH_AT=txn-after-commit", "KVD_CRASH_ONE_IN=4"}));

  o = Parse({"--nemesis", "kill,crash,pause", "--crash-at", "txn-after-decide-proposed"}, &code);
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->crash);
  EXPECT_EQ(o->nemeses, (std::vector<FaultKind>{FaultKind::kKill, FaultKind::kPause}));
  EXPECT_EQ(o->crash_one_in, 10);

  EXPECT_FALSE(Parse({"--nemesis", "crash"}, &code));
  EXPECT_EQ(code, 2);
  EXPECT_FALSE(Parse({"--crash-at", "txn-after-lunch"}, &code));
  EXPECT_EQ(code, 2);
  o = Parse({"--nemesis", "kill"}, &code);
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->crash);
  EXPECT_TRUE(CrashEnvironment(*o).empty());
}

// A directory with an executable stand-in for kvd that runs `body` (sh; $4 is the data dir).
class CrashWatchFakeKvdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("crash_watch_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  LocalCluster::Config Config(const std::string& body, std::vector<std::string> env = {}) {
    const std::string script = (dir_ / "kvd.sh").string();
    std::ofstream(script) << "#!/bin/sh\n" << body << "\n";
    ::chmod(script.c_str(), 0755);
    LocalCluster::Config c;
    c.kvd_path = script;
    c.dir = (dir_ / "out").string();
    c.nodes = 1;
    c.env = std::move(env);
    return c;
  }

  std::string Read(const std::string& name) {
    std::ifstream in(dir_ / "out" / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::filesystem::path dir_;
};

std::vector<ExitEvent> AwaitExits(LocalCluster& cluster) {
  for (int i = 0; i < 200; ++i) {
    auto exits = cluster.TakeExits();
    if (!exits.empty()) return exits;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return {};
}

TEST_F(CrashWatchFakeKvdTest, NodesGetTheCrashEnvironmentAndNeverInheritTheHarnesss) {
  ::setenv("KVD_CRASH_AT", "after-apply", 1);  // must not reach the nodes
  {
    LocalCluster cluster(Config("echo \"at=$KVD_CRASH_AT one_in=$KVD_CRASH_ONE_IN\" > \"$4.env\"",
                                {"KVD_CRASH_AT=txn-after-commit", "KVD_CRASH_ONE_IN=3"}));
    ASSERT_TRUE(cluster.Start(1));
    auto exits = AwaitExits(cluster);
    ASSERT_EQ(exits.size(), 1u);
    EXPECT_EQ(exits[0].Describe(), "exit 0");
    EXPECT_FALSE(exits[0].AtCrashPoint());
    EXPECT_EQ(Read("node1/data.env"), "at=txn-after-commit one_in=3\n");
  }
  {
    LocalCluster cluster(Config("echo \"at=$KVD_CRASH_AT\" > \"$4.env\""));
    ASSERT_TRUE(cluster.Start(1));
    ASSERT_EQ(AwaitExits(cluster).size(), 1u);
    EXPECT_EQ(Read("node1/data.env"), "at=\n");
  }
  ::unsetenv("KVD_CRASH_AT");
}

TEST_F(CrashWatchFakeKvdTest, KillAndTakeExitsReportAProcessThatExitedOnItsOwn) {
  LocalCluster cluster(Config("exit 137"));
  ASSERT_TRUE(cluster.Start(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // it has exited: a zombie
  bool exited_first = false;
  EXPECT_FALSE(cluster.Kill(1, &exited_first));
  EXPECT_TRUE(exited_first);
  EXPECT_FALSE(cluster.Running(1));
  auto exits = cluster.TakeExits();
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_TRUE(exits[0].AtCrashPoint());
  EXPECT_EQ(exits[0].Describe(), "exit 137");
  EXPECT_TRUE(cluster.TakeExits().empty());

  LocalCluster sleeper(Config("exec sleep 30"));
  ASSERT_TRUE(sleeper.Start(1));
  EXPECT_TRUE(sleeper.Kill(1, &exited_first));  // the harness's own kill is no exit event
  EXPECT_FALSE(exited_first);
  EXPECT_TRUE(sleeper.TakeExits().empty());
  sleeper.StopAll();
  EXPECT_FALSE(sleeper.Start(1));  // never after StopAll
}

TEST_F(CrashWatchFakeKvdTest, TheWatcherRestartsACrashedNodeAndCountsItsCrashes) {
  Options o;
  o.crash = true;
  o.crash_at = "txn-after-commit";
  o.crash_one_in = 1;
  o.seed = 7;
  // Runs 0.3 s, then "crashes"; its third start stays up.
  LocalCluster cluster(
      Config("n=$(cat \"$4.starts\" 2>/dev/null || echo 0)\n"
             "echo $((n + 1)) > \"$4.starts\"\n"
             "[ \"$n\" -ge 2 ] && exec sleep 30\n"
             "sleep 0.3; exit 137"));
  CrashWatcher watcher(o, cluster);
  std::vector<std::string> log;
  watcher.SetLog([&log](const std::string& line) { log.push_back(line); });
  const auto start = Clock::now();
  ASSERT_TRUE(cluster.Start(1));
  watcher.Start();
  for (int i = 0; i < 500 && Read("node1/data.starts") != "3\n"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  watcher.Stop();
  EXPECT_TRUE(cluster.Running(1));
  HistoryOp op;
  op.worker = 0;
  op.outcome = lincheck::Outcome::kOk;
  op.call_ns = SinceNs(start);
  const CrashResult r = watcher.Result({op}, start, /*multi_shard=*/false, InDoubt{});
  EXPECT_EQ(r.crashes, 2);
  EXPECT_EQ(r.restarts, 2);
  EXPECT_TRUE(r.other_exits.empty());
  EXPECT_EQ(r.ok_after_first_crash, 1u);
  EXPECT_TRUE(r.vacuity.empty()) << r.vacuity[0];
  EXPECT_GE(log.size(), 4u);  // two exits, two restarts
  cluster.StopAll();

  const CrashResult none = CrashWatcher(o, cluster).Result({}, start, false, InDoubt{});
  ASSERT_EQ(none.vacuity.size(), 1u);
  EXPECT_NE(none.vacuity[0].find("no node crashed at txn-after-commit"), std::string::npos);
}

}  // namespace
}  // namespace kvd::jepsen
