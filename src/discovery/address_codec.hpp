// The address encoding shared by peer entries and chain records
// (issue 14 spec §2 and §5): family u8 (4 | 6) || ip (4 | 16 bytes, network
// order) || port be16.
#pragma once

#include "core/codec.hpp"

#include <topicswarm/endpoint.hpp>

#include <optional>

namespace topicswarm::discovery {

// Whether an address may be written into an entry or a chain record: a known
// family, a port, and an ip that names a host (not 0.0.0.0 or ::). Nobody can
// dial the others, so a signer refuses them and a reader drops them.
bool encodable(const endpoint& e) noexcept;

// Appends e's encoding (7 bytes for IPv4, 19 for IPv6). Callers check
// encodable() first; this writes whatever it is given.
void encode_endpoint(core::byte_writer& w, const endpoint& e);

// Reads one address. Nothing on an unknown family, port 0, an unspecified ip,
// or a short input (the reader then also reports !ok()).
std::optional<endpoint> decode_endpoint(core::byte_reader& r);

}  // namespace topicswarm::discovery
