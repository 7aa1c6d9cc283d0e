// PeerTransport over real loopback sockets (rpc/peer_transport.h). Ports are chosen by the OS;
// waits are on conditions with generous deadlines (peer_test_util.h), never on sleeps.
#include "rpc/peer_transport.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "rpc/peer_frame.h"
#include "rpc/peer_test_util.h"

namespace kvd::rpc {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace kvd::rpc::testing;

#define ASSERT_OK(expr)                             \
  do {                                              \
    const PeerStatus status_ = (expr);              \
    ASSERT_TRUE(status_.ok()) << status_.message(); \
  } while (0)

tcp::endpoint Loopback(uint16_t port, const char* ip = "127.0.0.1") {
  return tcp::endpoint(asio::ip::make_address(ip), port);
}

// An address where nothing listens: a port the OS just handed out, released again at once.
std::string DeadAddress() {
  RawSocket reserve;
  return "127.0.0.1:" + std::to_string(reserve.Listen(Loopback(0)).port());
}

std::unique_ptr<PeerTransport> Started(uint64_t self, const std::string& listen,
                                       std::map<uint64_t, std::string> peers, Inbox& inbox,
                                       PeerTransportOptions options = FastOptions()) {
  auto transport = std::make_unique<PeerTransport>(self, listen, std::move(peers), inbox.Handler(),
                                                   std::move(options));
  const PeerStatus status = transport->Start();
  EXPECT_TRUE(status.ok()) << status.message();
  return transport;
}

TEST(PeerTransport, ExchangesBatchesBothWaysInOrder) {
  Inbox inbox_a, inbox_b;
  auto a = Started(1, "127.0.0.1:0", {}, inbox_a);
  auto b = Started(2, "127.0.0.1:0", {{1, a->listen_address()}}, inbox_b);
  ASSERT_OK(a->SetPeerAddress(2, b->listen_address()));
  constexpr uint64_t kFrames = 500;  // below the queue bound: nothing may drop
  for (uint64_t i = 0; i < kFrames; ++i) {
    ASSERT_TRUE(a->Send(Numbered(2, i)));
    ASSERT_TRUE(b->Send(Numbered(1, i)));
  }
  ASSERT_TRUE(inbox_b.WaitForCount(kFrames));
  ASSERT_TRUE(inbox_a.WaitForCount(kFrames));
  const auto at_b = inbox_b.Snapshot();
  const auto at_a = inbox_a.Snapshot();
  for (uint64_t i = 0; i < kFrames; ++i) {
    ASSERT_EQ(SeqOf(at_b[i]), i);
    ASSERT_EQ(SeqOf(at_a[i]), i);
    EXPECT_EQ(at_b[i].from_node(), 1u);  // stamped by Send
    EXPECT_EQ(at_a[i].from_node(), 2u);
  }
  const PeerTransportStats sent = a->Stats();
  const PeerTransportStats received = b->Stats();
  EXPECT_EQ(sent.frames_sent, kFrames);
  EXPECT_EQ(sent.frames_dropped + sent.frames_lost, 0u);
  EXPECT_EQ(received.frames_received, kFrames);
  EXPECT_EQ(received.bytes_received, sent.bytes_sent);
  EXPECT_TRUE(a->Reachable(2));
  EXPECT_TRUE(b->Reachable(1));
}

TEST(PeerTransport, FramesQueuedBeforeStartGoOutInGatherWrites) {
  Inbox inbox_a, inbox_b;
  auto b = Started(2, "127.0.0.1:0", {}, inbox_b);
  PeerTransport a(1, "127.0.0.1:0", {{2, b->listen_address()}}, inbox_a.Handler(), FastOptions());
  for (uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(a.Send(Numbered(2, i)));
  ASSERT_OK(a.Start());
  ASSERT_TRUE(inbox_b.WaitForCount(100));
  // All 100 were queued when the connection came up: writes of 64 (the per-write cap) and 36.
  EXPECT_EQ(a.Stats().frames_sent, 100u);
  EXPECT_EQ(a.Stats().write_batches, 2u);
}

TEST(PeerTransport, LargeFrameArrivesIntact) {
  Inbox inbox_a, inbox_b;
  auto b = Started(2, "127.0.0.1:0", {}, inbox_b);
  auto a = Started(1, "127.0.0.1:0", {{2, b->listen_address()}}, inbox_a);
  kvpb::PeerBatch big = Numbered(2, 0);
  std::string value(6 << 20, '\0');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>((i * 2654435761u) >> 13);
  big.mutable_snapshot_chunk()->add_pairs()->mutable_record()->set_value(value);
  ASSERT_TRUE(a->Send(big));
  ASSERT_TRUE(a->Send(Numbered(2, 1)));  // the stream goes on after it
  ASSERT_TRUE(inbox_b.WaitForCount(2));
  const auto got = inbox_b.Snapshot();
  EXPECT_EQ(got[0].snapshot_chunk().pairs(0).record().value(), value);
  EXPECT_EQ(SeqOf(got[1]), 1u);
}

TEST(PeerTransport, PeerNotStartedYetThenFramesFlowOnceItIs) {
  const std::string address = DeadAddress();
  Inbox inbox_a, inbox_b;
  ReachabilityEvents events;
  PeerTransportOptions options = FastOptions();
  events.Install(options);
  auto a = Started(1, "127.0.0.1:0", {{2, address}}, inbox_a, options);
  EXPECT_TRUE(a->Reachable(2));  // not known to be down before the first attempt
  EXPECT_TRUE(a->Send(Numbered(2, 0)));
  ASSERT_TRUE(events.WaitFor(2, false));
  EXPECT_FALSE(a->Reachable(2));
  EXPECT_GE(a->Stats().connect_failures, 1u);

  auto b = Started(2, address, {}, inbox_b);
  ASSERT_TRUE(SendUntilDelivered(*a, 2, inbox_b, 1));
  EXPECT_TRUE(a->Reachable(2));
  EXPECT_TRUE(events.WaitFor(2, true));
}

TEST(PeerTransport, PeerRestartedOnTheSamePortGetsTrafficAgain) {
  Inbox inbox_a, inbox_b, inbox_b2;
  ReachabilityEvents events;
  PeerTransportOptions options = FastOptions();
  events.Install(options);
  auto a = Started(1, "127.0.0.1:0", {}, inbox_a, options);
  auto b = Started(2, "127.0.0.1:0", {{1, a->listen_address()}}, inbox_b);
  const std::string b_address = b->listen_address();
  ASSERT_OK(a->SetPeerAddress(2, b_address));
  ASSERT_TRUE(a->Send(Numbered(2, 0)));
  ASSERT_TRUE(inbox_b.WaitForSeq(0));

  b.reset();  // stops: A's connection sees the close
  ASSERT_TRUE(events.WaitFor(2, false));
  EXPECT_FALSE(a->Reachable(2));

  auto b2 = Started(2, b_address, {{1, a->listen_address()}}, inbox_b2);
  ASSERT_TRUE(SendUntilDelivered(*a, 2, inbox_b2, 1));
  ASSERT_TRUE(SendUntilDelivered(*b2, 1, inbox_a, 2));
  EXPECT_TRUE(a->Reachable(2));
}

TEST(PeerTransport, BoundedQueueDropsWhilePeerIsUnreachable) {
  Inbox inbox;
  ReachabilityEvents events;
  PeerTransportOptions options;
  options.max_queued_frames = 4;
  options.max_queued_bytes = 10000;
  // No retry during the test: the queue is only filled, never drained.
  options.reconnect_backoff_min = options.reconnect_backoff_max = std::chrono::minutes(10);
  events.Install(options);
  const std::string dead = DeadAddress();
  auto a = Started(1, "127.0.0.1:0", {{2, dead}, {3, dead}}, inbox, options);

  ASSERT_TRUE(a->Send(Numbered(2, 0)));
  ASSERT_TRUE(events.WaitFor(2, false));
  int accepted = 0;
  for (uint64_t i = 1; i <= 10; ++i) accepted += a->Send(Numbered(2, i)) ? 1 : 0;
  EXPECT_EQ(accepted, 4);  // max_queued_frames

  kvpb::PeerBatch big = Numbered(3, 0);
  big.mutable_snapshot_chunk()->add_pairs()->mutable_record()->set_value(std::string(20000, 'x'));
  kvpb::PeerBatch small = Numbered(3, 1);
  small.mutable_snapshot_chunk()->add_pairs()->mutable_record()->set_value(std::string(4000, 'y'));
  EXPECT_TRUE(a->Send(big));  // an empty queue takes one frame above max_queued_bytes
  ASSERT_TRUE(events.WaitFor(3, false));
  EXPECT_TRUE(a->Send(small));
  EXPECT_TRUE(a->Send(small));
  EXPECT_FALSE(a->Send(small));  // 12 KB > max_queued_bytes
  EXPECT_FALSE(a->Send(big));

  const PeerTransportStats stats = a->Stats();
  EXPECT_EQ(stats.frames_dropped, 6u + 2u);
  EXPECT_EQ(stats.frames_lost, 2u);  // the first frame to each, discarded with its connection
  EXPECT_EQ(stats.connect_failures, 2u);
  EXPECT_EQ(stats.frames_sent, 0u);
  EXPECT_FALSE(a->Reachable(2));
  EXPECT_FALSE(a->Reachable(3));
}

TEST(PeerTransport, SendRejectsUnknownPeersOversizedFramesAndAfterStop) {
  Inbox inbox;
  PeerTransportOptions options = FastOptions();
  options.max_frame_bytes = 1000;
  auto a = Started(1, "127.0.0.1:0", {{2, DeadAddress()}}, inbox, options);
  EXPECT_FALSE(a->Send(Numbered(9, 0)));  // unknown
  EXPECT_FALSE(a->Send(Numbered(1, 0)));  // itself
  EXPECT_FALSE(a->Reachable(9));
  kvpb::PeerBatch big = Numbered(2, 0);
  big.mutable_snapshot_chunk()->add_pairs()->mutable_record()->set_value(std::string(2000, 'x'));
  EXPECT_FALSE(a->Send(big));
  a->Stop();
  a->Stop();  // idempotent
  EXPECT_FALSE(a->Send(Numbered(2, 1)));
  EXPECT_EQ(a->Stats().frames_dropped, 4u);
  EXPECT_FALSE(a->Start().ok());
}

TEST(PeerTransport, StartReportsBadConfigurationAsErrors) {
  Inbox inbox;
  EXPECT_FALSE(PeerTransport(1, "nonsense", {}, inbox.Handler()).Start().ok());
  EXPECT_FALSE(PeerTransport(1, "127.0.0.1:0", {{2, "no-port"}}, inbox.Handler()).Start().ok());
  PeerTransportOptions backwards;
  backwards.reconnect_backoff_min = std::chrono::seconds(2);
  backwards.reconnect_backoff_max = std::chrono::seconds(1);
  EXPECT_FALSE(PeerTransport(1, "127.0.0.1:0", {}, inbox.Handler(), backwards).Start().ok());
  auto taken = Started(1, "127.0.0.1:0", {}, inbox);
  PeerTransport second(2, taken->listen_address(), {}, inbox.Handler());
  EXPECT_FALSE(second.Start().ok());  // address in use
  EXPECT_FALSE(taken->Start().ok());  // twice
  EXPECT_FALSE(taken->SetPeerAddress(3, "bad").ok());
}

TEST(PeerTransport, MalformedInboundFramesCloseOnlyThatConnection) {
  Inbox inbox_a, inbox_b;
  auto b = Started(2, "127.0.0.1:0", {}, inbox_b);
  auto a = Started(1, "127.0.0.1:0", {{2, b->listen_address()}}, inbox_a);
  ASSERT_TRUE(a->Send(Numbered(2, 0)));
  ASSERT_TRUE(inbox_b.WaitForSeq(0));

  std::string misaddressed;
  ASSERT_TRUE(EncodeFrame(Numbered(7, 0), 1000, &misaddressed));
  const std::string bad_streams[] = {
      std::string("\xff\xff\xff\xff", 4),          // length far above the max
      std::string({0, 0, 0, 3}) + "\xff\xff\xff",  // body is not a PeerBatch
      misaddressed,                                // to_node is not node 2
  };
  for (const std::string& bytes : bad_streams) {
    RawSocket raw;
    ASSERT_TRUE(raw.Connect(Loopback(b->listen_port())));
    ASSERT_TRUE(raw.Write(bytes));
    EXPECT_TRUE(raw.WaitClosed());
  }
  EXPECT_EQ(b->Stats().inbound_rejected, 3u);

  // A well-formed frame written by hand is delivered, and A's connection was never disturbed.
  std::string frame;
  ASSERT_TRUE(EncodeFrame(Numbered(2, 100), 1000, &frame));
  RawSocket raw;
  ASSERT_TRUE(raw.Connect(Loopback(b->listen_port())));
  ASSERT_TRUE(raw.Write(frame));
  ASSERT_TRUE(inbox_b.WaitForSeq(100));
  ASSERT_TRUE(a->Send(Numbered(2, 1)));
  ASSERT_TRUE(inbox_b.WaitForSeq(1));
  EXPECT_EQ(a->Stats().connect_failures + a->Stats().frames_lost, 0u);
}

TEST(PeerTransport, StopIsPromptWithConnectionsOpen) {
  Inbox inbox_a, inbox_b;
  auto a = Started(1, "127.0.0.1:0", {}, inbox_a);
  auto b = Started(2, "127.0.0.1:0", {{1, a->listen_address()}}, inbox_b);
  ASSERT_OK(a->SetPeerAddress(2, b->listen_address()));
  ASSERT_TRUE(a->Send(Numbered(2, 0)));
  ASSERT_TRUE(b->Send(Numbered(1, 0)));
  ASSERT_TRUE(inbox_a.WaitForSeq(0));
  ASSERT_TRUE(inbox_b.WaitForSeq(0));
  RawSocket half_frame;  // an inbound connection stuck mid-frame
  ASSERT_TRUE(half_frame.Connect(Loopback(b->listen_port())));
  ASSERT_TRUE(half_frame.Write(std::string({0, 0, 0, 100}) + "partial"));

  const auto start = std::chrono::steady_clock::now();
  b->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_TRUE(half_frame.WaitClosed());  // Stop closed it rather than leaving it to the kernel
}

TEST(PeerTransport, OutboundConnectionsAreBoundToTheListenAddress) {
  RawSocket peer;  // plays node 2 and reads the raw bytes
  const tcp::endpoint peer_endpoint = peer.Listen(Loopback(0));
  ASSERT_NE(peer_endpoint.port(), 0);
  Inbox inbox;
  PeerTransport a(1, "127.0.0.2:0", {{2, "127.0.0.1:" + std::to_string(peer_endpoint.port())}},
                  inbox.Handler(), FastOptions());
  const PeerStatus started = a.Start();
  if (!started.ok()) GTEST_SKIP() << "no loopback alias 127.0.0.2: " << started.message();
  ASSERT_TRUE(a.Send(Numbered(2, 42)));
  ASSERT_TRUE(peer.Accept());
  boost::system::error_code ec;
  EXPECT_EQ(peer.socket().remote_endpoint(ec).address(), asio::ip::make_address("127.0.0.2"));

  std::string header, body;
  ASSERT_TRUE(peer.ReadExactly(4, &header));
  const auto* h = reinterpret_cast<const unsigned char*>(header.data());
  const size_t length = (size_t{h[0]} << 24) | (h[1] << 16) | (h[2] << 8) | h[3];
  ASSERT_TRUE(peer.ReadExactly(length, &body));
  kvpb::PeerBatch batch;
  ASSERT_TRUE(batch.ParseFromString(body));
  EXPECT_EQ(batch.from_node(), 1u);
  EXPECT_EQ(batch.to_node(), 2u);
  EXPECT_EQ(SeqOf(batch), 42u);
}

}  // namespace
}  // namespace kvd::rpc
