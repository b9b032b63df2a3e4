// libsodium glue: one-time initialisation and pointer casts for std::byte.
#pragma once

#include <topicswarm/bytes.hpp>

#include <sodium.h>

namespace topicswarm::crypto {

// Initialises libsodium once (thread-safe); aborts if the library cannot start,
// since no cryptography can be trusted then.
void ensure_sodium();

inline const unsigned char* uc(byte_span b) noexcept { return reinterpret_cast<const unsigned char*>(b.data()); }
inline unsigned char* uc(std::span<std::byte> b) noexcept { return reinterpret_cast<unsigned char*>(b.data()); }

}  // namespace topicswarm::crypto
