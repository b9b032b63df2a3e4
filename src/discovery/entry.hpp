// Catalog entries and departures on the wire (docs/PROTOCOL.md §14): what a
// peer says about itself, signed by its node key, and the signed notice that
// it leaves. Decoding checks the size first, then the layout and every
// bound, and only then the signature, so garbage costs no public-key work.
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/identity.hpp>
#include <topicswarm/network.hpp>

namespace topicswarm::discovery {

inline constexpr std::uint8_t entry_format = 0x01;
inline constexpr std::size_t departure_bytes = 1 + 32 + 32 + 8 + 8 + 64;  // 145

// A decoded, verified entry with the bytes it came in (served as is to
// peers that sync with us: the signature is the publisher's, not ours).
struct signed_entry {
  peer_entry entry;
  bytes encoded;
};

// The signed part of an entry (everything before the signature), with no
// checks: what sign_entry signs and what a decoder must have read.
bytes encode_entry_body(const peer_entry& entry);

// Checks the limits (peer_entry_limits, encodable addresses, printable
// tags, no duplicates) and signs. errc::invalid_argument with what is wrong;
// errc::peer_entry_bad_signature if `signer` is not entry.node.
result<signed_entry> sign_entry(const peer_entry& entry, const identity& signer);
// errc::peer_entry_too_large, _unsupported_version, _malformed, _bad_signature.
result<signed_entry> open_entry(byte_span encoded);

struct departure {
  topic_id network;
  node_id node;
  entry_version version;  // of the entry it ends
  friend bool operator==(const departure&, const departure&) = default;
};
result<bytes> sign_departure(const departure& d, const identity& signer);
result<departure> open_departure(byte_span encoded);

}  // namespace topicswarm::discovery
