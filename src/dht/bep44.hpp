// BEP 44 mutable-item rules shared by the client, the libtorrent seam and tests.
#pragma once

#include <topicswarm/bytes.hpp>

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

}  // namespace topicswarm::dht::detail
