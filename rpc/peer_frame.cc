#include "rpc/peer_frame.h"

#include <algorithm>
#include <climits>
#include <cstring>

namespace kvd::rpc {

namespace {

// Reads land in at least this much free space; a buffer grown past kShrinkAbove for one large
// frame returns to kReadChunk once that frame is decoded.
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kShrinkAbove = 1024 * 1024;

uint32_t DecodeLength(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

}  // namespace

bool EncodeFrame(const kvpb::PeerBatch& batch, size_t max_frame_bytes, std::string* frame) {
  const size_t body = batch.ByteSizeLong();
  if (body > max_frame_bytes || body > static_cast<size_t>(INT_MAX)) return false;
  std::string out(kFrameHeaderBytes + body, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  p[0] = static_cast<unsigned char>(body >> 24);
  p[1] = static_cast<unsigned char>(body >> 16);
  p[2] = static_cast<unsigned char>(body >> 8);
  p[3] = static_cast<unsigned char>(body);
  // ByteSizeLong() above cached the sizes this call relies on.
  batch.SerializeWithCachedSizesToArray(p + kFrameHeaderBytes);
  *frame = std::move(out);
  return true;
}

FrameReader::FrameReader(size_t max_frame_bytes)
    : max_frame_bytes_(std::min(max_frame_bytes, static_cast<size_t>(INT_MAX))) {}

size_t FrameReader::WantedSize() const {
  const size_t held = end_ - begin_;
  size_t needed = kFrameHeaderBytes;
  if (held >= kFrameHeaderBytes) {
    // An oversized prefix is reported by Next(); never grow for one.
    needed += std::min<size_t>(DecodeLength(buffer_.data() + begin_), max_frame_bytes_);
  }
  // Room for a useful read; toward the whole frame in progress only as fast as its bytes arrive
  // (at most doubling), so a length prefix alone never makes the reader allocate the length.
  size_t want = held + kReadChunk;
  if (needed > want) want = std::min(needed, std::max(want, 2 * held));
  return want;
}

size_t FrameReader::NextCapacity() const {
  const size_t want = WantedSize();
  if (buffer_.size() < want) return want;
  const bool can_shrink =
      buffer_.size() > kShrinkAbove && want <= kShrinkAbove &&
      (begin_ == 0 || buffer_.size() - begin_ < want || buffer_.size() - end_ < kReadChunk);
  return can_shrink ? want : buffer_.size();
}

std::span<char> FrameReader::WritableSpace() {
  const size_t held = end_ - begin_;
  const size_t want = WantedSize();
  if (buffer_.size() - begin_ < want || (begin_ > 0 && buffer_.size() - end_ < kReadChunk)) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, held);
    begin_ = 0;
    end_ = held;
  }
  if (buffer_.size() < want) {
    buffer_.resize(want);
  } else if (buffer_.size() > kShrinkAbove && want <= kShrinkAbove && begin_ == 0) {
    buffer_.resize(want);
    buffer_.shrink_to_fit();
  }
  return {buffer_.data() + end_, buffer_.size() - end_};
}

void FrameReader::Commit(size_t n) { end_ = std::min(end_ + n, buffer_.size()); }

FrameReader::Result FrameReader::Next(kvpb::PeerBatch* batch, size_t* frame_bytes) {
  const size_t held = end_ - begin_;
  if (held < kFrameHeaderBytes) return Result::kNeedMore;
  const uint32_t length = DecodeLength(buffer_.data() + begin_);
  if (length > max_frame_bytes_) return Result::kTooLarge;
  if (held < kFrameHeaderBytes + length) return Result::kNeedMore;
  if (!batch->ParseFromArray(buffer_.data() + begin_ + kFrameHeaderBytes,
                             static_cast<int>(length))) {
    return Result::kMalformed;
  }
  *frame_bytes = kFrameHeaderBytes + length;
  begin_ += *frame_bytes;
  if (begin_ == end_) begin_ = end_ = 0;
  return Result::kFrame;
}

}  // namespace kvd::rpc
