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
// The topic key: 32 bytes from which everything secret about a topic derives
// (its wire id, the window secrets, the slot keys, the admission MAC key).
// Made by hash_secret() from a passphrase, taken as is from a random key
// (secret_hash_from_key), or open_topic_key() for a topic without a secret.
// The secret itself never leaves the process.
using secret_hash = fixed_bytes<32, secret_hash_tag>;
// The per-window secret from which a window's slots and record key derive.
using window_secret = fixed_bytes<32, window_secret_tag>;

// Argon2id cost of hash_secret() (libsodium crypto_pwhash, one lane). The
// defaults are OWASP's password-storage minimum for Argon2id (m = 19 MiB,
// t = 2, p = 1): about the cost of one join, paid once per join; raise them
// for a weak passphrase. Every member must use the same values.
struct secret_hash_params {
  std::uint64_t ops_limit = 2;                 // passes over memory (t)
  std::size_t mem_limit = std::size_t{19} << 20;  // bytes (m)
};

// Argon2id(secret, salt = H("topicswarm/secret-salt/v2" || topic)[0..16]):
// slow on purpose, so a captured record does not let anyone test guesses at
// hash speed, and salted by the topic, so one table does not serve every
// topic. An empty secret gives open_topic_key(topic) (nothing to protect, no
// cost). Errors: secret_hash_failed (not enough memory, parameters out of
// libsodium's range).
TOPICSWARM_API result<secret_hash> hash_secret(const topic_id& topic, byte_span secret,
                                               const secret_hash_params& params = {});
inline result<secret_hash> hash_secret(const topic_id& topic, std::string_view secret,
                                       const secret_hash_params& params = {}) {
  return hash_secret(topic, as_bytes(secret), params);
}
// A caller that holds a 32-byte uniformly random key uses it directly (no
// hashing). errc::invalid_argument unless `key` is 32 bytes.
TOPICSWARM_API result<secret_hash> secret_hash_from_key(byte_span key);
// The key of a topic without a secret: H("topicswarm/open-topic/v2" || topic)[0..32].
// Anyone who knows the name can compute it, so it protects nothing.
TOPICSWARM_API secret_hash open_topic_key(const topic_id& topic);

// The topic id on the wire (gossip frames, admission):
// H("topicswarm/wire-topic/v2" || topic || secret_hash)[0..32]. Two groups on
// one name with different secrets are different topics; without the secret
// nobody can compute it.
TOPICSWARM_API topic_id wire_topic_id(const topic_id& topic, const secret_hash& secret);

// Records are grouped by time window: floor(unix_seconds / 60).
TOPICSWARM_API std::uint64_t window_at(std::chrono::system_clock::time_point t);

// Secret rotation: maps (topic, window, secret hash) to the window's secret.
// Peers find each other only if they use the same rotation.
using secret_rotation = std::function<window_secret(const topic_id&, std::uint64_t window, const secret_hash&)>;
// Default: SHA-512("topicswarm/window-secret/v2" || topic || window_be64 || secret_hash)[0..32].
TOPICSWARM_API window_secret default_secret_rotation(const topic_id& topic, std::uint64_t window,
                                                     const secret_hash& secret);

inline constexpr std::uint8_t record_format_version = 2;
// How far a record's timestamp (and its BEP 44 seq, which equals it) may lie
// outside its window's millisecond range [window*60000, window*60000+59999]:
// clock skew between a publisher and the window it writes (docs/PROTOCOL.md §6).
inline constexpr std::uint64_t max_record_skew_ms = 5'000;
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

// A DHT slot of a window: the BEP 44 key pair and salt under which one
// record is stored.
struct record_slot {
  keypair signer;
  bytes salt;
  const public_key& key() const noexcept { return signer.public_key(); }
};

// Encodes, signs and encrypts records for one topic and secret; and decrypts,
// verifies and decodes them. Cheap to copy.
class TOPICSWARM_API record_codec {
 public:
  record_codec(topic_id topic, secret_hash secret, secret_rotation rotation = default_secret_rotation);

  const topic_id& topic() const noexcept { return topic_; }

  const secret_hash& secret() const noexcept { return secret_; }
  window_secret window_key(std::uint64_t window) const;

  // The value to store in slot `slot` of the record's window (≤
  // max_record_bytes; the HPKE info binds the slot). The record's topic must
  // be this codec's; it is signed by `signer`, whose id must be the
  // publisher; its timestamp must lie in its window (± max_record_skew_ms).
  // Store it with seq = record.timestamp_ms.
  result<bytes> seal(const topic_record& record, const identity& signer, unsigned slot) const;

  // Checks `seq` against the window (before any crypto), decrypts with the key
  // of (`window`, `slot`), verifies the publisher's signature and checks
  // topic, window, timestamp and seq == timestamp. Each failure has its own
  // errc::record_* code (format 1 values: record_format_obsolete).
  result<topic_record> open(byte_span stored, std::uint64_t window, unsigned slot, std::int64_t seq) const;

  // Slot `index` of `window` (BEP 44 key pair and salt), from the window secret.
  record_slot slot(std::uint64_t window, unsigned index) const;

 private:
  topic_id topic_;
  secret_hash secret_;
  secret_rotation rotation_;
};

// Slot `index` from a window secret (docs/PROTOCOL.md §7): only holders of
// the topic key can compute it, so only they can find or write it.
TOPICSWARM_API record_slot record_slot_for(const window_secret& ws, unsigned index);

}  // namespace topicswarm
