// Internal pieces of the record format, exposed for tests and fuzzing.
#pragma once

#include <topicswarm/record.hpp>

#include <cstdint>
#include <limits>

namespace topicswarm::crypto::record_format {

// Body layout (docs/PROTOCOL.md "Record body"); version byte first.
bytes encode_body(const topic_record& r);
// Parses a body. Errors: record_unsupported_version, record_bad_length
// (truncated, trailing bytes, a count over its limit, an unknown address family).
result<topic_record> decode_body(byte_span body);

// Domain-separated message the publisher signs: "topicswarm/record-sig/v2" || body.
bytes signing_message(byte_span body);

// HPKE info for a topic, window and slot:
// "topicswarm/record/v2" || topic || be64(window) || be32(slot).
bytes hpke_info(const topic_id& topic, std::uint64_t window, unsigned slot);

// The milliseconds a record of `window` may carry as its timestamp and BEP 44
// seq: [window*60000 - skew, window*60000 + 59999 + skew], skew =
// max_record_skew_ms (docs/PROTOCOL.md §6).
struct window_ms_range {
  std::int64_t first = 0;
  std::int64_t last = 0;
  bool contains(std::int64_t v) const noexcept { return v >= first && v <= last; }
  bool contains(std::uint64_t v) const noexcept {
    return v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) && contains(static_cast<std::int64_t>(v));
  }
};
window_ms_range window_range(std::uint64_t window);

// Seals with the HPKE key of `key_window` whatever `record.window` says: real
// peers never do this; tests use it to forge a validly encrypted record that
// claims another window or topic.
result<bytes> seal_with_key_of(const topic_record& record, const identity& signer, const topic_id& key_topic,
                               std::uint64_t key_window, unsigned slot, const window_secret& ws);

// Encrypts an arbitrary plaintext (body || signature) as a stored value under
// the HPKE key of ws, info (key_topic, key_window, slot). For tests and the
// fuzzer, which need validly encrypted values whose insides are wrong.
result<bytes> seal_plain(byte_span plain, const topic_id& key_topic, std::uint64_t key_window, unsigned slot,
                         const window_secret& ws);

// Smallest and largest possible stored sizes.
inline constexpr std::size_t enc_size = 32;
inline constexpr std::size_t tag_size = 16;
inline constexpr std::size_t signature_size = 64;
// version + topic + window + publisher + timestamp + three zero counts
inline constexpr std::size_t min_body_size = 1 + 32 + 8 + 32 + 8 + 3;
inline constexpr std::size_t min_stored_size = 1 + enc_size + min_body_size + signature_size + tag_size;

}  // namespace topicswarm::crypto::record_format
