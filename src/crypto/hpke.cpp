#include "crypto/hpke.hpp"

#include "crypto/sodium.hpp"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <utility>

namespace topicswarm::crypto::hpke {
namespace {

// RFC 9180 §7.1, §7.2, §7.3 code points of the one suite we implement.
constexpr std::uint16_t kem_id = 0x0020;   // DHKEM(X25519, HKDF-SHA256)
constexpr std::uint16_t kdf_id = 0x0001;   // HKDF-SHA256
constexpr std::uint16_t aead_id = 0x0003;  // ChaCha20Poly1305
constexpr std::byte mode_base{0x00};       // §5 Table 1

constexpr std::byte hi(std::size_t v) { return std::byte((v >> 8) & 0xff); }
constexpr std::byte lo(std::size_t v) { return std::byte(v & 0xff); }

// A writable buffer as libsodium's output pointer. (crypto::uc is overloaded
// for const and mutable spans, so a fixed-extent span would be ambiguous.)
unsigned char* out_ptr(std::span<std::byte> b) noexcept { return reinterpret_cast<unsigned char*>(b.data()); }

// suite_id = "KEM" || I2OSP(kem_id, 2)                                 (§4.1)
constexpr std::array<std::byte, 5> kem_suite_id{std::byte{'K'}, std::byte{'E'}, std::byte{'M'}, hi(kem_id),
                                                lo(kem_id)};
// suite_id = "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2)   (§5.1)
constexpr std::array<std::byte, 10> hpke_suite_id{std::byte{'H'}, std::byte{'P'}, std::byte{'K'}, std::byte{'E'},
                                                  hi(kem_id),       lo(kem_id),       hi(kdf_id),       lo(kdf_id),
                                                  hi(aead_id),      lo(aead_id)};

constexpr std::string_view version_label = "HPKE-v1";  // §4

byte_span suite_id(detail::scope s) noexcept {
  return s == detail::scope::kem ? byte_span(kem_suite_id) : byte_span(hpke_suite_id);
}

// HMAC-SHA256 over the concatenation of `parts`, without building it.
void hmac(byte_span key, std::initializer_list<byte_span> parts, std::span<std::byte, hash_size> out) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, uc(key), key.size());
  for (auto p : parts)
    if (!p.empty()) crypto_auth_hmacsha256_update(&st, uc(p), p.size());
  crypto_auth_hmacsha256_final(&st, out_ptr(out));
  sodium_memzero(&st, sizeof st);  // the state holds key-derived pads
}

// HKDF-Expand with the info given as pieces (RFC 5869 §2.3):
//   T(0) = "", T(i) = HMAC(prk, T(i-1) || info || i), OKM = first L bytes of T(1)..T(N).
void expand_parts(byte_span prk, std::initializer_list<byte_span> info, std::span<std::byte> out) {
  const std::size_t n = (out.size() + hash_size - 1) / hash_size;
  if (n > 255) throw std::length_error("HKDF-Expand: output longer than 255*HashLen");
  crypto_auth_hmacsha256_state base;
  crypto_auth_hmacsha256_init(&base, uc(prk), prk.size());
  std::array<std::byte, hash_size> t{};
  std::size_t t_len = 0;
  for (std::size_t i = 1, done = 0; i <= n; ++i) {
    // Copying the keyed state saves re-deriving the HMAC pads per block.
    crypto_auth_hmacsha256_state st = base;
    if (t_len) crypto_auth_hmacsha256_update(&st, uc(byte_span(t)), t_len);
    for (auto p : info)
      if (!p.empty()) crypto_auth_hmacsha256_update(&st, uc(p), p.size());
    const unsigned char counter = static_cast<unsigned char>(i);
    crypto_auth_hmacsha256_update(&st, &counter, 1);
    crypto_auth_hmacsha256_final(&st, out_ptr(t));
    sodium_memzero(&st, sizeof st);
    t_len = hash_size;
    const std::size_t take = std::min(hash_size, out.size() - done);
    std::copy_n(t.begin(), take, out.begin() + static_cast<std::ptrdiff_t>(done));
    done += take;
  }
  sodium_memzero(&base, sizeof base);
  sodium_memzero(t.data(), t.size());
}

