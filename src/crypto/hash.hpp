// Hashes used across the project: SHA-512 from libsodium, SHA-256 from
// OpenSSL (it uses the CPU's SHA extensions, ~4x libsodium's portable code on
// 1 KiB messages: gossip message ids hash every message).
#pragma once

#include <topicswarm/bytes.hpp>

#include <array>
#include <initializer_list>

namespace topicswarm::crypto {

using sha512_digest = std::array<std::byte, 64>;
using sha256_digest = std::array<std::byte, 32>;

sha512_digest sha512(byte_span data);
// SHA-512 over the concatenation of parts (domain-separated derivations).
sha512_digest sha512(std::initializer_list<byte_span> parts);
sha256_digest sha256(byte_span data);

}  // namespace topicswarm::crypto
