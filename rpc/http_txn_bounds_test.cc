// POST /v1/txn bodies that docs/api.md ("Transactions") refuses, over a real socket: malformed
// JSON and shapes (400 bad_json / invalid_argument), the counts (compares, ops per branch,
// distinct keys), key and value sizes, the bytes of keys and values together, and the body limit
// of the route, which differs from the value limit of PUT. Nothing refused reaches the node.
#include <gtest/gtest.h>

#include <string>

#include "rpc/http_txn_fixture.h"

namespace kvd::rpc {
namespace {

using testing::JsonAt;
using testing::TestConnection;
using testing::TestResponse;

class HttpTxnBoundsTest : public testing::HttpTxnFixture {
 protected:
  // Posts 'body' and expects it refused with (status, code) before the node saw it.
  void ExpectRefused(const std::string& body, int status, const std::string& code) {
    const size_t before = service_.txn_count();
    ExpectError(PostTxn(body), status, code);
    EXPECT_EQ(service_.txn_count(), before) << "the node got a refused transaction";
  }
};

// "[op, op, ...]" of n ops named `op` ("get", "delete") on keys prefix0..prefix{n-1}.
std::string Ops(const std::string& op, size_t n, const std::string& prefix) {
  std::string out = "[";
  for (size_t i = 0; i < n; ++i) {
    out += (i ? "," : "") + std::string(R"({")") + op + R"(": {"key": ")" + prefix +
           std::to_string(i) + R"("}})";
  }
  return out + "]";
}

std::string Compares(size_t n, const std::string& prefix) {
  std::string out = "[";
  for (size_t i = 0; i < n; ++i) {
    out += (i ? "," : "") + std::string(R"({"key": ")") + prefix + std::to_string(i) +
           R"(", "exists": true})";
  }
  return out + "]";
}

std::string Put(const std::string& key, const std::string& value) {
  return R"({"put": {"key": ")" + key + R"(", "value": ")" + value + R"("}})";
}

TEST_F(HttpTxnBoundsTest, MalformedBodies) {
  for (const char* body : {"not json", "[1]", "\"txn\"", "", "{\"compare\": [}", "null", "1"}) {
    SCOPED_TRACE(body);
    ExpectRefused(body, 400, "bad_json");
  }
  for (const char* body : {
           R"({"compares": []})",
           R"({"compare": [], "other": 1})",
           R"({"compare": {}})",
           R"({"compare": null})",
           R"({"compare": [1]})",
           R"({"compare": [{"version": 1}]})",
           R"({"compare": [{"key": "", "version": 1}]})",
           R"({"compare": [{"key": 5, "version": 1}]})",
           R"({"compare": [{"key": "a"}]})",
           R"({"compare": [{"key": "a", "version": 1, "exists": true}]})",
           R"({"compare": [{"key": "a", "version": 1, "value": "x"}]})",
           R"({"compare": [{"key": "a", "value": "x", "value_base64": "eA=="}]})",
           R"({"compare": [{"key": "a", "version": -1}]})",
           R"({"compare": [{"key": "a", "version": 1.5}]})",
           R"({"compare": [{"key": "a", "version": 1e3}]})",
           R"({"compare": [{"key": "a", "version": "3"}]})",
           R"({"compare": [{"key": "a", "version": null}]})",
           R"({"compare": [{"key": "a", "exists": 1}]})",
           R"({"compare": [{"key": "a", "value": 1}]})",
           R"({"compare": [{"key": "a", "value_base64": "!!"}]})",
           R"({"compare": [{"key": "a", "version": 1, "extra": 1}]})",
           R"({"compare": [{"key_base64": "YQ==", "version": 1}]})",
           R"({"success": {}})",
           R"({"success": "get a"})",
           R"({"success": [{}]})",
           R"({"success": [{"put": {"key": "a", "value": "1"}, "get": {"key": "a"}}]})",
           R"({"success": [{"increment": {"key": "a"}}]})",
           R"({"success": [{"put": "a"}]})",
           R"({"success": [{"put": {"key": "a"}}]})",
           R"({"success": [{"put": {"value": "1"}}]})",
           R"({"success": [{"put": {"key": "a", "value": null}}]})",
           R"({"success": [{"put": {"key": "a", "value": "1", "version": 2}}]})",
           R"({"success": [{"delete": {"key": "a", "value": "1"}}]})",
           R"({"success": [{"get": {"key": "a", "consistency": "stale"}}]})",
           R"({"success": [{"get": {"key": ""}}]})",
           R"({"failure": [{"get": {}}]})",
           R"({"failure": [["get", "a"]]})",
       }) {
    SCOPED_TRACE(body);
    ExpectRefused(body, 400, "invalid_argument");
  }
  // The message says where.
  TestResponse r = PostTxn(R"({"success": [{"get": {"key": "a"}}, {"put": {"key": "b"}}]})");
  EXPECT_NE(JsonAt(r.body, "/error/message").find("success[1].put"), std::string::npos) << r.body;
}

