// HPKE (RFC 9180) base mode for exactly one suite:
//   KEM  DHKEM(X25519, HKDF-SHA256)  kem_id  0x0020
//   KDF  HKDF-SHA256                 kdf_id  0x0001
//   AEAD ChaCha20-Poly1305           aead_id 0x0003
// Neither OpenSSL 3.0 nor libsodium 1.0.18 ships HPKE (DESIGN.md §2), so it is
// built here on libsodium's X25519, HMAC-SHA256 and ChaCha20-Poly1305-IETF and
// proven against the RFC's Appendix A.2.1 vectors (tests/unit/hpke_test.cpp).
//
// Only mode_base exists: no PSK, no Auth. Topic records are encrypted to a key
// everyone who knows the topic and secret can derive; sender authentication
// comes from the record signature, not from HPKE.
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/error.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace topicswarm::crypto::hpke {

struct x25519_sk_tag {};
struct x25519_pk_tag {};
// A private key is kept exactly as DeriveKeyPair outputs it (unclamped, as the
// RFC A.2.1 skEm/skRm values are); X25519 clamps when it uses the scalar.
using private_key = fixed_bytes<32, x25519_sk_tag>;
using public_key = fixed_bytes<32, x25519_pk_tag>;

// RFC 9180 §7.1 (Nenc), §7.3 (Nt), §7.3 (Nk, Nn), §7.2 (Nh).
inline constexpr std::size_t enc_size = 32;
inline constexpr std::size_t tag_size = 16;
inline constexpr std::size_t key_size = 32;
inline constexpr std::size_t nonce_size = 12;
inline constexpr std::size_t hash_size = 32;
// §5.3: Export's L is at most 255*Nh.
inline constexpr std::size_t max_export_size = 255 * hash_size;

namespace detail {
// sodium_memzero, kept out of this header so it does not pull in <sodium.h>.
void wipe(std::span<std::byte> b) noexcept;
}  // namespace detail

// Fixed-size secret bytes that are wiped when they die (and when moved from).
template <std::size_t N>
class secret_bytes {
 public:
  secret_bytes() noexcept : b_{} {}
  secret_bytes(const secret_bytes&) noexcept = default;
  secret_bytes& operator=(const secret_bytes&) noexcept = default;
  secret_bytes(secret_bytes&& o) noexcept : b_(o.b_) { detail::wipe(o.b_); }
  secret_bytes& operator=(secret_bytes&& o) noexcept {
    if (this != &o) {
      b_ = o.b_;
      detail::wipe(o.b_);
    }
    return *this;
  }
  ~secret_bytes() { detail::wipe(b_); }

  static constexpr std::size_t size() noexcept { return N; }
  byte_span span() const noexcept { return b_; }
  std::span<std::byte, N> writable() noexcept { return b_; }
  const std::byte* data() const noexcept { return b_.data(); }

 private:
  std::array<std::byte, N> b_;
};

struct key_pair {
  private_key sk;
  public_key pk;
  ~key_pair() { detail::wipe(sk.writable()); }
};

// RFC 9180 §7.1.3 DeriveKeyPair for X25519. `ikm` SHOULD carry at least 32
// bytes of entropy (the RFC's advice; not enforced, the vectors use 32).
result<key_pair> derive_key_pair(byte_span ikm);
// GenerateKeyPair() = DeriveKeyPair(random(Nsk)) (RFC 9180 §4).
key_pair generate_key_pair();
// The pair for an existing private key (pk = X25519 base-point multiple).
result<key_pair> key_pair_from_private(const private_key& sk);

namespace detail {
struct context_test_access;  // defined only by the unit tests
}  // namespace detail

// An HPKE encryption context (RFC 9180 §5.2): one direction, one role.
// Move-only: a copy would share the sequence number and so reuse nonces.
class context {
 public:
  enum class role : std::uint8_t { none, sender, receiver };

  context() noexcept = default;  // an empty context; refuses everything
  context(context&& o) noexcept;
  context& operator=(context&& o) noexcept;
  context(const context&) = delete;
  context& operator=(const context&) = delete;
  ~context() = default;  // secret_bytes members wipe themselves

  // ContextS.Seal: ciphertext || 16-byte tag, then seq += 1. Sender only
  // (errc::invalid_argument otherwise); errc::crypto_failure once the sequence
  // number is exhausted.
  result<bytes> seal(byte_span aad, byte_span plaintext);
  // ContextR.Open: plaintext, then seq += 1. Receiver only. A failed open
  // (tampered, truncated, wrong key, out of order) is
  // errc::record_decryption_failed and leaves seq unchanged.
  result<bytes> open(byte_span aad, byte_span ciphertext);
  // Context.Export (§5.3); either role. `length` must be <= max_export_size:
  // it is chosen by the caller, never by a peer, so a larger one is a
  // programming error and throws std::length_error.
  bytes export_secret(byte_span exporter_context, std::size_t length) const;

  role get_role() const noexcept { return role_; }
  // Messages sealed or opened so far (the next nonce's sequence number).
  std::uint64_t sequence() const noexcept { return seq_; }

  // Key schedule outputs, for the RFC vector tests.
  byte_span key() const noexcept { return key_.span(); }
  byte_span base_nonce() const noexcept { return base_nonce_.span(); }
  byte_span exporter_secret() const noexcept { return exporter_secret_.span(); }

 private:
  friend struct detail::context_test_access;
  friend context key_schedule(role r, byte_span shared_secret, byte_span info);
  friend result<bytes> seal_base(const public_key&, byte_span, byte_span, byte_span);

  // Seals into `out` (plaintext.size() + tag_size bytes).
  result<void> seal_to(byte_span aad, byte_span plaintext, std::span<std::byte> out);
  std::array<std::byte, nonce_size> compute_nonce() const noexcept;

  secret_bytes<key_size> key_;
  secret_bytes<nonce_size> base_nonce_;
  secret_bytes<hash_size> exporter_secret_;
  // §5.2 allows a sequence number shorter than Nn: 2^64 messages is beyond
  // any use, and the overflow check still applies at 2^64 - 1.
  std::uint64_t seq_ = 0;
  role role_ = role::none;
};

// KeySchedule<ROLE>(mode_base, shared_secret, info, "", "") (RFC 9180 §5.1).
context key_schedule(context::role r, byte_span shared_secret, byte_span info);

struct sender_setup {
  bytes enc;  // enc_size bytes: the ephemeral public key
  context ctx;
  // The KEM shared secret; exposed for the RFC vector tests only.
  secret_bytes<hash_size> shared_secret;
};

// SetupBaseS (RFC 9180 §5.1.1) with a fresh random ephemeral key.
// errc::crypto_failure if pkR is a low-order point (all-zero DH output).
result<sender_setup> setup_base_sender(const public_key& pkR, byte_span info);
// The same with the ephemeral key derived from `ikmE` (§7.1.3); for test
// vectors and reproducible tests. Never reuse an ikmE in production.
result<sender_setup> setup_base_sender_deterministic(const public_key& pkR, byte_span info, byte_span ikmE);
// SetupBaseR (§5.1.1). Uses kR.pk as pk(skR) (RFC 9180 §4 allows the stored
// key). errc::crypto_failure if enc is not enc_size bytes or gives an
// all-zero DH output.
result<context> setup_base_receiver(byte_span enc, const key_pair& kR, byte_span info);

// Single-shot SealBase / OpenBase (RFC 9180 §6.1). The sealed form is one
// buffer: enc (32 bytes) || ciphertext (plaintext + 16 bytes).
result<bytes> seal_base(const public_key& pkR, byte_span info, byte_span aad, byte_span plaintext);
// errc::crypto_failure if the input is shorter than enc or the enc is
// unusable; errc::record_decryption_failed if authentication fails.
result<bytes> open_base(const key_pair& kR, byte_span info, byte_span aad, byte_span enc_and_ciphertext);

// Building blocks, exposed for tests against RFC 5869 and RFC 9180.
namespace detail {

using prk = std::array<std::byte, hash_size>;

// HKDF-Extract(salt, ikm) with SHA-256 (RFC 5869 §2.2); an empty salt means
// Nh zero bytes.
prk hkdf_extract(byte_span salt, byte_span ikm);
// HKDF-Expand(prk, info, out.size()) (RFC 5869 §2.3); out.size() <= 255*Nh.
void hkdf_expand(byte_span prk, byte_span info, std::span<std::byte> out);

// Which suite_id the Labeled* functions bind (RFC 9180 §4.1 and §5.1).
enum class scope { kem, hpke };
// RFC 9180 §4 LabeledExtract / LabeledExpand.
prk labeled_extract(scope s, byte_span salt, std::string_view label, byte_span ikm);
void labeled_expand(scope s, byte_span prk, std::string_view label, byte_span info, std::span<std::byte> out);

// mode_base || psk_id_hash || info_hash (RFC 9180 §5.1), 65 bytes.
std::array<std::byte, 1 + 2 * hash_size> key_schedule_context(byte_span info);
// secret = LabeledExtract(shared_secret, "secret", psk = "") (§5.1).
prk key_schedule_secret(byte_span shared_secret);

}  // namespace detail

}  // namespace topicswarm::crypto::hpke
