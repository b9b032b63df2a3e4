#include "net/tls.hpp"

#include "net/alpn.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <memory>
#include <span>
#include <string>

namespace topicswarm::net {
namespace {

struct pkey_free { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct x509_free { void operator()(X509* p) const { X509_free(p); } };
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

// OpenSSL's server-side ALPN callback: the choice itself is select_alpn()
// (alpn.hpp), which the fuzz target exercises on the same bytes.
int select_alpn_cb(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                   void*) {
  const std::span<const unsigned char> offered(in, inlen);
  auto chosen = select_alpn(offered, alpn_protocol);
  if (!chosen) chosen = select_alpn(offered, alpn_probe_protocol);
  if (!chosen) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = chosen->data();
  *outlen = static_cast<unsigned char>(chosen->size());  // at most max_alpn_name (255)
  return SSL_TLSEXT_ERR_OK;
}

// Chains are meaningless for self-certified keys: accept any certificate here
// and authenticate the key after the handshake (see tls.hpp).
int accept_any_certificate(int, X509_STORE_CTX*) { return 1; }

std::string openssl_error(const char* what) { return std::string(what) + " failed (OpenSSL)"; }

}  // namespace

result<asio::ssl::context> make_tls_context(const keypair& keys) {
  const auto seed = keys.seed();
  pkey_ptr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                             reinterpret_cast<const unsigned char*>(seed.data()), seed.size()));
  if (!pkey) return {errc::crypto_failure, openssl_error("loading the Ed25519 node key")};

  x509_ptr cert(X509_new());
  if (!cert) return {errc::crypto_failure, openssl_error("X509_new")};
  X509_set_version(cert.get(), 2);
  std::array<unsigned char, 8> serial{};
  RAND_bytes(serial.data(), static_cast<int>(serial.size()));
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  // Validity is not checked by peers (keys, not certificates, are trusted);
  // a wide window keeps strict stacks and skewed clocks happy.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -24L * 3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 20L * 365 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("topicswarm"), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_set_pubkey(cert.get(), pkey.get()) != 1) return {errc::crypto_failure, openssl_error("X509_set_pubkey")};
  // Ed25519 signs the whole message: no separate digest (md must be null).
  if (X509_sign(cert.get(), pkey.get(), nullptr) <= 0) return {errc::crypto_failure, openssl_error("X509_sign")};

  asio::ssl::context ctx(asio::ssl::context::tls);
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_use_certificate(native, cert.get()) != 1 || SSL_CTX_use_PrivateKey(native, pkey.get()) != 1 ||
      SSL_CTX_check_private_key(native) != 1)
    return {errc::crypto_failure, openssl_error("installing the node certificate")};
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any_certificate);
  const std::string wire = alpn_wire(alpn_protocol);
  if (SSL_CTX_set_alpn_protos(native, reinterpret_cast<const unsigned char*>(wire.data()),
                              static_cast<unsigned>(wire.size())) != 0)
    return {errc::crypto_failure, openssl_error("SSL_CTX_set_alpn_protos")};
  SSL_CTX_set_alpn_select_cb(native, select_alpn_cb, nullptr);
  return ctx;
}

result<void> offer_probe_protocol(SSL* ssl) {
  const std::string wire = alpn_wire(alpn_probe_protocol);
  if (SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size())) !=
      0)
    return {errc::crypto_failure, openssl_error("SSL_set_alpn_protos")};
  return {};
}

namespace {
std::span<const unsigned char> negotiated(SSL* ssl) {
  const unsigned char* proto = nullptr;
  unsigned int proto_len = 0;
  SSL_get0_alpn_selected(ssl, &proto, &proto_len);
  return {proto, proto_len};
}
}  // namespace

bool negotiated_probe(SSL* ssl) { return alpn_matches(negotiated(ssl), alpn_probe_protocol); }

result<node_id> authenticated_peer(SSL* ssl, std::string_view protocol) {
  if (!alpn_matches(negotiated(ssl), protocol))
    return {errc::handshake_failed, "peer did not negotiate ALPN \"" + std::string(protocol) + "\""};
  x509_ptr cert(SSL_get1_peer_certificate(ssl));
  if (!cert) return {errc::handshake_failed, "peer presented no certificate"};
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  if (!key || EVP_PKEY_id(key) != EVP_PKEY_ED25519)
    return {errc::handshake_failed, "peer certificate key is not Ed25519"};
  std::array<std::byte, 32> raw{};
  std::size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 || len != raw.size())
    return {errc::handshake_failed, "cannot read the peer's Ed25519 key"};
  return *node_id::from_span(raw);
}

}  // namespace topicswarm::net
