// Networks: every peer of an application, not of one topic. A node that
// joins a network keeps a signed, versioned catalog of its members (who is
// there, at which addresses, with which tags and topics, how far away) and
// finds the network through a chain of DHT slots (docs/PROTOCOL.md §14-18).
#pragma once

#include <topicswarm/endpoint.hpp>
#include <topicswarm/export.hpp>
#include <topicswarm/ids.hpp>
#include <topicswarm/record.hpp>

#include <chrono>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace topicswarm {

// H("topicswarm/network/v1" || name)[0..32].
TOPICSWARM_API network_id network_id_from_name(std::string_view name);

// The gossip topic that carries a network's announcements:
// H("topicswarm/network-topic/v1" || network)[0..32]. A network's key is made
// like a topic key for this topic (hash_secret, open_topic_key,
// secret_hash_from_key), and its wire id is wire_topic_id(network_topic_id(n),
// key): admission to the network is admission to that topic.
TOPICSWARM_API topic_id network_topic_id(const network_id& network);

// A catalog entry's version: the publisher's process start and the time of
// its last update (unix milliseconds). Compared start first, so a restarted
// process supersedes its old entries even if its clock went back, and
// update_ms never goes back within one start.
struct entry_version {
  std::uint64_t start_ms = 0;
  std::uint64_t update_ms = 0;
  friend auto operator<=>(const entry_version&, const entry_version&) = default;
  friend bool operator==(const entry_version&, const entry_version&) = default;
};

// What a peer says about itself, signed by its node key (docs/PROTOCOL.md §14).
struct peer_entry {
  topic_id network;  // the network's wire id (names no network)
  node_id node;
  entry_version version;
  std::vector<endpoint> addresses;  // hints: dialled only to `node`, which TLS proves
  std::vector<std::string> tags;    // the application's labels
  std::vector<topic_id> topics;     // wire ids of the topics it has joined
  friend bool operator==(const peer_entry&, const peer_entry&) = default;
};

// Bounds of one entry (docs/PROTOCOL.md §14): a peer that wants more is
// refused when it signs, and a received entry over them does not decode.
struct peer_entry_limits {
  static constexpr std::size_t max_addresses = 8;
  static constexpr std::size_t max_tags = 16;
  static constexpr std::size_t max_tag_bytes = 32;  // printable ASCII 0x21..0x7e
  static constexpr std::size_t max_topics = 64;
  // 1 + 32 + 32 + 8 + 8 + (1 + 8 * 19) + (1 + 16 * 33) + (1 + 64 * 32) + 64
  static constexpr std::size_t max_encoded_bytes = 2876;
};

// Round-trip time to a peer, smoothed as RFC 6298 §2 does for TCP's
// retransmission timer (alpha = 1/8, beta = 1/4), from pings over the
// connection.
struct rtt_estimate {
  std::chrono::microseconds srtt{0};    // smoothed round-trip time
  std::chrono::microseconds rttvar{0};  // its mean deviation
  std::chrono::microseconds last{0};    // the latest sample
  std::uint32_t samples = 0;
  friend bool operator==(const rtt_estimate&, const rtt_estimate&) = default;
};

// Why a peer left the catalog.
enum class departure_cause {
  graceful,  // it said so, signed, with its current version
  purged,    // no update for purge_after
  evicted,   // the catalog was full and a newer entry took its place
};
TOPICSWARM_API const char* to_string(departure_cause c) noexcept;

}  // namespace topicswarm
