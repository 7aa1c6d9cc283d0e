// kvctl lock commands in-process against a scripted fake server (OS-chosen port): argument
// parsing, request shapes, output and exit codes, and `lock run` with real child processes,
// including the lock-lost path (CMD terminated, exit 6).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <sstream>

#include "cli/kvctl.h"
#include "rpc/client_fake_server.h"

namespace kvd::cli {
namespace {

using rpc::testing::FakeHttpServer;
using rpc::testing::FakeReply;
using rpc::testing::FakeRequest;
using rpc::testing::RequestsBesidesDirectory;
using Clock = std::chrono::steady_clock;

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome Kvctl(const std::string& endpoint, std::vector<std::string> args) {
  args.insert(args.begin(), {"kvctl", "--endpoints", endpoint});
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::istringstream in;
  std::ostringstream out, err;
  KvctlEnv env{in, out, err, std::nullopt, false};
  int code = RunKvctl(static_cast<int>(argv.size()), argv.data(), env);
  return {code, out.str(), err.str()};
}

FakeReply Granted(uint64_t token = 1207) {
  return FakeReply::Json(
      200, R"({"token": )" + std::to_string(token) + R"(, "ttl_ms": 5000, "revision": 1207})");
}

// A lock server: acquire grants token 1207; keepalives answer `keepalive` (after `ok_keepalives`
// successful ones); release answers released. Counts what it got.
struct LockServer {
  explicit LockServer(FakeReply keepalive = Granted(), int ok_keepalives = 1 << 30)
      : server([this, keepalive, ok_keepalives](const FakeRequest& req) {
          if (req.target == "/v1/directory") return FakeReply::Error(503, "unavailable", "none");
          if (req.method == "DELETE") {
            ++releases;
            return FakeReply::Json(200, R"({"released": true, "revision": 1300})");
          }
          if (req.target.ends_with("/keepalive")) {
            return keepalives++ < ok_keepalives ? Granted() : keepalive;
          }
          return Granted();
        }) {}

