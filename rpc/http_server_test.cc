// The HTTP API of docs/api.md end to end over a real socket, against an in-memory service: every
// route, every error status, key decoding and query validation.
#include "rpc/http_server.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "rpc/http_api_fixture.h"
#include "rpc/http_test_util.h"

namespace kvd::rpc {
namespace {

using testing::FakeKvService;
using testing::JsonAt;
using testing::TestConnection;
using testing::TestResponse;

class HttpApiTest : public testing::HttpApiFixture {};

TEST_F(HttpApiTest, PutGetDeleteRoundTrip) {
  TestResponse put = Call("PUT", "/v1/kv/greeting", "hello");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(JsonAt(put.body, "/version"), "1");
  EXPECT_EQ(JsonAt(put.body, "/revision"), "1");
  EXPECT_EQ(put.Header("x-kv-version"), "1");
  EXPECT_EQ(put.Header("x-kv-revision"), "1");
  EXPECT_EQ(put.Header("x-kv-shard"), "1");
  EXPECT_EQ(service_.last_write().value, "hello");

  TestResponse get = Call("GET", "/v1/kv/greeting");
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "hello");
  EXPECT_EQ(get.Header("content-type"), "application/octet-stream");
  EXPECT_EQ(get.Header("x-kv-version"), "1");
  EXPECT_EQ(get.Header("x-kv-revision"), "1");
  EXPECT_EQ(get.Header("x-kv-shard"), "1");
  EXPECT_FALSE(service_.last_read().stale);

  EXPECT_EQ(JsonAt(Call("PUT", "/v1/kv/greeting", "again").body, "/version"), "2");

  TestResponse del = Call("DELETE", "/v1/kv/greeting");
  ASSERT_EQ(del.status, 200);
  EXPECT_EQ(JsonAt(del.body, "/deleted"), "true");
  EXPECT_EQ(JsonAt(del.body, "/revision"), "3");
  EXPECT_EQ(JsonAt(Call("DELETE", "/v1/kv/greeting").body, "/deleted"), "false");
  ExpectError(Call("GET", "/v1/kv/greeting"), 404, "not_found");
}

TEST_F(HttpApiTest, BinaryValuesAndEmptyValuesRoundTrip) {
  std::string value("\0\x01\xff binary", 10);
  ASSERT_EQ(Call("PUT", "/v1/kv/bin", value).status, 200);
  EXPECT_EQ(Call("GET", "/v1/kv/bin").body, value);
  ASSERT_EQ(Call("PUT", "/v1/kv/empty", "").status, 200);
  TestResponse get = Call("GET", "/v1/kv/empty");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "");
}

TEST_F(HttpApiTest, StaleReadsAreAskedForExplicitly) {
  service_.Seed("k", "v");
  EXPECT_EQ(Call("GET", "/v1/kv/k?consistency=stale").status, 200);
  EXPECT_TRUE(service_.last_read().stale);
  EXPECT_EQ(Call("GET", "/v1/kv/k?consistency=linearizable").status, 200);
  EXPECT_FALSE(service_.last_read().stale);
}

TEST_F(HttpApiTest, IfVersionIsACompareAndSet) {
  ASSERT_EQ(Call("PUT", "/v1/kv/k?if_version=0", "a").status, 200);  // only if absent
  EXPECT_EQ(*service_.last_write().if_version, 0u);
  TestResponse again = Call("PUT", "/v1/kv/k?if_version=0", "b");
  ExpectError(again, 412, "version_mismatch");
  EXPECT_EQ(JsonAt(again.body, "/current_version"), "1");
  EXPECT_EQ(JsonAt(again.body, "/error/current_version"), "1");
  ExpectError(Call("DELETE", "/v1/kv/k?if_version=5"), 412, "version_mismatch");
  EXPECT_EQ(Call("DELETE", "/v1/kv/k?if_version=1").status, 200);
}

TEST_F(HttpApiTest, IdempotencyKeyBecomesClientIdAndSeq) {
  ASSERT_EQ(Call("PUT", "/v1/kv/k", "v", {{"Idempotency-Key", "client-7:42"}}).status, 200);
  EXPECT_EQ(service_.last_write().client_id, "client-7");
  EXPECT_EQ(service_.last_write().seq, 42u);
  ASSERT_EQ(Call("DELETE", "/v1/kv/k", "", {{"Idempotency-Key", "a:b:3"}}).status, 200);
  EXPECT_EQ(service_.last_write().client_id, "a:b");  // split at the last ':'
  EXPECT_EQ(service_.last_write().seq, 3u);
  ASSERT_EQ(Call("PUT", "/v1/kv/k", "v").status, 200);
  EXPECT_EQ(service_.last_write().client_id, "");
}

