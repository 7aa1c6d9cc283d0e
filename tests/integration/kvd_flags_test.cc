// kvd's flag parsing and resource planning (cli/kvd_flags.h), without starting a node.
#include "cli/kvd_flags.h"

#include <gtest/gtest.h>

namespace kvd::cli {
namespace {

TEST(KvdFlags, NodeListAddressesGoThroughTheSharedParser) {
  std::string error;
  auto ok = ParseNodeList("1=127.0.0.1:7001,2=[::1]:7002,3=node3:7003", &error);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(ok->at(2), "[::1]:7002");
  for (const char* bad : {"1=host", "1=host:99999", "1=::1:80", "0=h:1", "1=h:1,1=h:2", ""}) {
    EXPECT_FALSE(ParseNodeList(bad, &error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

TEST(KvdFlags, ConnectionCapsStayBelowTheFileLimitWithRoomForLevelDb) {
  // A generous limit: the wanted caps fit as asked.
  ConnectionCaps roomy = PlanConnectionCaps(1 << 20, 1024, 256, 3);
  EXPECT_EQ(roomy.http_max_connections, 1024);
  EXPECT_EQ(roomy.peer_max_inbound, 256u);
  EXPECT_EQ(roomy.reserved_for_files, kLevelDbFileReserve + kOtherFileReserve + 3);
  // Debian's default soft limit: the caps shrink so that the worst case (twice the HTTP cap, the
  // 429 window, plus every inbound peer connection plus the reserve) fits.
  for (uint64_t limit : {uint64_t{1024}, uint64_t{4096}, uint64_t{20000}, uint64_t{64}}) {
    ConnectionCaps caps = PlanConnectionCaps(limit, 1024, 256, 3);
    EXPECT_GE(caps.http_max_connections, 1);
    EXPECT_GE(caps.peer_max_inbound, 1u);
    if (limit >= 64 * 4) {
      EXPECT_LE(2 * static_cast<uint64_t>(caps.http_max_connections) + caps.peer_max_inbound +
                    caps.reserved_for_files,
                limit)
          << limit;
    }
  }
  EXPECT_EQ(PlanConnectionCaps(1024, 1024, 256, 3).http_max_connections, 192);
  // Never more than asked.
  EXPECT_EQ(PlanConnectionCaps(1 << 20, 16, 4, 3).http_max_connections, 16);
}

TEST(KvdFlags, RaiseFileLimitLeavesTheSoftLimitAtTheHardOne) {
  FileLimit limit = RaiseFileLimit();
  EXPECT_TRUE(limit.error.empty()) << limit.error;
  EXPECT_GE(limit.soft, limit.soft_before);
  if (limit.hard != static_cast<uint64_t>(-1)) {
    EXPECT_EQ(limit.soft, limit.hard);
  }
}

}  // namespace
}  // namespace kvd::cli