  std::atomic<int> keepalives{0};
  std::atomic<int> releases{0};
  FakeHttpServer server;  // last: its handler uses the counters
};

TEST(KvctlLock, AcquirePrintsTheTokenAndSendsOwnerTtlWait) {
  LockServer locks;
  Outcome o = Kvctl(locks.server.endpoint(),
                    {"lock", "acquire", "jobs", "--owner", "w1", "--ttl", "2s", "--wait", "0s"});
  EXPECT_EQ(o.code, kExitOk) << o.err;
  EXPECT_EQ(o.out, "1207\n");
  auto requests = RequestsBesidesDirectory(locks.server);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/v1/locks/jobs");
  EXPECT_EQ(requests[0].body, R"({"owner":"w1","ttl_ms":2000,"wait_ms":0})");
  EXPECT_NE(requests[0].HeaderValue("Idempotency-Key").find("kvctl-"), std::string::npos);

  Outcome json = Kvctl(locks.server.endpoint(), {"-o", "json", "lock", "acquire", "jobs"});
  EXPECT_EQ(json.out, R"({"name": "jobs", "token": 1207, "ttl_ms": 5000, "revision": 1207})"
                      "\n");
  auto body = RequestsBesidesDirectory(locks.server)[1].body;
  EXPECT_NE(body.find(R"("ttl_ms":10000,"wait_ms":0)"), std::string::npos) << body;  // defaults
  EXPECT_NE(body.find(R"("owner":")"), std::string::npos);                           // host:pid
}

TEST(KvctlLock, HeldFencedAndMissingAreOne) {
  FakeHttpServer server([](const FakeRequest& req) {
    if (req.method == "POST" && !req.target.ends_with("/keepalive")) {
      return FakeReply::Json(409, R"({"error": {"code": "lock_held", "message": "held"},
          "holder": {"owner": "w2", "token": 9, "ttl_ms": 5000, "expires_in_ms": 3120}})");
    }
    if (req.method == "DELETE") return FakeReply::Error(404, "not_found", "lock not found");
    return FakeReply::Error(409, "fenced", "not held with 5");
  });
  Outcome held = Kvctl(server.endpoint(), {"lock", "acquire", "jobs"});
  EXPECT_EQ(held.code, kExitNotFound);
  EXPECT_EQ(held.err,
            "kvctl: lock \"jobs\" is held by w2 (token 9, expires in 3120 ms); not acquired\n");
  Outcome fenced = Kvctl(server.endpoint(), {"lock", "keepalive", "jobs", "5"});
  EXPECT_EQ(fenced.code, kExitNotFound);
  EXPECT_EQ(fenced.err,
            "kvctl: lock \"jobs\" is not held with token 5 (expired, released or "
            "taken over); nothing done\n");
  Outcome missing = Kvctl(server.endpoint(), {"lock", "release", "jobs", "5"});
  EXPECT_EQ(missing.code, kExitNotFound);
  EXPECT_EQ(missing.err, "kvctl: lock \"jobs\" not found (never acquired)\n");
}

TEST(KvctlLock, KeepaliveReleaseGetList) {
  FakeHttpServer server([](const FakeRequest& req) {
    if (req.method == "DELETE") return FakeReply::Json(200, R"({"released": true, "revision": 9})");
    if (req.target == "/v1/locks?after=a&limit=1") {
      return FakeReply::Json(200, R"({"locks": [{"name": "b", "shard": 2, "last_token": 6,
          "holder": {"owner": "w", "token": 6, "ttl_ms": 100, "expires_in_ms": 50},
          "waiters": [{"owner": "x", "ttl_ms": 1, "wait_left_ms": 2}]}], "more": true,
          "next_after": "c"})");
    }
    if (req.method == "GET") {
      return FakeReply::Json(200, R"({"name": "b", "shard": 2, "last_token": 6, "holder": null,
          "waiters": []})");
    }
    return Granted();
  });
  Outcome kept = Kvctl(server.endpoint(), {"lock", "keepalive", "a/b", "1207"});
  EXPECT_EQ(kept.code, kExitOk) << kept.err;
  EXPECT_EQ(kept.out, "OK token=1207 ttl_ms=5000\n");
  Outcome released = Kvctl(server.endpoint(), {"lock", "release", "a/b", "1207"});
  EXPECT_EQ(released.out, "released revision=9\n");
  Outcome got = Kvctl(server.endpoint(), {"lock", "get", "b"});
  EXPECT_EQ(got.out, "lock \"b\" in shard 2, last token 6\nholder: none (free)\nwaiters: 0\n");
  Outcome listed = Kvctl(server.endpoint(), {"lock", "list", "--after", "a", "--limit", "1"});
  EXPECT_EQ(listed.code, kExitOk) << listed.err;
  EXPECT_EQ(listed.out,
            "NAME  SHARD  HOLDER  TOKEN  EXPIRES_IN_MS  WAITERS\n"
            "b     2      w       6      50             1\n");
  EXPECT_EQ(listed.err, "kvctl: more locks may follow; continue with --after \"c\"\n");
  auto requests = RequestsBesidesDirectory(server);
  EXPECT_EQ(requests[0].target, "/v1/locks/a%2Fb/keepalive");
  EXPECT_EQ(requests[0].body, R"({"token": 1207})");
  EXPECT_EQ(requests[1].target, "/v1/locks/a%2Fb?token=1207");
}

// The acquire is retried with its Idempotency-Key after a 504; a 503 then says nothing about
// the first attempt, which may hold the lock: outcome unknown, exit 4.
TEST(KvctlLock, RefusalAfterAnUnknownOutcomeIsFour) {
  std::atomic<int> acquires{0};
  FakeHttpServer server([&acquires](const FakeRequest& req) {
    if (req.target == "/v1/directory") return FakeReply::Error(503, "unavailable", "none");
    return acquires++ == 0 ? FakeReply::Error(504, "timeout", "not confirmed")
                           : FakeReply::Error(503, "unavailable", "no leader");
  });
  Outcome o = Kvctl(server.endpoint(), {"lock", "acquire", "jobs"});
  EXPECT_EQ(o.code, kExitUnknownOutcome) << o.err;
  EXPECT_EQ(o.err,
            "kvctl: outcome unknown on \"jobs\": an attempt got no answer, then 503 "
            "(unavailable: no leader); the write may or may not have been applied\n");
  EXPECT_EQ(acquires, 3);
}

