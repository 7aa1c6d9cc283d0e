// The peer frame codec (rpc/peer_frame.h), byte by byte,
// without sockets.
#include "rpc/peer_frame.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace kvd::rpc {
namespace {

kvpb::PeerBatch Batch(uint64_t to, uint64_t shard, size_t value_bytes = 0) {
  kvpb::PeerBatch batch;
  batch.set_from_node(1);
  batch.set_to_node(to);
  batch.add_messages()->set_shard(shard);
  if (value_bytes > 0) {
    std::string value(value_bytes, '\0');
    for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 131 + shard);
    batch.mutable_snapshot_chunk()->add_pairs()->mutable_record()->set_value(std::move(value));
  }
  return batch;
}

std::string Encode(const kvpb::PeerBatch& batch) {
  std::string frame;
  EXPECT_TRUE(EncodeFrame(batch, size_t{1} << 30, &frame));
  return frame;
}

// Feeds 'bytes' in reads of at most 'chunk' bytes and decodes after each read, as a session does.
// Stops at the first result other than kFrame / kNeedMore and returns it.
FrameReader::Result Feed(FrameReader& reader, const std::string& bytes, size_t chunk,
                         std::vector<kvpb::PeerBatch>* out) {
  size_t offset = 0;
  while (offset < bytes.size()) {
    const std::span<char> space = reader.WritableSpace();
    const size_t n = std::min({space.size(), chunk, bytes.size() - offset});
    std::memcpy(space.data(), bytes.data() + offset, n);
    reader.Commit(n);
    offset += n;
    for (;;) {
      kvpb::PeerBatch batch;
      size_t frame_bytes = 0;
      const FrameReader::Result result = reader.Next(&batch, &frame_bytes);
      if (result == FrameReader::Result::kNeedMore) break;
      if (result != FrameReader::Result::kFrame) return result;
      EXPECT_EQ(frame_bytes, Encode(batch).size());
      out->push_back(std::move(batch));
    }
  }
  return FrameReader::Result::kNeedMore;
}

TEST(PeerFrame, HeaderIsBigEndianBodyLength) {
  const kvpb::PeerBatch batch = Batch(2, 300);
  const std::string frame = Encode(batch);
  const std::string body = batch.SerializeAsString();
  ASSERT_EQ(frame.size(), 4 + body.size());
  EXPECT_EQ(frame.substr(0, 4), std::string({0, 0, 0, static_cast<char>(body.size())}));
  EXPECT_EQ(frame.substr(4), body);
}

TEST(PeerFrame, DecodesFramesSplitAtEveryByteAndCoalesced) {
  std::string stream;
  for (uint64_t i = 0; i < 20; ++i) stream += Encode(Batch(2, i, i * 7));
  stream += Encode(kvpb::PeerBatch());  // an empty body is a valid frame
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{64}, stream.size()}) {
    FrameReader reader(1 << 20);
    std::vector<kvpb::PeerBatch> got;
    EXPECT_EQ(Feed(reader, stream, chunk, &got), FrameReader::Result::kNeedMore);
    ASSERT_EQ(got.size(), 21u) << "chunk " << chunk;
    for (uint64_t i = 0; i < 20; ++i) EXPECT_EQ(got[i].messages(0).shard(), i);
    EXPECT_EQ(reader.buffered(), 0u);
  }
}

TEST(PeerFrame, LargeFrameArrivesIntactAndBufferShrinksAfterwards) {
  const kvpb::PeerBatch big = Batch(2, 1, 5 << 20);
  FrameReader reader(size_t{8} << 20);
  std::vector<kvpb::PeerBatch> got;
  EXPECT_EQ(Feed(reader, Encode(big) + Encode(Batch(2, 2)), 64 * 1024, &got),
            FrameReader::Result::kNeedMore);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].SerializeAsString(), big.SerializeAsString());
  reader.WritableSpace();
  EXPECT_LE(reader.capacity(), size_t{1} << 20);
}

TEST(PeerFrame, OversizedLengthIsRejectedBeforeTheBodyArrives) {
  std::vector<kvpb::PeerBatch> got;
  FrameReader huge(1000);
  EXPECT_EQ(Feed(huge, std::string("\xff\xff\xff\xff", 4), 1, &got),
            FrameReader::Result::kTooLarge);
  EXPECT_LE(huge.capacity(), size_t{128} << 10);
  FrameReader one_over(1000);
  EXPECT_EQ(Feed(one_over, std::string({0, 0, 0x03, static_cast<char>(0xe9)}), 4, &got),
            FrameReader::Result::kTooLarge);  // 1001
  EXPECT_TRUE(got.empty());
}

TEST(PeerFrame, BodyThatIsNotAPeerBatchIsMalformed) {
  FrameReader reader(1000);
  std::vector<kvpb::PeerBatch> got;
  // A varint tag whose continuation bits never end.
  EXPECT_EQ(Feed(reader, std::string({0, 0, 0, 3}) + "\xff\xff\xff", 1, &got),
            FrameReader::Result::kMalformed);
}

TEST(PeerFrame, EncodeRejectsBodiesAboveTheLimit) {
  std::string frame = "untouched";
  EXPECT_FALSE(EncodeFrame(Batch(2, 1, 2000), 1000, &frame));
  EXPECT_EQ(frame, "untouched");
}

}  // namespace
}  // namespace kvd::rpc
