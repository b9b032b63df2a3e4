// The address encoding shared by catalog entries and chain records
// (docs/PROTOCOL.md §14): family u8 (4 | 6) || ip (4 | 16) || port be16.
#pragma once

#include "core/codec.hpp"

#include <topicswarm/endpoint.hpp>

#include <optional>

namespace topicswarm::discovery {

// Whether an address may be put in an entry or a chain record: a port, and
// an ip that is not unspecified (0.0.0.0, ::) — nobody can dial those.
bool encodable(const endpoint& e) noexcept;
void encode_endpoint(core::byte_writer& w, const endpoint& e);
// Nothing on a bad family, port 0, an unspecified ip or a short input (the
// reader then reports !ok() when it was short).
std::optional<endpoint> decode_endpoint(core::byte_reader& r);

}  // namespace topicswarm::discovery
