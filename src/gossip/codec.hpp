// Wire codec of gossip messages: (topic, wire::message) <-> bytes.
//
// The layout is specified in docs/PROTOCOL.md "Gossip wire format". Every
// list and the content have explicit bounds (gossip::limits plus the content
// limit passed to decode); the decoder reads untrusted bytes without ever
// reading past them and rejects anything not produced by encode(), so the
// format is canonical: decode(b) succeeds ⇒ encode(decode(b)) == b.
#pragma once

#include "gossip/proto.hpp"

#include <topicswarm/error.hpp>

#include <utility>

namespace topicswarm::gossip {

// The message type byte (equal to the wire::message variant index).
enum class message_type : std::uint8_t {
  join = 0,
  forward_join = 1,
  neighbor = 2,
  neighbor_reply = 3,
  disconnect = 4,
  shuffle = 5,
  shuffle_reply = 6,
  gossip = 7,
  ihave = 8,
  graft = 9,
  prune = 10,
};

// Appends the encoding of (topic, msg) to `out`. Lists longer than their
// limit are truncated to it (the cores never produce such lists); content is
// written whole — callers keep it within the receiver's content limit.
void encode_to(bytes& out, const topic_id& topic, const wire::message& msg);
bytes encode(const topic_id& topic, const wire::message& msg);

// Decodes exactly one message occupying all of `in`. Errors:
//  - errc::malformed_message: truncated, trailing bytes, unknown type,
//    address family, priority, scope or boolean byte;
//  - errc::message_too_large: content over `max_content` (clamped to
//    limits::max_content_size), or a list count / ttl over its limit.
result<std::pair<topic_id, wire::message>> decode(byte_span in, std::size_t max_content = config{}.max_message_size);

// Largest encoding decode() accepts with this content limit (for framing).
std::size_t max_encoded_size(std::size_t max_content);

}  // namespace topicswarm::gossip