// X25519(sk, pk), refusing the all-zero output a low-order pk produces
// (RFC 9180 §7.1.4, RFC 7748 §6.1). libsodium 1.0.18 already returns -1 for
// it; the explicit check keeps the invariant independent of that.
result<void> dh(const private_key& sk, byte_span pk, std::span<std::byte, 32> out) {
  if (crypto_scalarmult(out_ptr(out), sk.uchar(), uc(pk)) != 0 || sodium_is_zero(out_ptr(out), out.size()))
    return error{errc::crypto_failure, "HPKE: X25519 produced an all-zero shared secret (low-order public key)"};
  return {};
}

// ExtractAndExpand(dh, kem_context) with kem_context = enc || pkRm (§4.1).
void extract_and_expand(byte_span dh_out, byte_span enc, byte_span pkRm, std::span<std::byte, hash_size> out) {
  auto eae_prk = detail::labeled_extract(detail::scope::kem, {}, "eae_prk", dh_out);
  const std::array<std::byte, 2> len{hi(hash_size), lo(hash_size)};
  const auto label = as_bytes("shared_secret");
  expand_parts(eae_prk, {len, as_bytes(version_label), suite_id(detail::scope::kem), label, enc, pkRm}, out);
  sodium_memzero(eae_prk.data(), eae_prk.size());
}

// Encap(pkR) with skE, pkE = DeriveKeyPair(ikmE) (§4.1).
result<sender_setup> encap_and_schedule(const public_key& pkR, byte_span info, byte_span ikmE) {
  auto eph = derive_key_pair(ikmE);
  if (!eph) return eph.error();
  secret_bytes<32> dh_out;
  if (auto r = dh(eph->sk, pkR.span(), dh_out.writable()); !r) return r.error();
  sender_setup s;
  s.enc.assign(eph->pk.span().begin(), eph->pk.span().end());  // SerializePublicKey is the identity (§7.1.1)
  extract_and_expand(dh_out.span(), s.enc, pkR.span(), s.shared_secret.writable());
  s.ctx = key_schedule(context::role::sender, s.shared_secret.span(), info);
  return s;
}

// Decap(enc, skR) (§4.1), returning the KEM shared secret.
result<secret_bytes<hash_size>> decap(byte_span enc, const key_pair& kR) {
  if (enc.size() != enc_size)
    return error{errc::crypto_failure,
                 "HPKE: encapsulated key must be " + std::to_string(enc_size) + " bytes, got " +
                     std::to_string(enc.size())};
  secret_bytes<32> dh_out;
  if (auto r = dh(kR.sk, enc, dh_out.writable()); !r) return r.error();
  secret_bytes<hash_size> shared;
  extract_and_expand(dh_out.span(), enc, kR.pk.span(), shared.writable());
  return shared;
}

}  // namespace

// ------------------------------------------------------------ building blocks

namespace detail {

void wipe(std::span<std::byte> b) noexcept { sodium_memzero(b.data(), b.size()); }

prk hkdf_extract(byte_span salt, byte_span ikm) {
  ensure_sodium();
  // RFC 5869 §2.2: an absent salt is HashLen zeros (HMAC would pad an empty
  // key to the same block, but say it explicitly).
  static constexpr std::array<std::byte, hash_size> zero_salt{};
  prk out;
  hmac(salt.empty() ? byte_span(zero_salt) : salt, {ikm}, out);
  return out;
}

void hkdf_expand(byte_span prk, byte_span info, std::span<std::byte> out) {
  ensure_sodium();
  expand_parts(prk, {info}, out);
}

prk labeled_extract(scope s, byte_span salt, std::string_view label, byte_span ikm) {
  ensure_sodium();
  // labeled_ikm = "HPKE-v1" || suite_id || label || ikm   (§4)
  static constexpr std::array<std::byte, hash_size> zero_salt{};
  prk out;
  hmac(salt.empty() ? byte_span(zero_salt) : salt, {as_bytes(version_label), suite_id(s), as_bytes(label), ikm}, out);
  return out;
}

void labeled_expand(scope s, byte_span prk, std::string_view label, byte_span info, std::span<std::byte> out) {
  ensure_sodium();
  // labeled_info = I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info   (§4)
  if (out.size() > max_export_size) throw std::length_error("HPKE LabeledExpand: L larger than 255*Nh");
  const std::array<std::byte, 2> len{hi(out.size()), lo(out.size())};
  expand_parts(prk, {len, as_bytes(version_label), suite_id(s), as_bytes(label), info}, out);
}

std::array<std::byte, 1 + 2 * hash_size> key_schedule_context(byte_span info) {
  // psk_id is always "" in mode_base, so psk_id_hash is a constant; compute it once.
  static const prk psk_id_hash = labeled_extract(scope::hpke, {}, "psk_id_hash", {});
  const prk info_hash = labeled_extract(scope::hpke, {}, "info_hash", info);
  std::array<std::byte, 1 + 2 * hash_size> ctx;
  ctx[0] = mode_base;
  std::copy(psk_id_hash.begin(), psk_id_hash.end(), ctx.begin() + 1);
  std::copy(info_hash.begin(), info_hash.end(), ctx.begin() + 1 + hash_size);
  return ctx;
}

prk key_schedule_secret(byte_span shared_secret) {
  return labeled_extract(scope::hpke, shared_secret, "secret", {});  // psk = default_psk = ""
}

}  // namespace detail

