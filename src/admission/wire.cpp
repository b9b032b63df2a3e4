// The admission frame bodies (docs/PROTOCOL.md §12) and the proof MAC.
#include "admission/admission.hpp"

#include "crypto/hash.hpp"
#include "crypto/sodium.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace topicswarm::admission {

namespace {
constexpr std::string_view key_label = "topicswarm/admission-key/v2";
constexpr std::string_view proof_label = "topicswarm/admission/v2";
}  // namespace

admission_key admission_key_for(const topic_id& wire_topic, const secret_hash& key) {
  const auto d = crypto::sha512({as_bytes(key_label), wire_topic.span(), key.span()});
  admission_key k;
  std::memcpy(k.data(), d.data(), k.size());
  return k;
}

mac proof_for(const admission_key& key, const exporter& ex, const node_id& prover, const node_id& verifier,
              const topic_id& wire_topic) {
  crypto::ensure_sodium();
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, crypto::uc(key.span()), key.size());
  crypto_auth_hmacsha256_update(&st, crypto::uc(as_bytes(proof_label)), proof_label.size());
  crypto_auth_hmacsha256_update(&st, crypto::uc(ex.span()), ex.size());
  crypto_auth_hmacsha256_update(&st, crypto::uc(prover.span()), prover.size());
  crypto_auth_hmacsha256_update(&st, crypto::uc(verifier.span()), verifier.size());
  crypto_auth_hmacsha256_update(&st, crypto::uc(wire_topic.span()), wire_topic.size());
  mac out{};
  crypto_auth_hmacsha256_final(&st, reinterpret_cast<unsigned char*>(out.data()));
  sodium_memzero(&st, sizeof st);
  return out;
}

bool verify_proof(const admission_key& key, const exporter& ex, const node_id& prover, const node_id& verifier,
                  const topic_id& wire_topic, const mac& proof) {
  const mac expected = proof_for(key, ex, prover, verifier, wire_topic);
  return crypto_verify_32(reinterpret_cast<const unsigned char*>(expected.data()),
                          reinterpret_cast<const unsigned char*>(proof.data())) == 0;
}

namespace wire {

void encode_to(bytes& out, const message& m) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, proof>) {
          out.push_back(std::byte{proof_type});
          out.insert(out.end(), v.topic.span().begin(), v.topic.span().end());
          out.insert(out.end(), v.tag.begin(), v.tag.end());
        } else {
          out.push_back(std::byte{refuse_type});
          out.insert(out.end(), v.topic.span().begin(), v.topic.span().end());
        }
      },
      m);
}

bytes encode(const message& m) {
  bytes out;
  out.reserve(proof_size);
  encode_to(out, m);
  return out;
}

result<message> decode(byte_span body) {
  if (body.empty()) return error{errc::malformed_message, "empty admission frame"};
  const auto type = std::to_integer<std::uint8_t>(body[0]);
  const auto want = type == proof_type ? proof_size : type == refuse_type ? refuse_size : 0;
  if (want == 0) return error{errc::malformed_message, "unknown admission message type " + std::to_string(type)};
  if (body.size() != want)
    return error{errc::malformed_message, "admission message of type " + std::to_string(type) + " has " +
                                              std::to_string(body.size()) + " bytes (want " + std::to_string(want) +
                                              ")"};
  auto topic = topic_id::from_span(body.subspan(1, 32));
  if (type == refuse_type) return message{refuse{*topic}};
  proof p{*topic, {}};
  std::copy_n(body.begin() + 33, p.tag.size(), p.tag.begin());
  return message{p};
}

}  // namespace wire
}  // namespace topicswarm::admission
