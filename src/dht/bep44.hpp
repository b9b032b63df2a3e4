// BEP 44 mutable-item rules shared by the client, the libtorrent seam and tests.
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/identity.hpp>

#include <cstddef>
#include <cstdint>

namespace topicswarm::dht::detail {

// BEP 44: "the salt [...] must not be longer than 64 bytes".
inline constexpr std::size_t max_salt_size = 64;
// BEP 44: "v [...] should not exceed 1000 bytes" once bencoded; libtorrent's
// nodes refuse larger stores ("message too big").
inline constexpr std::size_t max_encoded_value_size = 1000;

// Size of `n` bytes bencoded as a byte string ("<n>:<bytes>").
std::size_t bencoded_string_size(std::size_t n) noexcept;

// The bytes a mutable item's signature covers (BEP 44, "Mutable items"):
//   ["4:salt" <len> ":" <salt>] "3:seqi" <seq> "e1:v" <bencoded v>
// with the salt part left out when the salt is empty. Our values are always
// byte strings, so <bencoded v> is "<len>:<value>".
bytes signed_buffer(byte_span salt, std::int64_t seq, byte_span value);

// The BEP 44 signature check of a mutable item whose value is a byte string.
// Refuses a salt longer than max_salt_size without any crypto.
bool verify_item_signature(const public_key& key, byte_span salt, std::int64_t seq, byte_span value,
                           const signature& sig);

struct item_event;  // lt_session.hpp

// What the client makes of a mutable item another DHT node sent us.
enum class item_verdict {
  absent,             // the lookup found no item (nothing to judge)
  accepted,           // a byte string, within the size rules, correctly signed
  not_a_byte_string,  // BEP 44 allows any bencoded v; ours are byte strings
  salt_too_long,      // over max_salt_size
  value_too_large,    // bencoded over max_encoded_value_size: no node stores it, no writer of ours made it
  bad_signature,
};

// Judges a received item, cheapest check first (the signature last), so
// garbage costs no public-key crypto. Only `accepted` items reach callers.
item_verdict check_item(const item_event& e);

}  // namespace topicswarm::dht::detail