// ----------------------------------------------------------------- key pairs

result<key_pair> derive_key_pair(byte_span ikm) {
  ensure_sodium();
  // §7.1.3: dkp_prk = LabeledExtract("", "dkp_prk", ikm); sk = LabeledExpand(dkp_prk, "sk", "", Nsk).
  auto dkp_prk = detail::labeled_extract(detail::scope::kem, {}, "dkp_prk", ikm);
  key_pair kp;
  detail::labeled_expand(detail::scope::kem, dkp_prk, "sk", {}, kp.sk.writable());
  sodium_memzero(dkp_prk.data(), dkp_prk.size());
  if (crypto_scalarmult_base(kp.pk.uchar(), kp.sk.uchar()) != 0)
    return error{errc::crypto_failure, "HPKE: X25519 public key derivation failed"};
  return kp;
}

key_pair generate_key_pair() {
  ensure_sodium();
  secret_bytes<32> ikm;
  randombytes_buf(ikm.writable().data(), ikm.size());
  auto kp = derive_key_pair(ikm.span());
  // Cannot fail: a clamped X25519 scalar never yields the identity.
  return std::move(*kp);
}

result<key_pair> key_pair_from_private(const private_key& sk) {
  ensure_sodium();
  key_pair kp;
  kp.sk = sk;
  if (crypto_scalarmult_base(kp.pk.uchar(), kp.sk.uchar()) != 0)
    return error{errc::crypto_failure, "HPKE: X25519 public key derivation failed"};
  return kp;
}

// ------------------------------------------------------------------- context

context::context(context&& o) noexcept
    : key_(std::move(o.key_)),
      base_nonce_(std::move(o.base_nonce_)),
      exporter_secret_(std::move(o.exporter_secret_)),
      seq_(o.seq_),
      role_(std::exchange(o.role_, role::none)) {}

context& context::operator=(context&& o) noexcept {
  if (this != &o) {
    key_ = std::move(o.key_);
    base_nonce_ = std::move(o.base_nonce_);
    exporter_secret_ = std::move(o.exporter_secret_);
    seq_ = o.seq_;
    role_ = std::exchange(o.role_, role::none);  // a moved-from context refuses to seal or open
  }
  return *this;
}

std::array<std::byte, nonce_size> context::compute_nonce() const noexcept {
  // nonce = base_nonce XOR I2OSP(seq, Nn)   (§5.2); seq fills the low 8 bytes.
  std::array<std::byte, nonce_size> n;
  std::copy(base_nonce_.span().begin(), base_nonce_.span().end(), n.begin());
  for (std::size_t i = 0; i < 8; ++i) n[nonce_size - 1 - i] ^= std::byte((seq_ >> (8 * i)) & 0xff);
  return n;
}

result<void> context::seal_to(byte_span aad, byte_span plaintext, std::span<std::byte> out) {
  if (role_ != role::sender) return error{errc::invalid_argument, "HPKE: seal needs a sender context"};
  // §5.2 IncrementSeq: fail rather than wrap, which would reuse a nonce.
  if (seq_ == std::numeric_limits<std::uint64_t>::max())
    return error{errc::crypto_failure, "HPKE: message limit reached (sequence number exhausted)"};
  const auto nonce = compute_nonce();
  unsigned long long clen = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out_ptr(out), &clen, uc(plaintext), plaintext.size(), uc(aad), aad.size(),
                                            nullptr, uc(byte_span(nonce)), uc(key_.span()));
  ++seq_;
  return {};
}

