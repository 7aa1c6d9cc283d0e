// The transport-free pieces of the HTTP front end: target decoding, JSON encoding, the error
// mapping of docs/api.md and the metrics exposition.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "rpc/http_errors.h"
#include "rpc/http_json.h"
#include "rpc/http_metrics.h"
#include "rpc/http_test_util.h"
#include "rpc/http_url.h"

namespace kvd::rpc {
namespace {

using testing::JsonAt;

TEST(PercentDecodeTest, DecodesEscapesIncludingSlashAndBinary) {
  EXPECT_EQ(PercentDecode("a%2Fb", false), "a/b");
  EXPECT_EQ(PercentDecode("a%2fb", false), "a/b");
  EXPECT_EQ(PercentDecode("%00%FF", false), std::string("\0\xff", 2));
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_EQ(PercentDecode("", false), "");
}

TEST(PercentDecodeTest, RejectsMalformedEscapes) {
  for (const char* bad : {"%", "%4", "a%zz", "%g0", "%%41", "ab%"}) {
    EXPECT_EQ(PercentDecode(bad, false), std::nullopt) << bad;
  }
}

TEST(ParseUint64Test, AcceptsOnlyPlainDecimal) {
  EXPECT_EQ(ParseUint64("0"), 0u);
  EXPECT_EQ(ParseUint64("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "abc", "1e3", "18446744073709551616",
                          "99999999999999999999", "0x10"}) {
    EXPECT_EQ(ParseUint64(bad), std::nullopt) << bad;
  }
}

TEST(QueryTest, ParsesDecodesAndRejectsMalformed) {
  std::string error;
  auto q = Query::Parse("prefix=a%2Fb&limit=10&after=x+y&&", &error);
  ASSERT_TRUE(q) << error;
  EXPECT_EQ(*q->Find("prefix"), "a/b");
  EXPECT_EQ(*q->Find("after"), "x y");
  EXPECT_EQ(q->Find("consistency"), nullptr);
  EXPECT_EQ(q->FirstUnknown({"prefix", "limit", "after"}), nullptr);
  EXPECT_EQ(*q->FirstUnknown({"prefix"}), "limit");
  for (const char* bad : {"stale", "a=1&a=2", "=1", "a=%zz"}) {
    EXPECT_FALSE(Query::Parse(bad, &error)) << bad;
  }
  EXPECT_TRUE(Query::Parse("", &error));
}

TEST(SplitTargetTest, SplitsAtTheFirstQuestionMark) {
  auto t = SplitTarget("/v1/kv/a?b=c?d");
  EXPECT_EQ(t.path, "/v1/kv/a");
  EXPECT_EQ(t.query, "b=c?d");
  EXPECT_EQ(SplitTarget("/healthz").query, "");
}

TEST(Utf8Test, StrictValidation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii\n"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_TRUE(IsValidUtf8(std::string("\0", 1)));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
}

TEST(Base64Test, Rfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("\xff\xfe"), "//4=");
}

TEST(ScanJsonTest, CutsAtTheByteBoundAndSaysMore) {
  kv::ScanResponse scan;
  for (const char* k : {"a", "b", "c"}) {
    kvpb::KeyRecord r;
    r.set_value(std::string(10, 'x'));
    scan.items.emplace_back(k, r);
  }
  EXPECT_EQ(JsonAt(ScanJson(scan, 100, 1 << 20), "/more"), "false");
  std::string cut = ScanJson(scan, 100, 15);  // the second item reaches the bound
  EXPECT_EQ(JsonAt(cut, "/items/1/key"), "b");
  EXPECT_EQ(JsonAt(cut, "/items/2"), "<missing>");
  EXPECT_EQ(JsonAt(cut, "/more"), "true");
  EXPECT_EQ(JsonAt(ScanJson(scan, 1, 1 << 20), "/more"), "true");
}

TEST(ErrorMappingTest, ServiceCodesMapToApiStatuses) {
  struct Case {
    kv::ErrorCode code;
    bool is_write;
    int status;
    const char* error_code;
    bool retry_after;
  } cases[] = {
      {kv::ErrorCode::kInvalidArgument, true, 400, "invalid_argument", false},
      {kv::ErrorCode::kNotFound, false, 404, "not_found", false},
      {kv::ErrorCode::kVersionMismatch, true, 412, "version_mismatch", false},
      {kv::ErrorCode::kOverloaded, true, 429, "overloaded", true},
      {kv::ErrorCode::kUnavailable, false, 503, "unavailable", true},
      {kv::ErrorCode::kTimeout, true, 504, "timeout", false},
      {kv::ErrorCode::kOk, true, 500, "internal", false},
  };
  for (const Case& c : cases) {
    HttpReply r = ServiceErrorReply(c.code, "", c.is_write, 3);
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(JsonAt(r.body, "/error/code"), c.error_code);
    EXPECT_NE(JsonAt(r.body, "/error/message"), "");
    bool has_retry_after = false;
    for (const auto& [name, value] : r.headers) has_retry_after |= name == "Retry-After";
    EXPECT_EQ(has_retry_after, c.retry_after) << c.status;
  }
  HttpReply mismatch = ServiceErrorReply(kv::ErrorCode::kVersionMismatch, "", true, 3);
  EXPECT_EQ(JsonAt(mismatch.body, "/current_version"), "3");
  EXPECT_EQ(JsonAt(mismatch.body, "/error/current_version"), "3");
  EXPECT_EQ(JsonAt(TimeoutReply(true).body, "/indeterminate"), "true");
  EXPECT_EQ(JsonAt(TimeoutReply(false).body, "/indeterminate"), "false");
}

TEST(ErrorJsonTest, SanitisesMessagesThatAreNotUtf8) {
  std::string body = ErrorJson("bad_key", "key \xff\xfe", {});
  EXPECT_EQ(JsonAt(body, "/error/message"), "key ??");
}

TEST(HttpMetricsTest, RendersCountersAndHistogram) {
  HttpMetrics m;
  m.RecordRequest(HttpRoute::kKvPut, 200, std::chrono::milliseconds(3));
  m.RecordRequest(HttpRoute::kKvPut, 200, std::chrono::milliseconds(30));
  m.RecordRequest(HttpRoute::kKvGet, 404, std::chrono::microseconds(100));
  m.ConnectionOpened();
  std::string text = m.Render();
  EXPECT_NE(text.find("kvd_http_requests_total{route=\"kv_put\",status=\"200\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("kvd_http_requests_total{route=\"kv_get\",status=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("kvd_http_request_duration_seconds_bucket{route=\"kv_put\",le=\"0.005\"} 1\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("kvd_http_request_duration_seconds_bucket{route=\"kv_put\",le=\"+Inf\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("kvd_http_connections_active 1\n"), std::string::npos);
}

}  // namespace
}  // namespace kvd::rpc