TEST_F(HttpTxnBoundsTest, AtMost128ComparesAnd128OpsPerBranch) {
  EXPECT_EQ(PostTxn(R"({"compare": )" + Compares(128, "c") + "}").status, 200);
  EXPECT_EQ(service_.last_txn().compare.size(), 128u);
  ExpectRefused(R"({"compare": )" + Compares(129, "c") + "}", 400, "invalid_argument");
  for (const char* branch : {"success", "failure"}) {
    SCOPED_TRACE(branch);
    EXPECT_EQ(PostTxn(std::string(R"({")") + branch + R"(": )" + Ops("get", 128, "k") + "}").status,
              200);
    ExpectRefused(std::string(R"({")") + branch + R"(": )" + Ops("delete", 129, "k") + "}", 400,
                  "invalid_argument");
  }
  // 128 in each of the three lists is fine: the bound is per list.
  EXPECT_EQ(PostTxn(R"({"compare": )" + Compares(128, "k") + R"(, "success": )" +
                    Ops("get", 128, "k") + R"(, "failure": )" + Ops("get", 128, "k") + "}")
                .status,
            200);
}

TEST_F(HttpTxnBoundsTest, AtMost256DistinctKeys) {
  // 128 compares on c0..c127 and 128 gets on g0..g127: 256 distinct keys.
  const std::string two_fifty_six =
      R"({"compare": )" + Compares(128, "c") + R"(, "success": )" + Ops("get", 128, "g");
  EXPECT_EQ(PostTxn(two_fifty_six + "}").status, 200);
  // Keys met again do not count twice, in any list.
  EXPECT_EQ(PostTxn(two_fifty_six + R"(, "failure": )" + Ops("delete", 128, "c") + "}").status,
            200);
  TestResponse r = PostTxn(two_fifty_six + R"(, "failure": [{"get": {"key": "x"}}]})");
  ExpectError(r, 400, "invalid_argument");
  EXPECT_NE(JsonAt(r.body, "/error/message").find("256 distinct keys"), std::string::npos);
}

TEST_F(HttpTxnBoundsTest, KeysOver4096BytesAreTooLarge) {
  const std::string max_key(4096, 'k');
  const std::string long_key(4097, 'k');
  EXPECT_EQ(PostTxn(R"({"success": [)" + Put(max_key, "v") + "]}").status, 200);
  EXPECT_EQ(service_.last_txn().success.at(0).key, max_key);
  for (const std::string& body : {
           R"({"compare": [{"key": ")" + long_key + R"(", "version": 0}]})",
           R"({"success": [)" + Put(long_key, "v") + "]}",
           R"({"failure": [{"delete": {"key": ")" + long_key + R"("}}]})",
           R"({"success": [{"get": {"key": ")" + long_key + R"("}}]})",
       }) {
    ExpectRefused(body, 413, "too_large");
  }
  EXPECT_EQ(PostTxn("{}").status, 200);  // the connection is still good
}

TEST_F(HttpTxnBoundsTest, PutValuesAreBoundedByTheValueLimit) {
  HttpOptions options;
  options.max_body_bytes = 1000;  // --max-value-bytes
  StartServer(options);
  EXPECT_EQ(PostTxn(R"({"success": [)" + Put("a", std::string(1000, 'v')) + "]}").status, 200);
  ExpectRefused(R"({"success": [)" + Put("a", std::string(1001, 'v')) + "]}", 413, "too_large");
  // Decoded bytes count: 1002 base64 characters are 751 bytes.
  EXPECT_EQ(PostTxn(R"({"success": [{"put": {"key": "a", "value_base64": ")" +
                    std::string(1002, 'A') + R"("}}]})")
                .status,
            200);
  EXPECT_EQ(service_.last_txn().success.at(0).value.size(), 751u);
  // A compare's value is not a stored value: only the total bounds it.
  EXPECT_EQ(PostTxn(R"({"compare": [{"key": "a", "value": ")" + std::string(5000, 'v') + R"("}]})")
                .status,
            200);
}

TEST_F(HttpTxnBoundsTest, KeysAndValuesOver4MiBTogetherAreTooLarge) {
  // With the default 1 MiB value limit the body is larger than a PUT may send: POST /v1/txn has
  // its own body limit (8 MiB).
  const std::string mib(1 << 20, 'v');
  std::string four = R"({"success": [)";
  for (int i = 0; i < 4; ++i) four += (i ? "," : "") + Put("k" + std::to_string(i), mib);
  EXPECT_EQ(PostTxn(four + "]}").status, 413);  // 4 MiB of values + the keys' bytes
  const std::string under = four.substr(0, four.size() - 20) + R"("}}]})";  // values a bit short
  TestResponse ok = PostTxn(under);
  EXPECT_EQ(ok.status, 200) << ok.body.substr(0, 200);
  ASSERT_EQ(service_.last_txn().success.size(), 4u);
  TestResponse r = PostTxn(four + "," + Put("k9", "v") + "]}");
  ExpectError(r, 413, "too_large");
  EXPECT_EQ(PostTxn("{}").status, 200);  // the body was read: the connection is kept
}

TEST_F(HttpTxnBoundsTest, TheRouteHasItsOwnBodyLimit) {
  HttpOptions options;
  options.max_body_bytes = 1024;
  options.max_txn_body_bytes = 64 << 10;
  StartServer(options);
  // Over the value limit but within the transaction body limit: read and parsed.
  const std::string body =
      R"({"compare": [{"key": "a", "value": ")" + std::string(10000, 'x') + R"("}]})";
  EXPECT_EQ(PostTxn(body).status, 200);
  ExpectError(Call("PUT", "/v1/kv/a", std::string(2000, 'x')), 413, "too_large");
  conn_ = std::make_unique<TestConnection>(server_->port());

  // Over the transaction body limit: refused from Content-Length, and the connection is closed.
  const std::string huge =
      R"({"compare": [{"key": "a", "value": ")" + std::string(70 << 10, 'x') + R"("}]})";
  const size_t before = service_.txn_count();
  TestResponse r = PostTxn(huge);
  ExpectError(r, 413, "too_large");
  EXPECT_NE(JsonAt(r.body, "/error/message").find("65536"), std::string::npos) << r.body;
  EXPECT_TRUE(conn_->WaitForClose());
  EXPECT_EQ(service_.txn_count(), before);
}

}  // namespace
}  // namespace kvd::rpc