result<bytes> context::seal(byte_span aad, byte_span plaintext) {
  bytes out(plaintext.size() + tag_size);
  if (auto r = seal_to(aad, plaintext, out); !r) return r.error();
  return out;
}

result<bytes> context::open(byte_span aad, byte_span ciphertext) {
  if (role_ != role::receiver) return error{errc::invalid_argument, "HPKE: open needs a receiver context"};
  if (seq_ == std::numeric_limits<std::uint64_t>::max())
    return error{errc::crypto_failure, "HPKE: message limit reached (sequence number exhausted)"};
  if (ciphertext.size() < tag_size) return error{errc::record_decryption_failed, "HPKE open failed"};
  const auto nonce = compute_nonce();
  bytes out(ciphertext.size() - tag_size);
  unsigned long long mlen = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(out_ptr(out), &mlen, nullptr, uc(ciphertext),
                                                ciphertext.size(), uc(aad), aad.size(), uc(byte_span(nonce)),
                                                uc(key_.span())) != 0)
    return error{errc::record_decryption_failed, "HPKE open failed"};  // seq unchanged (§5.2 ContextR.Open)
  ++seq_;
  return out;
}

bytes context::export_secret(byte_span exporter_context, std::size_t length) const {
  if (length > max_export_size) throw std::length_error("HPKE Export: L larger than 255*Nh (RFC 9180 §5.3)");
  bytes out(length);
  detail::labeled_expand(detail::scope::hpke, exporter_secret_.span(), "sec", exporter_context, out);
  return out;
}

context key_schedule(context::role r, byte_span shared_secret, byte_span info) {
  ensure_sodium();
  // §5.1 KeySchedule<ROLE>(mode_base, shared_secret, info, "", "").
  const auto ksc = detail::key_schedule_context(info);
  auto secret = detail::key_schedule_secret(shared_secret);
  context c;
  detail::labeled_expand(detail::scope::hpke, secret, "key", ksc, c.key_.writable());
  detail::labeled_expand(detail::scope::hpke, secret, "base_nonce", ksc, c.base_nonce_.writable());
  detail::labeled_expand(detail::scope::hpke, secret, "exp", ksc, c.exporter_secret_.writable());
  sodium_memzero(secret.data(), secret.size());
  c.seq_ = 0;
  c.role_ = r;
  return c;
}

// --------------------------------------------------------------------- setup

result<sender_setup> setup_base_sender(const public_key& pkR, byte_span info) {
  ensure_sodium();
  // GenerateKeyPair() = DeriveKeyPair(random(Nsk)) (§4).
  secret_bytes<32> ikmE;
  randombytes_buf(ikmE.writable().data(), ikmE.size());
  return encap_and_schedule(pkR, info, ikmE.span());
}

result<sender_setup> setup_base_sender_deterministic(const public_key& pkR, byte_span info, byte_span ikmE) {
  ensure_sodium();
  return encap_and_schedule(pkR, info, ikmE);
}

result<context> setup_base_receiver(byte_span enc, const key_pair& kR, byte_span info) {
  ensure_sodium();
  auto shared = decap(enc, kR);
  if (!shared) return shared.error();
  return key_schedule(context::role::receiver, shared->span(), info);
}

result<bytes> seal_base(const public_key& pkR, byte_span info, byte_span aad, byte_span plaintext) {
  auto s = setup_base_sender(pkR, info);
  if (!s) return s.error();
  // One buffer, enc || ct, written in place.
  bytes out(enc_size + plaintext.size() + tag_size);
  std::copy(s->enc.begin(), s->enc.end(), out.begin());
  if (auto r = s->ctx.seal_to(aad, plaintext, std::span<std::byte>(out).subspan(enc_size)); !r) return r.error();
  return out;
}

result<bytes> open_base(const key_pair& kR, byte_span info, byte_span aad, byte_span enc_and_ciphertext) {
  if (enc_and_ciphertext.size() < enc_size)
    return error{errc::crypto_failure, "HPKE: input shorter than the " + std::to_string(enc_size) +
                                           "-byte encapsulated key (" + std::to_string(enc_and_ciphertext.size()) +
                                           " bytes)"};
  auto ctx = setup_base_receiver(enc_and_ciphertext.first(enc_size), kR, info);
  if (!ctx) return ctx.error();
  return ctx->open(aad, enc_and_ciphertext.subspan(enc_size));
}

}  // namespace topicswarm::crypto::hpke