TEST(KvctlLock, FenceFlagOnPutAndDel) {
  FakeHttpServer server([](const FakeRequest&) {
    return FakeReply::Json(200, R"({"version": 1, "revision": 2, "deleted": true})");
  });
  EXPECT_EQ(Kvctl(server.endpoint(), {"put", "k", "v", "--fence", "jobs:1207"}).code, kExitOk);
  EXPECT_EQ(Kvctl(server.endpoint(), {"del", "k", "--fence", "a:b:9"}).code, kExitOk);
  auto requests = RequestsBesidesDirectory(server);
  EXPECT_EQ(requests.at(0).HeaderValue("X-Fence"), "jobs:1207");
  EXPECT_EQ(requests.at(1).HeaderValue("X-Fence"), "a:b:9");
}

TEST(KvctlLock, BadInvocationsAreTwo) {
  const std::string ep = "127.0.0.1:1";  // never contacted
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"lock"},
           {"lock", "acquire"},
           {"lock", "acquire", "l", "--ttl", "50ms"},
           {"lock", "acquire", "l", "--ttl", "2h"},
           {"lock", "acquire", "l", "--ttl", "soon"},
           {"lock", "acquire", "l", "--ttl", "0s"},
           {"lock", "acquire", "l", "--wait", "-1s"},
           {"lock", "acquire", "l", "--wait", "301s"},
           {"lock", "acquire", "l", "--owner", std::string(257, 'o')},
           {"lock", "keepalive", "l"},
           {"lock", "keepalive", "l", "abc"},
           {"lock", "release", "l", "0"},
           {"lock", "release", "l", "-3"},
           {"lock", "list", "--limit", "0"},
           {"lock", "list", "--limit", "1001"},
           {"lock", "run", "l"},
           {"lock", "run", "l", "--"},
           {"lock", "run", "l", "--ttl", "x", "--", "true"},
           {"lock", "frob", "l"},
           {"put", "k", "v", "--fence", "nocolon"},
           {"put", "k", "v", "--fence", "l:0"},
           {"del", "k", "--fence", ":5"}}) {
    Outcome o = Kvctl(ep, args);
    EXPECT_EQ(o.code, kExitUsage) << ::testing::PrintToString(args) << " " << o.err;
    EXPECT_EQ(o.err.rfind("kvctl: ", 0), 0u) << o.err;
  }
  EXPECT_NE(Kvctl(ep, {"lock", "run", "l"}).err.find("missing CMD"), std::string::npos);
  EXPECT_NE(Kvctl(ep, {"lock", "acquire", "l", "--ttl", "50ms"}).err.find("bad --ttl"),
            std::string::npos);
}

// ---- lock run ----

TEST(KvctlLockRun, CmdSeesTheLockAndItsExitStatusIsKvctls) {
  LockServer locks;
  Outcome o = Kvctl(locks.server.endpoint(),
                    {"lock", "run", "jobs", "--ttl", "10s", "--", "sh", "-c",
                     "test \"$KVD_LOCK_NAME\" = jobs && test \"$KVD_LOCK_TOKEN\" = 1207 && "
                     "test \"$KVD_FENCE\" = jobs:1207 && exit 7"});
  EXPECT_EQ(o.code, 7) << o.err;
  EXPECT_EQ(o.err, "");
  EXPECT_EQ(locks.releases, 1);
  auto requests = RequestsBesidesDirectory(locks.server);
  ASSERT_EQ(requests.size(), 2u);  // acquire, release: CMD finished before a keepalive was due
  EXPECT_NE(requests[0].body.find(R"("ttl_ms":10000,"wait_ms":30000)"), std::string::npos)
      << requests[0].body;
  EXPECT_EQ(requests[1].target, "/v1/locks/jobs?token=1207");

  EXPECT_EQ(Kvctl(locks.server.endpoint(), {"lock", "run", "jobs", "--", "true"}).code, 0);
  EXPECT_EQ(
      Kvctl(locks.server.endpoint(), {"lock", "run", "jobs", "--", "sh", "-c", "kill $$"}).code,
      128 + SIGTERM);
}

