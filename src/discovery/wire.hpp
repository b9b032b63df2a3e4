// Wire formats of the network layer (issue 14): the announce that travels as
// gossip content on the network topic, and the point-to-point frames of
// catalog sync and ping (one frame kind, sub-type in the first body byte).
//
// Entries and departures are opaque signed blobs here: this codec checks only
// their lengths; discovery/entry.hpp opens them (signature, network, layout).
// So a bad entry inside a fetch_response costs its receiver one dropped entry,
// never the whole response.
//
// Decoding is strict and canonical: every count, flag and length is checked
// against its bound, input shorter than its counts say or longer than the
// message is an error, and digest pages must be sorted by node id strictly
// ascending. Hence decode(b) succeeds ⇒ encode(decode(b)) == b, which the
// fuzz target checks. The decoder never throws, never reads past its input,
// and never allocates from a count before the bytes behind it are there.
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/ids.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

namespace topicswarm::discovery::wire {

namespace limits {
// Digests in one page and the most a digest_request may ask for. 256 × 48
// bytes keeps a full page near 12 KiB: one frame that does not hold the
// connection for long, yet few round trips for a catalog of thousands.
inline constexpr std::size_t max_digests_per_page = 256;
// Entries named in one fetch_request, and so carried by one fetch_response.
inline constexpr std::size_t max_fetch = 16;
// An encoded, signed peer entry (the largest one the entry format allows).
inline constexpr std::size_t min_entry_bytes = 1;
inline constexpr std::size_t max_entry_bytes = 2876;
// An encoded, signed departure (fixed size).
inline constexpr std::size_t departure_bytes = 145;

inline constexpr std::size_t digest_bytes = 32 + 8 + 8;  // node || start_ms || update_ms

// Largest body of each frame type (type byte included).
inline constexpr std::size_t max_digest_request_bytes = 1 + 4 + 32 + 1 + 32 + 2;
inline constexpr std::size_t max_digest_page_bytes = 1 + 4 + 1 + 2 + max_digests_per_page * digest_bytes;
inline constexpr std::size_t max_fetch_request_bytes = 1 + 4 + 1 + max_fetch * 32;
inline constexpr std::size_t max_fetch_response_bytes = 1 + 4 + 1 + max_fetch * (2 + max_entry_bytes);
inline constexpr std::size_t ping_bytes = 1 + 8;

// Largest frame body encode() writes and decode() accepts (a full
// fetch_response: 46,054 bytes). The transport must accept frames of
// 1 (kind byte) + this many bytes; tests/unit/discovery_wire_test.cpp
// checks it against net::config's default max_frame_payload.
inline constexpr std::size_t max_frame_body = std::max(
    {max_digest_request_bytes, max_digest_page_bytes, max_fetch_request_bytes, max_fetch_response_bytes, ping_bytes});
static_assert(max_frame_body == max_fetch_response_bytes);

// Largest announce (gossip content on the network topic).
inline constexpr std::size_t max_announce_bytes = 1 + max_entry_bytes;
}  // namespace limits

// ----------------------------------------------------------------- frames --

// The first body byte of a discovery frame.
enum class message_type : std::uint8_t {
  digest_request = 0x01,
  digest_page = 0x02,
  fetch_request = 0x03,
  fetch_response = 0x04,
  ping = 0x05,
  pong = 0x06,
};

// One catalog entry's identity and version, as listed in a digest page.
struct digest {
  node_id node;
  std::uint64_t start_ms = 0;
  std::uint64_t update_ms = 0;
  friend bool operator==(const digest&, const digest&) = default;
};

// "Send me the digests of your catalog after `after` (by node id), at most
// `max` (1..max_digests_per_page) of them", for the network named by its
// wire id. `req` is chosen by the requester and echoed in the answer.
struct digest_request {
  std::uint32_t req = 0;
  topic_id network;
  std::optional<node_id> after;
  std::uint16_t max = limits::max_digests_per_page;
  friend bool operator==(const digest_request&, const digest_request&) = default;
};

// Up to max_digests_per_page digests, node ids strictly ascending; `more`
// says the sender has digests past the last one (ask again with it as
// `after`).
struct digest_page {
  std::uint32_t req = 0;
  bool more = false;
  std::vector<digest> items;
  friend bool operator==(const digest_page&, const digest_page&) = default;
};

// "Send me your entries of these nodes" (1..max_fetch node ids).
struct fetch_request {
  std::uint32_t req = 0;
  std::vector<node_id> nodes;
  friend bool operator==(const fetch_request&, const fetch_request&) = default;
};

// The entries the sender has of the requested nodes (0..max_fetch), each
// an encoded signed entry of 1..max_entry_bytes bytes, opened by the caller.
struct fetch_response {
  std::uint32_t req = 0;
  std::vector<bytes> entries;
  friend bool operator==(const fetch_response&, const fetch_response&) = default;
};

struct ping {
  std::uint64_t nonce = 0;
  friend bool operator==(const ping&, const ping&) = default;
};

struct pong {
  std::uint64_t nonce = 0;  // the nonce of the ping it answers
  friend bool operator==(const pong&, const pong&) = default;
};

// In type order: index + 1 is the type byte.
using message = std::variant<digest_request, digest_page, fetch_request, fetch_response, ping, pong>;

// Whether `m` is within every bound decode() checks: max in
// 1..max_digests_per_page; at most max_digests_per_page digests, node ids
// strictly ascending; 1..max_fetch nodes; at most max_fetch entries of
// min_entry_bytes..max_entry_bytes each.
bool valid(const message& m);

// The encoder writes only frames the decoder accepts. The cores build
// messages within the limits by construction; a message that is not
// valid() (a bug upstream) is not truncated, sorted or clamped into some
// other message: nothing is written, encode_to returns false and encode()
// returns empty bytes (never a valid body, so a caller that sends it
// anyway gets a malformed frame, not a wrong one).
// For every message m: valid(m) ⇔ decode(encode(m)) succeeds, and then
// decode(encode(m)) == m.
bool encode_to(bytes& out, const message& m);
bytes encode(const message& m);

// Decodes one frame body occupying all of `body`. errc::malformed_message
// (the detail says what) for: empty or short input, trailing bytes, an
// unknown type, has_after or more not 0/1, max outside 1..256, a count
// over its limit (or fetch_request with none), digests not strictly
// ascending by node id, an entry length outside 1..2876.
result<message> decode(byte_span body);

// --------------------------------------------------------------- announce --

// The first byte of an announce.
enum class announce_type : std::uint8_t {
  entry = 0x01,
  departure = 0x02,
};

// A peer's current entry (encoded and signed, min_entry_bytes..max_entry_bytes).
struct announce_entry {
  bytes entry;
  friend bool operator==(const announce_entry&, const announce_entry&) = default;
};

// A peer leaves (encoded and signed departure, exactly departure_bytes).
struct announce_departure {
  bytes departure;
  friend bool operator==(const announce_departure&, const announce_departure&) = default;
};

using announce = std::variant<announce_entry, announce_departure>;

// Whether the blob has a length its type allows.
bool valid(const announce& a);

// type || blob. Like encode(): empty bytes for an announce that is not valid().
bytes encode_announce(const announce& a);

// errc::malformed_message for empty input, an unknown type, an entry of
// 0 or more than max_entry_bytes bytes, or a departure that is not
// exactly departure_bytes.
result<announce> decode_announce(byte_span in);

}  // namespace topicswarm::discovery::wire
