// Bounds of the peer transport's inbound side against abusive or broken connections
// (rpc/peer_transport.h, rpc/peer_listener.h): a length prefix alone allocates no more than a read
// chunk, the receive buffers of all connections share one budget, connections that never complete
// a frame are closed after the stall timeout, and one source address gets a bounded number of
// connections. Real loopback sockets, OS-chosen ports, waits on conditions with deadlines.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "rpc/peer_frame.h"
#include "rpc/peer_test_util.h"
#include "rpc/peer_transport.h"

namespace kvd::rpc {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace kvd::rpc::testing;

tcp::endpoint Loopback(uint16_t port) {
  return tcp::endpoint(asio::ip::make_address("127.0.0.1"), port);
}

std::unique_ptr<PeerTransport> Started(uint64_t self, std::map<uint64_t, std::string> peers,
                                       Inbox& inbox, PeerTransportOptions options) {
  auto transport = std::make_unique<PeerTransport>(self, "127.0.0.1:0", std::move(peers),
                                                   inbox.Handler(), std::move(options));
  const PeerStatus status = transport->Start();
  EXPECT_TRUE(status.ok()) << status.message();
  return transport;
}

// Resident set size of this process, from /proc/self/statm.
size_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// A frame written on a connection opened after everything else was written: once it is delivered,
// the single transport thread has handled the reads that became ready before it.
void Barrier(uint16_t port, Inbox& inbox, uint64_t seq) {
  std::string frame;
  ASSERT_TRUE(EncodeFrame(Numbered(2, seq), 1000, &frame));
  RawSocket probe;
  ASSERT_TRUE(probe.Connect(Loopback(port)));
  ASSERT_TRUE(probe.Write(frame));
  ASSERT_TRUE(inbox.WaitForSeq(seq));
}

TEST(PeerFrameBounds, LengthPrefixAloneAllocatesOneReadChunk) {
  FrameReader reader(size_t{256} << 20);
  const std::span<char> space = reader.WritableSpace();
  ASSERT_GE(space.size(), 4u);
  const char prefix[] = {0x0F, static_cast<char>(0xFF), static_cast<char>(0xFF),
                         static_cast<char>(0xFF)};
  std::copy(prefix, prefix + 4, space.data());
  reader.Commit(4);
  kvpb::PeerBatch batch;
  size_t frame_bytes = 0;
  ASSERT_EQ(reader.Next(&batch, &frame_bytes), FrameReader::Result::kNeedMore);
  EXPECT_LE(reader.NextCapacity(), size_t{128} << 10);
  (void)reader.WritableSpace();
  EXPECT_LE(reader.capacity(), size_t{128} << 10);
}

TEST(PeerFrameBounds, BufferGrowsAtMostTwiceTheBytesReceived) {
  FrameReader reader(size_t{64} << 20);
  std::string frame;
  kvpb::PeerBatch big;
  big.set_to_node(2);
  big.mutable_snapshot_chunk()->add_pairs()->mutable_record()->set_value(
      std::string(size_t{8} << 20, 'v'));
  ASSERT_TRUE(EncodeFrame(big, size_t{64} << 20, &frame));
  size_t offset = 0;
  while (offset < frame.size()) {
    const std::span<char> space = reader.WritableSpace();
    EXPECT_LE(reader.capacity(), 2 * reader.buffered() + (size_t{64} << 10) + 4);
    const size_t n = std::min(space.size(), frame.size() - offset);
    std::copy(frame.data() + offset, frame.data() + offset + n, space.data());
    reader.Commit(n);
    offset += n;
  }
  kvpb::PeerBatch out;
  size_t frame_bytes = 0;
  ASSERT_EQ(reader.Next(&out, &frame_bytes), FrameReader::Result::kFrame);
  EXPECT_EQ(frame_bytes, frame.size());
}

// The attack that grew a node from 8 MB to 958 MB: connections sending only 0F FF FF FF.
TEST(PeerInboundBounds, LengthPrefixesAloneDoNotGrowTheReceiver) {
  Inbox inbox;
  PeerTransportOptions options = FastOptions();
  options.max_frame_bytes = size_t{256} << 20;  // the old default: the cap alone is no defence
  options.max_inbound_buffer_bytes = size_t{512} << 20;
  options.max_inbound_per_source = 100;
  auto node = Started(2, {}, inbox, options);
  Barrier(node->listen_port(), inbox, 1);
  const size_t before = ResidentBytes();

  std::vector<std::unique_ptr<RawSocket>> attackers;
  for (int i = 0; i < 8; ++i) {
    attackers.push_back(std::make_unique<RawSocket>());
    ASSERT_TRUE(attackers.back()->Connect(Loopback(node->listen_port())));
    ASSERT_TRUE(attackers.back()->Write(std::string("\x0F\xFF\xFF\xFF", 4)));
  }
  Barrier(node->listen_port(), inbox, 2);
  const size_t after = ResidentBytes();
  EXPECT_LT(after, before + (size_t{32} << 20))
      << "RSS grew from " << (before >> 20) << " MiB to " << (after >> 20) << " MiB";
}

TEST(PeerInboundBounds, ConnectionOverTheBufferBudgetIsClosedOthersCarryOn) {
  Inbox inbox;
  PeerTransportOptions options = FastOptions();
  options.max_frame_bytes = size_t{1} << 20;
  options.max_inbound_buffer_bytes = size_t{2} << 20;
  auto node = Started(2, {}, inbox, options);

  // A legitimate large frame, of which most (not all) is sent: its buffer nears 1 MiB.
  kvpb::PeerBatch large = Numbered(2, 100);
  std::string* value =
      large.mutable_snapshot_chunk()->add_pairs()->mutable_record()->mutable_value();
  value->assign((size_t{1} << 20) - 64, 'a');
  for (int i = 0; i < 3; ++i)
    value->resize(value->size() + (size_t{1} << 20) - large.ByteSizeLong());
  ASSERT_EQ(large.ByteSizeLong(), options.max_frame_bytes);  // two of these exceed the budget
  std::string frame;
  ASSERT_TRUE(EncodeFrame(large, options.max_frame_bytes, &frame));
  const size_t first_part = frame.size() - 1000;
  RawSocket sender;
  ASSERT_TRUE(sender.Connect(Loopback(node->listen_port())));
  ASSERT_TRUE(sender.Write(std::string_view(frame).substr(0, first_part)));
  Barrier(node->listen_port(), inbox, 1);

  // A second connection declaring a maximal frame and sending most of it: over the budget.
  RawSocket hog;
  ASSERT_TRUE(hog.Connect(Loopback(node->listen_port())));
  (void)hog.Write(std::string_view(frame).substr(0, first_part));  // may be cut by the close
  EXPECT_TRUE(hog.WaitClosed());
  EXPECT_GE(node->Stats().inbound_rejected, 1u);

  // The first connection was not disturbed: its frame completes and is delivered.
  ASSERT_TRUE(sender.Write(std::string_view(frame).substr(first_part)));
  ASSERT_TRUE(inbox.WaitForSeq(100));
}

// 256 idle sockets used to lock real peers out for good; now they are closed after the stall
// timeout and the real peer gets in.
TEST(PeerInboundBounds, IdleConnectionsAreClosedAndDoNotLockOutRealPeers) {
  Inbox inbox_a, inbox_b;
  PeerTransportOptions options = FastOptions();
  options.max_inbound_connections = 4;
  options.inbound_stall_timeout = std::chrono::milliseconds(300);
  auto b = Started(2, {}, inbox_b, options);
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<RawSocket>());
    ASSERT_TRUE(idle.back()->Connect(Loopback(b->listen_port())));
  }
  auto a = Started(1, {{2, b->listen_address()}}, inbox_a, FastOptions());
  EXPECT_TRUE(SendUntilDelivered(*a, 2, inbox_b, 7));
  for (auto& socket : idle) EXPECT_TRUE(socket->WaitClosed());
}