TEST(KvctlLockRun, KeepsTheLeaseAliveWhileCmdRuns) {
  LockServer locks;
  // ttl 300ms: a keepalive every 100 ms; CMD outlives about 4 of them.
  Outcome o = Kvctl(locks.server.endpoint(),
                    {"lock", "run", "jobs", "--ttl", "300ms", "--", "sleep", "0.5"});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_GE(locks.keepalives, 2);
  EXPECT_EQ(locks.releases, 1);
}

TEST(KvctlLockRun, FencedKeepaliveKillsCmdAndExitsSix) {
  LockServer locks(FakeReply::Error(409, "fenced", "not held with 1207"), /*ok_keepalives=*/1);
  const auto start = Clock::now();
  Outcome o = Kvctl(locks.server.endpoint(),
                    {"lock", "run", "jobs", "--ttl", "300ms", "--", "sleep", "30"});
  EXPECT_EQ(o.code, kExitLockLost) << o.err;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));  // not the 30 s of CMD
  EXPECT_NE(o.err.find("kvctl: lock \"jobs\" (token 1207) lost: keepalive answered 409 fenced"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("sending SIGTERM to sleep"), std::string::npos);
  EXPECT_EQ(locks.keepalives, 2);
  EXPECT_EQ(locks.releases, 0);  // the server said it is gone: nothing to release
}

TEST(KvctlLockRun, NoKeepaliveInTimeKillsCmdAndExitsSix) {
  LockServer locks(FakeReply::Hang(), /*ok_keepalives=*/0);
  Outcome o = Kvctl(locks.server.endpoint(),
                    {"lock", "run", "jobs", "--ttl", "300ms", "--", "sleep", "30"});
  EXPECT_EQ(o.code, kExitLockLost) << o.err;
  EXPECT_NE(o.err.find("lost: no keepalive succeeded within 270 ms of sending the last "
                       "successful one"),
            std::string::npos)
      << o.err;
  EXPECT_EQ(locks.releases, 1);  // it may still be ours: released for the next holder
}

TEST(KvctlLockRun, CmdIgnoringSigtermIsKilled) {
  LockServer locks(FakeReply::Error(404, "not_found", "gone"), /*ok_keepalives=*/0);
  Outcome o = Kvctl(locks.server.endpoint(), {"lock", "run", "jobs", "--ttl", "300ms", "--", "sh",
                                              "-c", "trap '' TERM; exec sleep 30"});
  EXPECT_EQ(o.code, kExitLockLost) << o.err;
  EXPECT_NE(o.err.find("lost: keepalive answered 404 not_found"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("still running 2000 ms after SIGTERM; sending SIGKILL"), std::string::npos)
      << o.err;
}

TEST(KvctlLockRun, HeldLockOrMissingCmdNeverRunsIt) {
  FakeHttpServer held([](const FakeRequest& req) {
    if (req.target == "/v1/directory") return FakeReply::Error(503, "unavailable", "none");
    return FakeReply::Json(409, R"({"error": {"code": "lock_held", "message": "held"}})");
  });
  Outcome o = Kvctl(held.endpoint(), {"lock", "run", "jobs", "--wait", "0s", "--", "false"});
  EXPECT_EQ(o.code, kExitNotFound) << o.err;
  EXPECT_EQ(o.err, "kvctl: lock \"jobs\" is held; not acquired\n");

  LockServer locks;
  Outcome missing =
      Kvctl(locks.server.endpoint(), {"lock", "run", "jobs", "--", "/nonexistent/cmd"});
  EXPECT_EQ(missing.code, 127);
  EXPECT_EQ(missing.err, "kvctl: cannot run /nonexistent/cmd: No such file or directory\n");
  EXPECT_EQ(locks.releases, 1);
}

}  // namespace
}  // namespace kvd::cli
