// HttpClient's lock calls against the real HttpServer over the in-memory service: both sides of the
// wire agree (names, bodies, the holder of a 409, the X-Fence header).
#include <gtest/gtest.h>

#include <memory>

#include "rpc/http_client.h"
#include "rpc/http_server.h"
#include "rpc/http_test_util.h"

namespace kvd::rpc {
namespace {

TEST(HttpClientLocksServer, AcquireHeldKeepaliveGetListReleaseFence) {
  testing::FakeKvService service;
  HttpServer server(service, HttpOptions{});
  ASSERT_TRUE(server.Start());
  ClientOptions options;
  options.endpoints = {"127.0.0.1:" + std::to_string(server.port())};
  options.client_id = "c1";
  HttpClient client(options);

  const std::string name = "jobs/{t}:x";
  LockResult acquired = client.LockAcquire(name, "w1", 5000, 10);
  ASSERT_TRUE(acquired.ok()) << acquired.status << " " << acquired.error_message;
  EXPECT_EQ(service.last_lock().name, name);
  EXPECT_EQ(service.last_lock().owner, "w1");
  EXPECT_EQ(service.last_lock().wait_ms, 10);
  EXPECT_EQ(service.last_lock().client_id, "c1");
  EXPECT_EQ(acquired.ttl_ms, 5000);
  EXPECT_EQ(acquired.shard, 1u);

  LockResult held = client.LockAcquire(name, "w2", 5000);
  EXPECT_EQ(held.error_code, "lock_held");
  ASSERT_TRUE(held.holder.has_value());
  EXPECT_EQ(held.holder->owner, "w1");
  EXPECT_EQ(held.holder->token, acquired.token);

  EXPECT_TRUE(client.LockKeepalive(name, acquired.token).ok());
  LockInfoResult info = client.LockGet(name);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info.lock.name, name);
  EXPECT_EQ(info.lock.holder->owner, "w1");
  LockListResult list = client.LockList();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list.locks.size(), 1u);
  EXPECT_EQ(list.locks[0].name, name);

  Result fenced_put =
      client.Put("k", "v", std::nullopt, std::nullopt, LockFence{name, acquired.token});
  ASSERT_TRUE(fenced_put.ok());
  ASSERT_TRUE(service.last_write().fence.has_value());
  EXPECT_EQ(service.last_write().fence->lock, name);
  EXPECT_EQ(service.last_write().fence->token, acquired.token);

  LockResult released = client.LockRelease(name, acquired.token);
  ASSERT_TRUE(released.ok());
  EXPECT_TRUE(released.released);
  EXPECT_EQ(client.LockKeepalive(name, acquired.token).error_code, "fenced");
  EXPECT_TRUE(client.LockGet("never").not_found());
}

}  // namespace
}  // namespace kvd::rpc
