// The identity file format behind identity::load() and identity::save(), as
// pure functions on text: the loader reads the file (and checks its mode),
// then hands the bytes here, so fuzz/identity_file_fuzz.cpp drives exactly
// the parser production runs without touching the disk.
//
// Format (text, so it can be inspected and backed up):
//   topicswarm-identity v1
//   seed <64 hex digits>
//   id <64 hex digits>        (informative; checked against the seed on load)
// Empty lines are skipped; a field given twice, or any other field, is refused.
#pragma once

#include <topicswarm/error.hpp>
#include <topicswarm/identity.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace topicswarm::crypto {

// An identity file is a few lines (under 200 bytes as written); anything
// larger is not one of ours and is refused before it is parsed.
inline constexpr std::size_t max_identity_file_size = 511;

// Parses the content of an identity file. `origin` (the path) prefixes every
// error detail. Errors: identity_malformed.
result<identity> parse_identity_file(std::string_view text, std::string_view origin);

// The text save() writes. It holds the secret seed: the caller wipes it
// (sodium_memzero) once written.
std::string format_identity_file(const identity& ident);

}  // namespace topicswarm::crypto
