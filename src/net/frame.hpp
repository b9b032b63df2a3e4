// Framing of the byte stream inside a TLS connection (docs/PROTOCOL.md §10).
//
//   frame   = length:u32be payload            (1 ≤ length ≤ max_payload)
//   payload = kind:u8 body
//
// kind 0 carries one gossip message (the codec of gossip/codec.hpp: topic,
// type, fields); kind 1 is a keepalive with an empty body. The reader is
// sans-IO: the connection appends what the socket delivered and takes whole
// payloads out; a length of 0 or over the maximum is an error that closes the
// connection (the stream cannot be resynchronised after it).
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/error.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace topicswarm::net {

enum class frame_kind : std::uint8_t { gossip = 0, keepalive = 1 };

inline constexpr std::size_t frame_header_size = 4;

// Starts a frame at the end of `out` (reserving the length field and writing
// the kind) and returns its start; write the body, then call end_frame.
std::size_t begin_frame(bytes& out, frame_kind kind);
void end_frame(bytes& out, std::size_t start);

// Appends a whole frame with the given body.
void append_frame(bytes& out, frame_kind kind, byte_span body);

class frame_reader {
 public:
  explicit frame_reader(std::size_t max_payload) : max_payload_(max_payload) {}

  // Space for up to `n` more received bytes; commit() how many arrived.
  std::span<std::byte> prepare(std::size_t n);
  void commit(std::size_t n);

  // The next complete payload (kind byte + body), valid until the next call
  // to prepare() or next(); nullopt when more bytes are needed. Errors
  // (errc::message_too_large for a length over the maximum,
  // errc::malformed_message for a zero length) are final.
  result<std::optional<byte_span>> next();

  std::size_t buffered() const noexcept { return end_ - begin_; }
  std::size_t max_payload() const noexcept { return max_payload_; }

 private:
  std::size_t max_payload_;
  bytes buf_;
  std::size_t begin_ = 0, end_ = 0;
};

}  // namespace topicswarm::net
