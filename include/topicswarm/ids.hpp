// Identifiers: node ids (Ed25519 public keys), topic ids and message ids.
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/export.hpp>

#include <string_view>

namespace topicswarm {

struct node_id_tag {};
struct topic_id_tag {};
struct message_id_tag {};
struct window_secret_tag {};
struct network_id_tag {};

// A node's id is its Ed25519 public key. Printed as 64 lowercase hex digits.
using node_id = fixed_bytes<32, node_id_tag>;
// A topic's id: SHA-512(name)[0..32].
using topic_id = fixed_bytes<32, topic_id_tag>;
// A gossip message's id: a hash of its content.
using message_id = fixed_bytes<32, message_id_tag>;
// A network's id: H("topicswarm/network/v1" || name)[0..32] (network.hpp).
using network_id = fixed_bytes<32, network_id_tag>;

// SHA-512(name)[0..32]; the same function gives secret hashes from secrets.
TOPICSWARM_API topic_id topic_id_from_name(std::string_view name);

// Parse a printed node id with a clear error ("node id: expected 64 hex digits, got 12").
TOPICSWARM_API result<node_id> parse_node_id(std::string_view text);

}  // namespace topicswarm
