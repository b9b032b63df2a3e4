// Topic records: what a peer publishes in the DHT so others on the topic can
// find it. Signed by the publisher's node key, encrypted with HPKE to a key
// only holders of the topic's secret can derive, stored in BEP 44 slots.
// The exact byte layout is specified in docs/PROTOCOL.md.
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/export.hpp>
#include <topicswarm/identity.hpp>
#include <topicswarm/ids.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace topicswarm {

struct secret_hash_tag {};
// SHA-512(initial_secret)[0..32]: the secret never leaves the process.
using secret_hash = fixed_bytes<32, secret_hash_tag>;
// The per-window secret from which a window's record encryption key is derived.
using window_secret = fixed_bytes<32, window_secret_tag>;

TOPICSWARM_API secret_hash secret_hash_from(byte_span initial_secret);
inline secret_hash secret_hash_from(std::string_view initial_secret) {
  return secret_hash_from(as_bytes(initial_secret));
}

// Records are grouped by time window: floor(unix_seconds / 60).
TOPICSWARM_API std::uint64_t window_at(std::chrono::system_clock::time_point t);

// Secret rotation: maps (topic, window, secret hash) to the window's secret.
// Peers find each other only if they use the same rotation.
using secret_rotation = std::function<window_secret(const topic_id&, std::uint64_t window, const secret_hash&)>;
// Default: SHA-512("topicswarm/window-secret/v1" || topic || window_be64 || secret_hash)[0..32].
TOPICSWARM_API window_secret default_secret_rotation(const topic_id& topic, std::uint64_t window,
                                                     const secret_hash& secret);

inline constexpr std::uint8_t record_format_version = 1;
inline constexpr std::size_t max_record_neighbors = 5;
inline constexpr std::size_t max_record_messages = 5;
inline constexpr std::size_t max_record_addresses = 4;  // per peer
// BEP 44 limits the bencoded value to 1000 bytes; a byte string of 996 bytes
// bencodes as "996:" + 996 bytes = 1000.
inline constexpr std::size_t max_record_bytes = 996;

struct record_neighbor {
  node_id id;
  std::vector<endpoint> addresses;  // at most max_record_addresses
  friend bool operator==(const record_neighbor&, const record_neighbor&) = default;
};

struct topic_record {
  topic_id topic;
  std::uint64_t window = 0;
  node_id publisher;
  std::vector<endpoint> addresses;            // publisher's, at most max_record_addresses
  std::vector<record_neighbor> neighbors;     // at most max_record_neighbors
  std::vector<message_id> recent_messages;    // at most max_record_messages
  std::uint64_t timestamp_ms = 0;             // unix time of publication
  friend bool operator==(const topic_record&, const topic_record&) = default;
};

// Encodes, signs and encrypts records for one topic and secret; and decrypts,
// verifies and decodes them. Cheap to copy.
class TOPICSWARM_API record_codec {
 public:
  record_codec(topic_id topic, secret_hash secret, secret_rotation rotation = default_secret_rotation);

  const topic_id& topic() const noexcept { return topic_; }

  // The value to store in the DHT (≤ max_record_bytes). The record's topic must
  // be this codec's; it is signed by `signer`, whose id must be the publisher.
  result<bytes> seal(const topic_record& record, const identity& signer) const;

  // Decrypts with the key of `window`, verifies the publisher's signature and
  // checks topic and window. Each failure has its own errc::record_* code.
  result<topic_record> open(byte_span stored, std::uint64_t window) const;

 private:
  topic_id topic_;
  secret_hash secret_;
  secret_rotation rotation_;
};

// A DHT slot for a topic and window: the BEP 44 key pair and salt under which
// one record is stored. Anyone who knows the topic name can compute them.
struct record_slot {
  keypair signer;
  bytes salt;
  const public_key& key() const noexcept { return signer.public_key(); }
};
TOPICSWARM_API record_slot record_slot_for(const topic_id& topic, std::uint64_t window, unsigned index);

}  // namespace topicswarm