TEST_F(HttpApiTest, MalformedIdempotencyKeyIs400) {
  for (const char* bad : {"client", "client:", ":5", "client:0", "client:abc", "client:-1",
                          "client:99999999999999999999", "client:1.5", "cli ent:1"}) {
    ExpectError(Call("PUT", "/v1/kv/k", "v", {{"Idempotency-Key", bad}}), 400, "invalid_argument");
  }
  ExpectError(
      Call("PUT", "/v1/kv/k", "v", {{"Idempotency-Key", "c:1"}, {"Idempotency-Key", "c:2"}}), 400,
      "invalid_argument");
}

TEST_F(HttpApiTest, FencedWritesCarryTheFenceAndMalformedOnesAreRefused) {
  ASSERT_EQ(Call("PUT", "/v1/kv/k", "v", {{"X-Fence", "lock:7"}}).status, 200);
  ASSERT_TRUE(service_.last_write().fence.has_value());
  EXPECT_EQ(service_.last_write().fence->lock, "lock");
  EXPECT_EQ(service_.last_write().fence->token, 7u);
  ASSERT_EQ(Call("DELETE", "/v1/kv/k", "", {{"X-Fence", "a:b:9"}}).status, 200);
  EXPECT_EQ(service_.last_write().fence->lock, "a:b");  // split at the last ':'
  EXPECT_EQ(service_.last_write().fence->token, 9u);
  ASSERT_EQ(Call("PUT", "/v1/kv/k", "v").status, 200);
  EXPECT_FALSE(service_.last_write().fence.has_value());
  // A write believed fenced must never be applied unfenced: a bad header refuses it.
  for (const char* bad : {"lock", ":7", "lock:", "lock:0", "lock:-1", "lock:+1", "lock:abc",
                          "lock:1.5", "lock: 7", "lock:99999999999999999999", ""}) {
    SCOPED_TRACE(bad);
    ExpectError(Call("PUT", "/v1/kv/f", "v", {{"X-Fence", bad}}), 400, "invalid_argument");
    ExpectError(Call("DELETE", "/v1/kv/k", "", {{"X-Fence", bad}}), 400, "invalid_argument");
  }
  ExpectError(Call("PUT", "/v1/kv/f", "v", {{"X-Fence", "a:1"}, {"X-Fence", "a:2"}}), 400,
              "invalid_argument");
  ExpectError(Call("GET", "/v1/kv/f"), 404, "not_found");  // nothing was written
  // Reads ignore the header, even a malformed one.
  EXPECT_EQ(Call("GET", "/v1/kv/k", "", {{"X-Fence", "nonsense"}}).status, 200);
}

TEST_F(HttpApiTest, KeysArePercentDecoded) {
  ASSERT_EQ(Call("PUT", "/v1/kv/a%2Fb", "1").status, 200);
  EXPECT_EQ(service_.last_write().key, "a/b");
  EXPECT_EQ(Call("GET", "/v1/kv/a/b").body, "1");  // a raw '/' is part of the key too
  ASSERT_EQ(Call("PUT", "/v1/kv/%E2%82%AC%20x+y%00", "2").status, 200);
  EXPECT_EQ(service_.last_write().key, std::string("\xe2\x82\xac x+y\0", 8));
  ASSERT_EQ(Call("PUT", "/v1/kv/%ff", "3").status, 200);
  EXPECT_EQ(service_.last_write().key, "\xff");
}

TEST_F(HttpApiTest, BadKeysAreRejected) {
  ExpectError(Call("PUT", "/v1/kv/", "v"), 400, "bad_key");
  ExpectError(Call("GET", "/v1/kv/"), 400, "bad_key");
  ExpectError(Call("PUT", "/v1/kv/a%zz", "v"), 400, "bad_key");
  ExpectError(Call("GET", "/v1/kv/a%4"), 400, "bad_key");
  ExpectError(Call("DELETE", "/v1/kv/%"), 400, "bad_key");
  // docs/api.md: 413 too_large for a key or value over the limit.
  ExpectError(Call("PUT", "/v1/kv/" + std::string(4097, 'k'), "v"), 413, "too_large");
  ExpectError(Call("GET", "/v1/kv/" + std::string(4097, 'k')), 413, "too_large");
  EXPECT_EQ(Call("PUT", "/v1/kv/" + std::string(4096, 'k'), "v").status, 200);
  // The limit applies after decoding: 4096 escaped bytes are 12288 characters on the wire.
  std::string escaped;
  for (int i = 0; i < 4096; ++i) escaped += "%41";
  EXPECT_EQ(Call("PUT", "/v1/kv/" + escaped, "v").status, 200);
  EXPECT_EQ(service_.last_write().key, std::string(4096, 'A'));
}

