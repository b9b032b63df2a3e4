// ALPN (RFC 7301): our protocol id, its wire form, and the server's choice
// from the list a client offers. Pure functions, no OpenSSL: the TLS context
// (tls.cpp) calls them from its callbacks, and fuzz/alpn_fuzz.cpp feeds them
// the untrusted ClientHello bytes directly.
#pragma once

#include "net/hello.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace topicswarm::net {

// ALPN protocol id: our protocol and its major version (docs/PROTOCOL.md
// §10.1). Peers of another major version fail the TLS handshake; the minor
// version travels in the hello.
inline constexpr std::string_view alpn_protocol = "topicswarm/2";
static_assert(alpn_protocol.size() == 12 && alpn_protocol.back() - '0' == protocol_version_current.major,
              "the ALPN id names the hello's major version");

// ALPN id of a dial-back probe (docs/PROTOCOL.md §19): a connection that
// carries one frame proving an address reaches its node, then closes. It is
// never a peer's connection (no hello, no duplicate rule, no frames routed),
// so a probe from a peer we are connected to leaves that connection alone.
inline constexpr std::string_view alpn_probe_protocol = "topicswarm-probe/2";

// RFC 7301 §3.1: a protocol name is 1 to 255 bytes.
inline constexpr std::size_t max_alpn_name = 255;

// The ProtocolNameList wire form of a single name: one length byte, then the
// name. Empty if `protocol` is empty or longer than max_alpn_name.
std::string alpn_wire(std::string_view protocol);

// The server side of ALPN: `offered` is the client's ProtocolNameList as it
// arrived (each entry a length byte and that many bytes). Returns the bytes
// of the entry equal to `wanted`, as a view into `offered` (OpenSSL needs the
// selected name to point into its input), or nothing if the client did not
// offer it. A malformed list (an empty name, or an entry running past the
// end) selects nothing, wherever the bad entry is: RFC 7301 §3.1 forbids
// both, and a peer that sends them is not one of ours.
std::optional<std::span<const unsigned char>> select_alpn(std::span<const unsigned char> offered,
                                                          std::string_view wanted);

// Whether the protocol the handshake negotiated (empty if none) is `wanted`.
bool alpn_matches(std::span<const unsigned char> negotiated, std::string_view wanted) noexcept;

}  // namespace topicswarm::net
