// Bounds against abuse, through a real kvd process (label: integration): silent connections do
// not lock clients out, a low inherited open-file limit is raised at start instead of making the
// node fail at the limit, and scan pages are bounded in bytes, not only in items.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/integration/process_cluster.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;

std::string TestName() { return ::testing::UnitTest::GetInstance()->current_test_info()->name(); }

// TCP connections that connect and never send a byte. Closed on destruction.
class SilentConnections {
 public:
  ~SilentConnections() {
    for (int fd : fds_) ::close(fd);
  }
  // Opens 'n' connections to ip:port; returns how many connected.
  int Open(const std::string& ip, uint16_t port, int n) {
    int ok = 0;
    for (int i = 0; i < n; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) break;
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(fd);
        continue;
      }
      fds_.push_back(fd);
      ++ok;
    }
    return ok;
  }

 private:
  std::vector<int> fds_;
};

std::pair<std::string, uint16_t> Split(const std::string& address) {
  const size_t colon = address.rfind(':');
  return {address.substr(0, colon), static_cast<uint16_t>(std::stoi(address.substr(colon + 1)))};
}

// Writes through fresh clients (a new connection each), as a client arriving under attack would.
int FreshClientWrites(ProcessCluster& c, int n, std::string* last_error) {
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    rpc::HttpClient client = c.Client(1, 5s);
    rpc::Result r = client.Put("fresh" + std::to_string(i), "v");
    if (r.ok()) {
      ++ok;
    } else {
      *last_error = std::to_string(r.status) + " " + r.error_code + " " + r.transport_error;
    }
  }
  return ok;
}

TEST(AbuseTest, SilentConnectionsBeyondTheCapDoNotLockOutClients) {
  ProcessCluster c(TestName(), 1, {"--http-max-connections", "32"});
  c.StartAll();
  ASSERT_TRUE(c.WaitReady()) << c.Log(1);
  auto [ip, port] = Split(c.HttpAddress(1));
  SilentConnections silent;
  ASSERT_EQ(silent.Open(ip, port, 200), 200);
  std::string error;
  EXPECT_EQ(FreshClientWrites(c, 200, &error), 200) << error << "\n" << c.Log(1);
  EXPECT_TRUE(c.Running(1));
}

TEST(AbuseTest, LowInheritedOpenFileLimitIsRaisedAtStart) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 2048) {
    GTEST_SKIP() << "hard open-file limit " << saved.rlim_max << " leaves nothing to raise to";
  }
  ProcessCluster c(TestName(), 1);
  rlimit low = saved;
  low.rlim_cur = 128;  // the child inherits this soft limit; the hard one stays
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  c.StartAll();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(c.WaitReady()) << c.Log(1);
  EXPECT_NE(c.Log(1).find("open files: soft limit 128 raised to"), std::string::npos) << c.Log(1);

  auto [ip, port] = Split(c.HttpAddress(1));
  SilentConnections silent;
  ASSERT_EQ(silent.Open(ip, port, 300), 300);  // far above the inherited 128
  std::string error;
  EXPECT_EQ(FreshClientWrites(c, 50, &error), 50) << error << "\n" << c.Log(1);
  EXPECT_TRUE(c.Running(1)) << c.Log(1);
}

TEST(AbuseTest, ScanPagesAreBoundedInBytes) {
  ProcessCluster c(TestName(), 1);
  c.StartAll();
  ASSERT_TRUE(c.WaitReady()) << c.Log(1);
  rpc::HttpClient client = c.Client(1, 10s);
  const std::string value(1'000'000, 'v');
  for (int i = 0; i < 6; ++i) {
    rpc::Result put = client.Put("s" + std::to_string(i), value);
    ASSERT_TRUE(put.ok()) << put.status << " " << put.transport_error;
  }
  // 4 MiB a page (kv::ShardStateMachine::kDefaultScanMaxBytes): four of these values, not six.
  rpc::ScanResult first = client.Scan("s", "", 100);
  ASSERT_TRUE(first.ok()) << first.status << " " << first.transport_error;
  EXPECT_EQ(first.items.size(), 4u);
  EXPECT_TRUE(first.more);
  size_t total = first.items.size();
  std::string after = first.items.empty() ? "" : first.items.back().key;
  bool more = first.more;
  for (int page = 0; more && page < 10; ++page) {
    rpc::ScanResult next = client.Scan("s", after, 100);
    ASSERT_TRUE(next.ok());
    ASSERT_FALSE(next.items.empty());  // every page makes progress
    total += next.items.size();
    after = next.items.back().key;
    more = next.more;
  }
  EXPECT_EQ(total, 6u);
}

}  // namespace
}  // namespace kvd::test
