// The topic key and what derives from it before any window: the Argon2id
// secret hash, raw keys, the open-topic key and the wire topic id
// (docs/PROTOCOL.md §1).
#include <topicswarm/record.hpp>

#include "crypto/hash.hpp"
#include "crypto/sodium.hpp"

#include <string>

namespace topicswarm {

namespace {

constexpr std::string_view secret_salt_label = "topicswarm/secret-salt/v2";
constexpr std::string_view open_topic_label = "topicswarm/open-topic/v2";
constexpr std::string_view wire_topic_label = "topicswarm/wire-topic/v2";

static_assert(crypto_pwhash_SALTBYTES == 16, "the salt is the first 16 bytes of a SHA-512");

secret_hash first_32(const crypto::sha512_digest& d) { return *secret_hash::from_span(byte_span(d).first(32)); }

}  // namespace

result<secret_hash> hash_secret(const topic_id& topic, byte_span secret, const secret_hash_params& params) {
  if (secret.empty()) return open_topic_key(topic);
  crypto::ensure_sodium();
  if (params.ops_limit < crypto_pwhash_OPSLIMIT_MIN || params.ops_limit > crypto_pwhash_OPSLIMIT_MAX)
    return error{errc::secret_hash_failed, "Argon2id ops limit " + std::to_string(params.ops_limit) +
                                               " is outside libsodium's range [" +
                                               std::to_string(crypto_pwhash_OPSLIMIT_MIN) + ", " +
                                               std::to_string(crypto_pwhash_OPSLIMIT_MAX) + "]"};
  if (params.mem_limit < crypto_pwhash_MEMLIMIT_MIN || params.mem_limit > crypto_pwhash_MEMLIMIT_MAX)
    return error{errc::secret_hash_failed, "Argon2id memory limit " + std::to_string(params.mem_limit) +
                                               " bytes is outside libsodium's range [" +
                                               std::to_string(crypto_pwhash_MEMLIMIT_MIN) + ", " +
                                               std::to_string(std::size_t{crypto_pwhash_MEMLIMIT_MAX}) + "]"};
  if (secret.size() > crypto_pwhash_PASSWD_MAX)
    return error{errc::secret_hash_failed, "the secret is too long for Argon2id"};
  auto salt_d = crypto::sha512({as_bytes(secret_salt_label), topic.span()});
  secret_hash out;
  int rc = ::crypto_pwhash(out.uchar(), out.size(), reinterpret_cast<const char*>(secret.data()),
                           secret.size(), crypto::uc(byte_span(salt_d)), params.ops_limit, params.mem_limit,
                           crypto_pwhash_ALG_ARGON2ID13);
  if (rc != 0)
    return error{errc::secret_hash_failed, "Argon2id failed (could not allocate " +
                                               std::to_string(params.mem_limit >> 20) + " MiB?)"};
  return out;
}

result<secret_hash> secret_hash_from_key(byte_span key) {
  if (key.size() != secret_hash::size())
    return error{errc::invalid_argument,
                 "a raw topic key is 32 bytes, got " + std::to_string(key.size())};
  return *secret_hash::from_span(key);
}

secret_hash open_topic_key(const topic_id& topic) {
  return first_32(crypto::sha512({as_bytes(open_topic_label), topic.span()}));
}

topic_id wire_topic_id(const topic_id& topic, const secret_hash& secret) {
  auto d = crypto::sha512({as_bytes(wire_topic_label), topic.span(), secret.span()});
  return *topic_id::from_span(byte_span(d).first(32));
}

}  // namespace topicswarm