TEST_F(HttpApiTest, MalformedQueriesAre400) {
  service_.Seed("k", "v");
  for (const char* target :
       {"/v1/kv/k?if_version=abc", "/v1/kv/k?if_version=-1",
        "/v1/kv/k?if_version=", "/v1/kv/k?if_verison=1", "/v1/kv/k?if_version=1&if_version=2",
        "/v1/kv/k?if_version", "/v1/kv/k?if_version=%zz"}) {
    ExpectError(Call("PUT", target, "v"), 400, "invalid_argument");
    ExpectError(Call("DELETE", target), 400, "invalid_argument");
  }
  for (const char* target :
       {"/v1/kv/k?consistency=bogus", "/v1/kv/k?if_version=1", "/v1/kv/k?stale"}) {
    ExpectError(Call("GET", target), 400, "invalid_argument");
  }
  for (const char* target :
       {"/v1/kv?limit=-1", "/v1/kv?limit=0", "/v1/kv?limit=abc", "/v1/kv?limit=1001",
        "/v1/kv?consistency=bogus", "/v1/kv?sort=asc", "/v1/kv?prefix=%zz"}) {
    ExpectError(Call("GET", target), 400, "invalid_argument");
  }
  ExpectError(Call("GET", "/healthz?verbose=1"), 400, "invalid_argument");
  EXPECT_EQ(Call("GET", "/v1/kv/k").body, "v");  // still served on the same connection
}

TEST_F(HttpApiTest, ScanPagesByPrefixLimitAndAfter) {
  for (const char* k : {"a", "p/1", "p/2", "p/3", "q"}) service_.Seed(k, std::string("v-") + k);
  TestResponse page = Call("GET", "/v1/kv?prefix=p%2F&limit=2");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.Header("content-type"), "application/json");
  EXPECT_EQ(JsonAt(page.body, "/items/0/key"), "p/1");
  EXPECT_EQ(JsonAt(page.body, "/items/0/value"), "v-p/1");
  EXPECT_EQ(JsonAt(page.body, "/items/0/version"), "1");
  EXPECT_EQ(JsonAt(page.body, "/items/0/revision"), "2");
  EXPECT_EQ(JsonAt(page.body, "/items/1/key"), "p/2");
  EXPECT_EQ(JsonAt(page.body, "/items/2"), "<missing>");
  EXPECT_EQ(JsonAt(page.body, "/more"), "true");
  EXPECT_EQ(service_.last_scan().limit, 2u);

  TestResponse rest = Call("GET", "/v1/kv?prefix=p/&limit=2&after=p%2F2&consistency=stale");
  EXPECT_EQ(JsonAt(rest.body, "/items/0/key"), "p/3");
  EXPECT_EQ(JsonAt(rest.body, "/items/1"), "<missing>");
  EXPECT_EQ(JsonAt(rest.body, "/more"), "false");
  EXPECT_EQ(service_.last_scan().after, "p/2");
  EXPECT_TRUE(service_.last_scan().stale);

  TestResponse all = Call("GET", "/v1/kv");
  EXPECT_EQ(JsonAt(all.body, "/items/4/key"), "q");
  EXPECT_EQ(service_.last_scan().limit, 100u);  // the default
  EXPECT_FALSE(service_.last_scan().stale);
}

