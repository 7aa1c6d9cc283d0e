// The parsers shared by the server and the client (rpc/host_port.h, rpc/idempotency_key.h): one
// set of limits, checked here once for both sides.
#include <gtest/gtest.h>

#include <string>

#include "rpc/host_port.h"
#include "rpc/idempotency_key.h"

namespace kvd::rpc {
namespace {

TEST(HostPortParser, AcceptsNamesIpv4AndBracketedIpv6) {
  auto v4 = ParseHostPort("127.0.0.2:7001");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "127.0.0.2");
  EXPECT_EQ(v4->port, 7001);
  auto v6 = ParseHostPort("[fe80::1%eth0]:8080");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "fe80::1%eth0");
  EXPECT_EQ(v6->ToString(), "[fe80::1%eth0]:8080");
  auto name = ParseHostPort("node-1.example:65535");
  ASSERT_TRUE(name);
  EXPECT_EQ(name->ToString(), "node-1.example:65535");
  EXPECT_EQ(ParseHostPort("h:0")->port, 0);  // a listen address: the OS picks
}

TEST(HostPortParser, DefaultPortOnlyWhenTheCallerGivesOne) {
  EXPECT_FALSE(ParseHostPort("localhost"));
  auto with_default = ParseHostPort("localhost", nullptr, 80);
  ASSERT_TRUE(with_default);
  EXPECT_EQ(with_default->port, 80);
  auto v6 = ParseHostPort("[::1]", nullptr, 80);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(ParseHostPort("[::1]:9", nullptr, 80)->port, 9);
  EXPECT_FALSE(ParseHostPort("[::1]"));  // brackets do not make a port optional
  EXPECT_EQ(ParseHostPort("[::1]:0")->port, 0);
}

TEST(HostPortParser, RejectsMalformedAddressesWithAReason) {
  const std::string long_host(kMaxHostBytes + 1, 'a');
  for (const std::string& bad :
       {std::string(""), std::string(":80"), std::string("host:"), std::string("host:65536"),
        std::string("host:8x"), std::string("host:+80"), std::string("host:000080"),
        std::string("::1:80"), std::string("[::1"), std::string("[::1]x80"),
        std::string("[host]:80"), std::string("a b:80"), std::string("a/b:80"),
        std::string("user@h:80"), std::string("h\n:80"), long_host + ":80"}) {
    std::string error;
    EXPECT_FALSE(ParseHostPort(bad, &error, 80)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  EXPECT_TRUE(ParseHostPort(std::string(kMaxHostBytes, 'a') + ":1"));
}

TEST(IdempotencyKeyParser, SplitsAtTheLastColon) {
  auto key = IdempotencyKey::Parse("app:1:42");
  ASSERT_TRUE(key);
  EXPECT_EQ(key->client_id, "app:1");
  EXPECT_EQ(key->seq, 42u);
  EXPECT_EQ(key->ToString(), "app:1:42");
  EXPECT_TRUE(key->IsValid());
  auto max = IdempotencyKey::Parse("c:18446744073709551615");
  ASSERT_TRUE(max);
  EXPECT_EQ(max->seq, UINT64_MAX);
}

TEST(IdempotencyKeyParser, EnforcesTheSameLimitsOnBothSides) {
  const std::string id_at_limit(kMaxIdempotencyClientIdBytes, 'x');
  EXPECT_TRUE(IdempotencyKey::Parse(id_at_limit + ":1"));
  for (const std::string& bad :
       {std::string("w1"), std::string(":5"), std::string("w1:0"), std::string("w1:"),
        std::string("w1:5x"), std::string("w1:-5"), std::string("w1:+5"), std::string("w 1:5"),
        std::string("w\x7f:5"), std::string("w1:18446744073709551616"),
        std::string("w1:000000000000000000001"), id_at_limit + "x:1"}) {
    std::string error;
    EXPECT_FALSE(IdempotencyKey::Parse(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  EXPECT_FALSE((IdempotencyKey{id_at_limit + "x", 1}.IsValid()));
  EXPECT_FALSE((IdempotencyKey{"ok", 0}.IsValid()));
  EXPECT_FALSE((IdempotencyKey{"", 1}.IsValid()));
}

}  // namespace
}  // namespace kvd::rpc
