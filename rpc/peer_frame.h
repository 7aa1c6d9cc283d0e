// Peer frame format (docs/formats.md): a 4-byte big-endian length N, then N bytes of a serialized
// kvpb::PeerBatch. No other framing, no version byte: the schema versions itself (fields are only
// ever added, proto/kv.proto). N may be 0 (an all-default batch). A receiver rejects N above its
// configured maximum before reading the body, so a corrupt prefix cannot make it allocate more;
// and it never allocates the declared N up front either: its buffer grows with the bytes that
// actually arrive (at most doubling), so a 4-byte prefix costs one read chunk, not N bytes.
//
// EncodeFrame and FrameReader are pure (no sockets), so the codec is tested byte by byte.
// Thread-safety: a FrameReader is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "proto/kv.pb.h"

namespace kvd::rpc {

inline constexpr size_t kFrameHeaderBytes = 4;

// Serializes 'batch' with its length prefix into *frame. Returns false, leaving *frame unchanged,
// if the body would exceed max_frame_bytes (or 2^31-1, protobuf's own limit).
[[nodiscard]] bool EncodeFrame(const kvpb::PeerBatch& batch, size_t max_frame_bytes,
                               std::string* frame);

// Incremental decoder for one inbound byte stream. Usage:
//   for (;;) { n = read(reader.WritableSpace()); reader.Commit(n);
//              while (reader.Next(&batch, &size) == kFrame) deliver(batch); }
// Its buffer grows as bytes arrive, to at most twice what is buffered plus one read chunk and never
// beyond one whole frame (header + max_frame_bytes) plus a read chunk, and shrinks back after a
// large frame; so memory per connection is bounded by the bytes the peer really sent. A caller
// keeping a budget across connections asks NextCapacity() before WritableSpace().
class FrameReader {
 public:
  enum class Result {
    kFrame,     // *batch holds the next frame
    kNeedMore,  // no complete frame buffered; read more
    kTooLarge,  // the length prefix exceeds the maximum: the stream is unusable
    kMalformed  // the body is not a PeerBatch: the stream is unusable
  };

  explicit FrameReader(size_t max_frame_bytes);
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // Where the next read should land; never empty. Precondition: Next() last returned kNeedMore
  // (or was never called), so the buffer knows how much room the frame in progress needs.
  std::span<char> WritableSpace();
  // The capacity() that the next WritableSpace() call will leave (same precondition); lets a
  // caller refuse growth (close the stream) instead of allocating.
  size_t NextCapacity() const;
  // Records that 'n' bytes were written at the start of WritableSpace().
  void Commit(size_t n);

  // Decodes the next complete frame. On kFrame, *frame_bytes is its size on the wire (header
  // included). After kTooLarge or kMalformed the reader must not be used again.
  Result Next(kvpb::PeerBatch* batch, size_t* frame_bytes);

  size_t buffered() const { return end_ - begin_; }
  size_t capacity() const { return buffer_.size(); }

 private:
  // Buffer size WritableSpace() wants for the bytes held and the frame in progress.
  size_t WantedSize() const;

  const size_t max_frame_bytes_;
  std::string buffer_;  // bytes [begin_, end_) are received and not yet decoded
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace kvd::rpc
