// The hello frame: the first frame each side sends on a connection, right
// after the TLS handshake (docs/PROTOCOL.md §10.4).
//
//   body = major:u8 minor:u8 count:u8 kind:u8 × count
//
// `count` is at most max_hello_kinds and the kinds are strictly ascending
// (so a set has exactly one encoding and a duplicate is malformed); the body
// has exactly 3 + count bytes. The layout is fixed for a major version: a
// minor version adds frame kinds, never hello fields.
//
// The body comes from a peer before anything else is known about it, so the
// decoder is bounded and total: any input yields a hello or an error, never
// an exception or a read out of bounds (fuzz/hello_fuzz.cpp).
#pragma once

#include "net/frame.hpp"

#include <topicswarm/bytes.hpp>
#include <topicswarm/error.hpp>

#include <bitset>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace topicswarm::net {

struct protocol_version {
  std::uint8_t major = 0;
  std::uint8_t minor = 0;
  friend auto operator<=>(const protocol_version&, const protocol_version&) = default;
};

// The version this build speaks. Peers must have the same major (the ALPN id
// `topicswarm/<major>` already refuses others during the TLS handshake; the
// hello checks it again so the rule does not hang on one TLS detail); the
// minor only tells which kinds a peer may know.
// 2.0 (issue 13): wire topic ids from the topic key, admission (kind 6)
// required before any topic frame; a 1.x peer could not be admitted.
// 2.1 (issue 14): kind 5 (catalog sync and ping of the network layer).
inline constexpr protocol_version protocol_version_current{2, 1};

// More kinds than any version will define: a hello listing more is refused
// before anything is stored (the kind byte alone would allow 256).
inline constexpr std::size_t max_hello_kinds = 64;
inline constexpr std::size_t hello_header_size = 3;

// A set of frame kinds (one bit per possible kind byte).
class kind_set {
 public:
  kind_set() = default;
  kind_set(std::initializer_list<frame_kind> kinds) {
    for (auto k : kinds) insert(k);
  }
  void insert(frame_kind k) { bits_.set(static_cast<std::uint8_t>(k)); }
  bool contains(frame_kind k) const { return bits_.test(static_cast<std::uint8_t>(k)); }
  std::size_t size() const { return bits_.count(); }
  friend bool operator==(const kind_set&, const kind_set&) = default;

 private:
  std::bitset<256> bits_;
};

struct hello {
  protocol_version version;
  kind_set kinds;  // the kinds the sender has a handler for, and its own (hello, keepalive)
};

// Appends a whole hello frame (header, kind byte, body). The caller keeps
// `h.kinds` within max_hello_kinds.
void append_hello(bytes& out, const hello& h);

// Decodes a hello body (the payload after the kind byte). Every error is
// errc::malformed_message with a detail naming what was wrong; the version is
// not judged here (see protocol_version_current).
result<hello> decode_hello(byte_span body);

}  // namespace topicswarm::net
