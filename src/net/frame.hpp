// Framing of the byte stream inside a TLS connection (docs/PROTOCOL.md §10).
//
//   frame   = length:u32be payload            (1 ≤ length ≤ max_payload)
//   payload = kind:u8 body
//
// The kind says which layer a frame is for; the transport routes each frame
// to the handler registered for its kind and knows the body of only its own
// two kinds (keepalive, hello). The reader is sans-IO: the connection appends
// what the socket delivered and takes whole payloads out; a length of 0 or
// over the maximum is an error that closes the connection (the stream cannot
// be resynchronised after it).
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/error.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace topicswarm::net {

// Every frame kind, assigned once and never reused (the same table is in
// docs/PROTOCOL.md §10.3). A receiver drops and counts a frame of a kind it
// has no handler for, so a node may send a kind its peer does not speak (it
// can ask transport::peer_speaks first); only the numbers below are fixed,
// a kind marked "reserved" has no handler in this version.
enum class frame_kind : std::uint8_t {
  gossip = 0,     // one gossip message (gossip/codec.hpp, §9)
  keepalive = 1,  // empty body; sent after keepalive_interval of silence (transport's own)
  hello = 2,      // protocol version and kinds spoken; the first frame each way (net/hello.hpp; transport's own)
  ping = 3,       // reserved (the network layer's ping travels on kind 5)
  pong = 4,       // reserved
  catalog = 5,    // network discovery: catalog sync and ping, sub-type in the first body byte (discovery/wire.hpp, §16)
  admission = 6,  // topic admission proof (a MAC over the TLS exporter, both ids, the wire topic id)
  nat = 7,        // reserved: observed address, reachability, hole-punch coordination
  relay = 8,      // reserved: traffic relayed for peers that cannot reach each other directly
  // 9 ..= 0xdf: unassigned, for later kinds of the protocol (each one a docs/PROTOCOL.md change).
  experimental_first = 0xe0,  // 0xe0 ..= 0xff: experiments and tests; never assigned to a
  experimental_last = 0xff,   // protocol kind, so experiments cannot collide with a release
};

// "gossip", "catalog", ... or "unassigned" / "experimental", for error messages.
const char* kind_name(frame_kind kind) noexcept;
// "kind 5 (catalog)".
std::string describe(frame_kind kind);

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
