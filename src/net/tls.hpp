// TLS 1.3 credentials made from a node's Ed25519 key, and peer authentication.
//
// Every node presents a self-signed X.509 certificate whose subject public key
// is its node key. Certificate chains mean nothing here: the TLS 1.3
// CertificateVerify message proves the peer holds the private key of the
// certificate's public key, and that key *is* the peer's node id. So the
// context accepts any certificate during the handshake and the transport
// compares the key afterwards (the dialler with the id it dialled; the
// acceptor learns the id from it).
#pragma once

#include "net/alpn.hpp"
#include "net/hello.hpp"

#include <topicswarm/error.hpp>
#include <topicswarm/identity.hpp>
#include <topicswarm/ids.hpp>

#include <asio/ssl/context.hpp>

#include <optional>
#include <string_view>

namespace topicswarm::net {

// A TLS 1.3-only context for both roles (dial and accept) that presents a
// certificate for `keys`, requires one from the peer, offers `alpn_protocol`
// (alpn.hpp) when dialling and, accepting, selects `alpn_protocol` or else
// `alpn_probe_protocol` (a server refuses clients that offer neither).
result<asio::ssl::context> make_tls_context(const keypair& keys);

// Makes a client connection offer `alpn_probe_protocol` only (a dial-back
// probe). Call before the handshake.
result<void> offer_probe_protocol(SSL* ssl);

// After a completed handshake: the peer's node id (its certificate's Ed25519
// key), or an error if the certificate is missing, not Ed25519, or the
// negotiated ALPN protocol is not `protocol`.
result<node_id> authenticated_peer(SSL* ssl, std::string_view protocol = alpn_protocol);
// Whether the handshake negotiated `alpn_probe_protocol`.
bool negotiated_probe(SSL* ssl);

}  // namespace topicswarm::net
