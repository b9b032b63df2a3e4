#include "crypto/hash.hpp"

#include "crypto/sodium.hpp"

#include <openssl/sha.h>

#include <topicswarm/ids.hpp>

namespace topicswarm::crypto {

sha512_digest sha512(byte_span data) { return sha512({data}); }

sha512_digest sha512(std::initializer_list<byte_span> parts) {
  ensure_sodium();
  crypto_hash_sha512_state st;
  crypto_hash_sha512_init(&st);
  for (auto p : parts) crypto_hash_sha512_update(&st, uc(p), p.size());
  sha512_digest out;
  crypto_hash_sha512_final(&st, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

sha256_digest sha256(byte_span data) {
  sha256_digest out;
  // OpenSSL's one-shot SHA256 (no allocation, SHA-NI / AVX2 when present).
  SHA256(uc(data), data.size(), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

}  // namespace topicswarm::crypto

namespace topicswarm {

topic_id topic_id_from_name(std::string_view name) {
  auto d = crypto::sha512(as_bytes(name));
  return *topic_id::from_span(byte_span(d).first(32));
}

result<node_id> parse_node_id(std::string_view text) {
  auto r = node_id::parse(text);
  if (!r) return error{errc::invalid_id, "node id: " + r.error().detail};
  return r;
}

}  // namespace topicswarm