TEST(PeerInboundBounds, HalfAFrameThenSilenceIsClosedAfterTheStallTimeout) {
  Inbox inbox;
  PeerTransportOptions options = FastOptions();
  options.inbound_stall_timeout = std::chrono::milliseconds(300);
  auto node = Started(2, {}, inbox, options);
  std::string frame;
  ASSERT_TRUE(EncodeFrame(Numbered(2, 1), 1000, &frame));
  RawSocket slow;
  ASSERT_TRUE(slow.Connect(Loopback(node->listen_port())));
  ASSERT_TRUE(slow.Write(frame));  // a first frame: a real peer
  ASSERT_TRUE(inbox.WaitForSeq(1));
  ASSERT_TRUE(slow.Write(std::string_view(frame).substr(0, 5)));  // then a frame that stalls
  EXPECT_TRUE(slow.WaitClosed());
}

TEST(PeerInboundBounds, OneSourceAddressGetsAtMostItsShare) {
  Inbox inbox;
  PeerTransportOptions options = FastOptions();
  options.max_inbound_per_source = 2;
  auto node = Started(2, {}, inbox, options);
  RawSocket first, second, third;
  ASSERT_TRUE(first.Connect(Loopback(node->listen_port())));
  ASSERT_TRUE(second.Connect(Loopback(node->listen_port())));
  ASSERT_TRUE(third.Connect(Loopback(node->listen_port())));
  EXPECT_TRUE(third.WaitClosed());
  EXPECT_EQ(node->Stats().inbound_rejected, 1u);
  // The first two are real connections: a frame on one of them is delivered.
  std::string frame;
  ASSERT_TRUE(EncodeFrame(Numbered(2, 9), 1000, &frame));
  ASSERT_TRUE(first.Write(frame));
  EXPECT_TRUE(inbox.WaitForSeq(9));
}