TEST_F(HttpApiTest, ScanEncodesNonUtf8AsBase64) {
  service_.Seed("text", "caf\xc3\xa9");
  service_.Seed("text2", "\xff\xfe");
  service_.Seed("\xff", "x");
  TestResponse r = Call("GET", "/v1/kv");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(JsonAt(r.body, "/items/0/key"), "text");
  EXPECT_EQ(JsonAt(r.body, "/items/0/value"), "caf\xc3\xa9");
  EXPECT_EQ(JsonAt(r.body, "/items/0/value_base64"), "<missing>");
  EXPECT_EQ(JsonAt(r.body, "/items/1/value_base64"), "//4=");
  EXPECT_EQ(JsonAt(r.body, "/items/1/value"), "<missing>");
  EXPECT_EQ(JsonAt(r.body, "/items/2/key_base64"), "/w==");
  EXPECT_EQ(JsonAt(r.body, "/items/2/key"), "<missing>");
  EXPECT_EQ(JsonAt(r.body, "/items/2/value"), "x");
}

TEST_F(HttpApiTest, ClusterHealthReadinessAndMetrics) {
  TestResponse cluster = Call("GET", "/v1/cluster");
  ASSERT_EQ(cluster.status, 200) << cluster.body;
  EXPECT_EQ(JsonAt(cluster.body, "/directory_version"), "7");
  EXPECT_EQ(JsonAt(cluster.body, "/nodes/1/id"), "2");
  EXPECT_EQ(JsonAt(cluster.body, "/nodes/1/peer_address"), "127.0.0.2:7001");
  EXPECT_EQ(JsonAt(cluster.body, "/nodes/1/http_address"), "127.0.0.2:8001");
  EXPECT_EQ(JsonAt(cluster.body, "/nodes/1/up"), "false");
  EXPECT_EQ(JsonAt(cluster.body, "/shards/0/replicas"), "[1,2,3]");
  EXPECT_EQ(JsonAt(cluster.body, "/shards/0/leader"), "1");
  EXPECT_EQ(JsonAt(cluster.body, "/shards/0/term"), "4");
  EXPECT_EQ(JsonAt(cluster.body, "/shards/0/commit_index"), "10");
  EXPECT_EQ(JsonAt(cluster.body, "/shards/0/applied_index"), "9");
  EXPECT_EQ(JsonAt(cluster.body, "/shards/0/role"), "leader");

  TestResponse health = Call("GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(JsonAt(health.body, "/status"), "ok");
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  service_.SetReady(false);
  TestResponse not_ready = Call("GET", "/readyz");
  ExpectError(not_ready, 503, "unavailable");
  EXPECT_EQ(not_ready.Header("retry-after"), "1");

  TestResponse metrics = Call("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find("kvd_node_up 1\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("kvd_http_requests_total{route=\"readyz\",status=\"503\"} 1\n"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("kvd_http_request_duration_seconds_count{route=\"cluster\"} 1\n"),
            std::string::npos);
}

TEST_F(HttpApiTest, UnknownRoutesAre404NoRouteAndWrongMethods405) {
  // not_found is reserved for missing keys and locks (docs/api.md).
  ExpectError(Call("GET", "/nope"), 404, "no_route");
  ExpectError(Call("GET", "/v1/kvx"), 404, "no_route");
  ExpectError(Call("GET", "/healthz/"), 404, "no_route");
  ExpectError(Call("POST", "/v1/nodes", "{}"), 404, "no_route");  // not built yet

  TestResponse post = Call("POST", "/v1/kv/k", "v");
  ExpectError(post, 405, "method_not_allowed");
  EXPECT_EQ(post.Header("allow"), "GET, PUT, DELETE");
  TestResponse patch = Call("PATCH", "/v1/kv", "v");
  ExpectError(patch, 405, "method_not_allowed");
  EXPECT_EQ(patch.Header("allow"), "GET");
  for (const char* path : {"/v1/cluster", "/healthz", "/readyz", "/metrics"}) {
    TestResponse r = Call("DELETE", path);
    ExpectError(r, 405, "method_not_allowed");
    EXPECT_EQ(r.Header("allow"), "GET");
  }
  ExpectError(Call("FROB", "/v1/kv/k"), 405, "method_not_allowed");
}

TEST_F(HttpApiTest, ServiceErrorsMapToApiStatuses) {
  struct Case {
    kv::ErrorCode code;
    int status;
    const char* error_code;
  } cases[] = {
      {kv::ErrorCode::kInvalidArgument, 400, "invalid_argument"},
      {kv::ErrorCode::kNotFound, 404, "not_found"},
      {kv::ErrorCode::kVersionMismatch, 412, "version_mismatch"},
      {kv::ErrorCode::kOverloaded, 429, "overloaded"},
      {kv::ErrorCode::kUnavailable, 503, "unavailable"},
      {kv::ErrorCode::kTimeout, 504, "timeout"},
      {kv::ErrorCode::kFenced, 409, "fenced"},  // a fenced write
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error_code);
    service_.FailWith(c.code, "from the node", 9);
    TestResponse put = Call("PUT", "/v1/kv/k", "v");
    ExpectError(put, c.status, c.error_code);
    EXPECT_EQ(JsonAt(put.body, "/error/message"), "from the node");
    TestResponse get = Call("GET", "/v1/kv/k");
    ExpectError(get, c.status, c.error_code);
    TestResponse scan = Call("GET", "/v1/kv");
    ExpectError(scan, c.status, c.error_code);
    if (c.status == 429 || c.status == 503) {
      EXPECT_EQ(put.Header("retry-after"), "1");
      EXPECT_EQ(get.Header("retry-after"), "1");
    }
    if (c.status == 412) {
      EXPECT_EQ(JsonAt(put.body, "/current_version"), "9");
    }
    if (c.status == 504) {
      EXPECT_EQ(JsonAt(put.body, "/indeterminate"), "true");
      EXPECT_EQ(JsonAt(put.body, "/error/indeterminate"), "true");
      EXPECT_EQ(JsonAt(get.body, "/indeterminate"), "false");
    }
  }
}

// ---- Directory and routing (docs/api.md) ----

kv::DirectoryView TwoShardDirectory() {
  kv::DirectoryView d;
  d.version = 5;
  d.vnodes_per_shard = 8;
  d.replication = 3;
  d.meta_shard = 0;
  d.meta_voters = {1, 2, 3};
  d.nodes = {{1, "127.0.0.1:7001", "127.0.0.1:8001", true},
             {2, "127.0.0.1:7002", "127.0.0.1:8002", false}};
  d.shards = {{1, {1, 2, 3}, 2, 6, 40, 0.25}, {2, {3, 1, 2}, 0, 0, 0, 0.75}};
  return d;
}

TEST_F(HttpApiTest, DirectoryVersionHeaderGoesInAndComesBack) {
  // No directory yet: nothing is parsed from an absent header, and no header comes back.
  TestResponse before = Call("PUT", "/v1/kv/k", "v");
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(service_.last_write().directory_version, 0u);
  EXPECT_EQ(before.Header("x-kv-directory-version"), "");

  service_.SetDirectory(TwoShardDirectory());
  const std::vector<std::pair<std::string, std::string>> routed_by_3 = {
      {"X-Kv-Directory-Version", "3"}};
  TestResponse put = Call("PUT", "/v1/kv/k", "v", routed_by_3);
  ASSERT_EQ(put.status, 200);
  EXPECT_EQ(service_.last_write().directory_version, 3u);
  EXPECT_EQ(put.Header("x-kv-directory-version"), "5");  // served under the node's directory
  EXPECT_EQ(put.Header("x-kv-shard"), "1");
  TestResponse get = Call("GET", "/v1/kv/k", "", routed_by_3);
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(service_.last_read().directory_version, 3u);
  EXPECT_EQ(get.Header("x-kv-directory-version"), "5");
  TestResponse del =
      Call("DELETE", "/v1/kv/k", "", {{"X-Kv-Directory-Version", "18446744073709551615"}});
  EXPECT_EQ(del.status, 200);
  EXPECT_EQ(service_.last_write().directory_version, 18446744073709551615u);
  TestResponse scan = Call("GET", "/v1/kv?prefix=k", "", routed_by_3);
  EXPECT_EQ(scan.status, 200);
  EXPECT_EQ(service_.last_scan().directory_version, 3u);
  EXPECT_EQ(scan.Header("x-kv-directory-version"), "5");

  // Errors that come from the node carry it too (the client must refresh after those as well).
  TestResponse missing = Call("GET", "/v1/kv/absent");
  ExpectError(missing, 404, "not_found");
  EXPECT_EQ(missing.Header("x-kv-directory-version"), "5");
  service_.FailWith(kv::ErrorCode::kUnavailable, "moved");
  TestResponse unavailable = Call("PUT", "/v1/kv/k", "v", routed_by_3);
  ExpectError(unavailable, 503, "unavailable");
  EXPECT_EQ(unavailable.Header("x-kv-directory-version"), "5");
  EXPECT_EQ(Call("GET", "/v1/kv").Header("x-kv-directory-version"), "5");
}

TEST_F(HttpApiTest, MalformedDirectoryVersionHeaderIs400) {
  service_.SetDirectory(TwoShardDirectory());
  for (const char* bad : {"", "abc", "-1", "+1", "1.5", "7, 8", "0x10", "18446744073709551616"}) {
    SCOPED_TRACE(bad);
    const std::vector<std::pair<std::string, std::string>> header = {
        {"X-Kv-Directory-Version", bad}};
    ExpectError(Call("PUT", "/v1/kv/k", "v", header), 400, "invalid_argument");
    ExpectError(Call("GET", "/v1/kv/k", "", header), 400, "invalid_argument");
    ExpectError(Call("DELETE", "/v1/kv/k", "", header), 400, "invalid_argument");
    ExpectError(Call("GET", "/v1/kv", "", header), 400, "invalid_argument");
  }
  ExpectError(Call("PUT", "/v1/kv/k", "v",
                   {{"X-Kv-Directory-Version", "1"}, {"X-Kv-Directory-Version", "2"}}),
              400, "invalid_argument");
  ExpectError(Call("GET", "/v1/kv/k"), 404, "not_found");  // nothing was written
}

TEST_F(HttpApiTest, DirectoryRouteServesTheDirectoryAsJson) {
  service_.SetDirectory(TwoShardDirectory());
  TestResponse r = Call("GET", "/v1/directory");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(JsonAt(r.body, "/version"), "5");
  EXPECT_EQ(JsonAt(r.body, "/vnodes_per_shard"), "8");
  EXPECT_EQ(JsonAt(r.body, "/replication"), "3");
  EXPECT_EQ(JsonAt(r.body, "/hash"), "xxh3-64");
  EXPECT_EQ(JsonAt(r.body, "/meta/shard"), "0");
  EXPECT_EQ(JsonAt(r.body, "/meta/voters"), "[1,2,3]");
  EXPECT_EQ(JsonAt(r.body, "/nodes/1/id"), "2");
  EXPECT_EQ(JsonAt(r.body, "/nodes/1/http_address"), "127.0.0.1:8002");
  EXPECT_EQ(JsonAt(r.body, "/nodes/1/peer_address"), "127.0.0.1:7002");
  EXPECT_EQ(JsonAt(r.body, "/nodes/1/up"), "false");
  EXPECT_EQ(JsonAt(r.body, "/shards/0/id"), "1");
  EXPECT_EQ(JsonAt(r.body, "/shards/0/replicas"), "[1,2,3]");
  EXPECT_EQ(JsonAt(r.body, "/shards/0/leader"), "2");
  EXPECT_EQ(JsonAt(r.body, "/shards/0/leader_term"), "6");
  EXPECT_EQ(JsonAt(r.body, "/shards/0/keys"), "40");
  EXPECT_EQ(std::stod(JsonAt(r.body, "/shards/0/hash_share")), 0.25);
  EXPECT_EQ(JsonAt(r.body, "/shards/1/leader"), "0");
  EXPECT_EQ(std::stod(JsonAt(r.body, "/shards/1/hash_share")), 0.75);
  EXPECT_EQ(JsonAt(r.body, "/shards/2"), "<missing>");

  TestResponse wrong = Call("PUT", "/v1/directory", "{}");
  ExpectError(wrong, 405, "method_not_allowed");
  EXPECT_EQ(wrong.Header("allow"), "GET");
  ExpectError(Call("GET", "/v1/directory?version=1"), 400, "invalid_argument");
}

TEST_F(HttpApiTest, DirectoryNotKnownYetIs503) {
  TestResponse r = Call("GET", "/v1/directory");
  ExpectError(r, 503, "unavailable");
  EXPECT_EQ(r.Header("retry-after"), "1");
}

TEST_F(HttpApiTest, ClusterStatusFallsBackToTheDirectoryVersion) {
  service_.SetStatusDirectoryVersion(0);
  EXPECT_EQ(JsonAt(Call("GET", "/v1/cluster").body, "/directory_version"), "0");
  service_.SetDirectory(TwoShardDirectory());
  EXPECT_EQ(JsonAt(Call("GET", "/v1/cluster").body, "/directory_version"), "5");
  service_.SetStatusDirectoryVersion(9);  // the status' own field wins when set
  EXPECT_EQ(JsonAt(Call("GET", "/v1/cluster").body, "/directory_version"), "9");
}

}  // namespace
}  // namespace kvd::rpc