// With a frame cap near the snapshot chunk size, a round's batch of several large messages to one
// node is split into frames of whole messages rather than refused.
TEST(PeerInboundBounds, BatchOverTheFrameCapIsSplitIntoWholeMessages) {
  Inbox inbox_a, inbox_b;
  PeerTransportOptions options = FastOptions();
  options.max_frame_bytes = size_t{1} << 20;
  auto b = Started(2, {}, inbox_b, options);
  auto a = Started(1, {{2, b->listen_address()}}, inbox_a, options);
  kvpb::PeerBatch batch;
  batch.set_to_node(2);
  for (int i = 0; i < 5; ++i) {
    kvpb::ShardMessage* m = batch.add_messages();
    m->set_shard(10 + i);
    m->mutable_message()->add_entries()->set_data(std::string(600'000, 'e'));
  }
  ASSERT_TRUE(a->Send(batch));
  ASSERT_TRUE(inbox_b.WaitUntil([](const std::vector<kvpb::PeerBatch>& got) {
    size_t messages = 0;
    for (const auto& g : got) messages += g.messages_size();
    return messages == 5;
  }));
  std::vector<kvpb::PeerBatch> got = inbox_b.Snapshot();
  EXPECT_GE(got.size(), 5u);  // 600 KB each: one per frame under a 1 MiB cap
  uint64_t expected_shard = 10;
  for (const auto& g : got) {
    for (const auto& m : g.messages()) EXPECT_EQ(m.shard(), expected_shard++);  // in order
  }
  // One message above the cap on its own is still refused.
  kvpb::PeerBatch huge;
  huge.set_to_node(2);
  huge.add_messages()->mutable_message()->add_entries()->set_data(std::string(2 << 20, 'h'));
  EXPECT_FALSE(a->Send(huge));
}

}  // namespace
}  // namespace kvd::rpc
