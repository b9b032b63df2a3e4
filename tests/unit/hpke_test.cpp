// HPKE base mode against RFC 9180 Appendix A.2.1
// (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, mode 0), plus
// HKDF against RFC 5869 and behaviour on bad input.
#include "crypto/hpke.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace topicswarm::crypto::hpke::detail {
// Reaches the context's private nonce computation and sequence number.
struct context_test_access {
  static std::array<std::byte, nonce_size> nonce(const context& c) { return c.compute_nonce(); }
  static void set_sequence(context& c, std::uint64_t seq) { c.seq_ = seq; }
};
}  // namespace topicswarm::crypto::hpke::detail

namespace topicswarm::crypto::hpke {
namespace {

using detail::context_test_access;

bytes hex(std::string_view h) {
  auto r = from_hex(h);
  EXPECT_TRUE(r) << h;
  return r ? *r : bytes{};
}

template <class T>
T fixed(std::string_view h) {
  auto r = T::parse(h);
  EXPECT_TRUE(r) << h;
  return r ? *r : T{};
}

// ---- RFC 9180 A.2.1 Base Setup Information (copied from the RFC text) ----
namespace a21 {
constexpr std::string_view info = "4f6465206f6e2061204772656369616e2055726e";
constexpr std::string_view ikmE = "909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b";
constexpr std::string_view pkEm = "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a";
constexpr std::string_view skEm = "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600";
constexpr std::string_view ikmR = "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df";
constexpr std::string_view pkRm = "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a";
constexpr std::string_view skRm = "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb";
constexpr std::string_view enc = "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a";
constexpr std::string_view shared_secret = "0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7";
constexpr std::string_view key_schedule_context =
    "00431df6cd95e11ff49d7013563baf7f11588c75a6611ee2a4404a49306ae4cfc5"
    "b69c5718a60cc5876c358d3f7fc31ddb598503f67be58ea1e798c0bb19eb9796";
constexpr std::string_view secret = "5b9cd775e64b437a2335cf499361b2e0d5e444d5cb41a8a53336d8fe402282c6";
constexpr std::string_view key = "ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91";
constexpr std::string_view base_nonce = "5c4d98150661b848853b547f";
constexpr std::string_view exporter_secret = "a3b010d4994890e2c6968a36f64470d3c824c8f5029942feb11e7a74b2921922";

// A.2.1.1 Encryptions: every listed one has the same pt.
constexpr std::string_view pt = "4265617574792069732074727574682c20747275746820626561757479";
struct encryption {
  std::uint64_t seq;
  std::string_view aad, nonce, ct;
};
const std::vector<encryption> encryptions = {
    {0, "436f756e742d30", "5c4d98150661b848853b547f",
     "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28"},
    {1, "436f756e742d31", "5c4d98150661b848853b547e",
     "6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e85285337cc95ba5f59992dc98c"},
    {2, "436f756e742d32", "5c4d98150661b848853b547d",
     "71146bd6795ccc9c49ce25dda112a48f202ad220559502cef1f34271e0cb4b02b4f10ecac6f48c32f878fae86b"},
    {4, "436f756e742d34", "5c4d98150661b848853b547b",
     "63357a2aa291f5a4e5f27db6baa2af8cf77427c7c1a909e0b37214dd47db122bb153495ff0b02e9e54a50dbe16"},
    {255, "436f756e742d323535", "5c4d98150661b848853b5480",
     "18ab939d63ddec9f6ac2b60d61d36a7375d2070c9b683861110757062c52b8880a5f6b3936da9cd6c23ef2a95c"},
    {256, "436f756e742d323536", "5c4d98150661b848853b557f",
     "7a4a13e9ef23978e2c520fd4d2e757514ae160cd0cd05e556ef692370ca53076214c0c40d4c728d6ed9e727a5b"},
};

// A.2.1.2 Exported Values.
struct exported {
  std::string_view context;
  std::size_t length;
  std::string_view value;
};
const std::vector<exported> exports = {
    {"", 32, "4bbd6243b8bb54cec311fac9df81841b6fd61f56538a775e7c80a9f40160606e"},
    {"00", 32, "8c1df14732580e5501b00f82b10a1647b40713191b7c1240ac80e2b68808ba69"},
    {"54657374436f6e74657874", 32, "5acb09211139c43b3090489a9da433e8a30ee7188ba8b0a9a1ccf0c229283e53"},
};
}  // namespace a21

key_pair receiver_keys() {
  auto kp = derive_key_pair(hex(a21::ikmR));
  EXPECT_TRUE(kp);
  return *kp;
}

sender_setup vector_sender() {
  auto kR = receiver_keys();
  auto s = setup_base_sender_deterministic(kR.pk, hex(a21::info), hex(a21::ikmE));
  EXPECT_TRUE(s) << s.error().message();
  return std::move(*s);
}

context vector_receiver() {
  auto kR = receiver_keys();
  auto r = setup_base_receiver(hex(a21::enc), kR, hex(a21::info));
  EXPECT_TRUE(r) << r.error().message();
  return std::move(*r);
}

// The listed vectors by sequence number; for the others any message will do
// as long as sender and receiver agree, so both derive it from the number.
std::map<std::uint64_t, const a21::encryption*> listed() {
  std::map<std::uint64_t, const a21::encryption*> m;
  for (const auto& e : a21::encryptions) m[e.seq] = &e;
  return m;
}
bytes filler_aad(std::uint64_t seq) { return to_bytes("Count-" + std::to_string(seq)); }

// ------------------------------------------------------------ RFC 5869 HKDF

TEST(HpkeHkdf, Rfc5869TestCase1) {
  auto prk = detail::hkdf_extract(hex("000102030405060708090a0b0c"), hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  EXPECT_EQ(to_hex(prk), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
  bytes okm(42);
  detail::hkdf_expand(prk, hex("f0f1f2f3f4f5f6f7f8f9"), okm);
  EXPECT_EQ(to_hex(okm), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(HpkeHkdf, Rfc5869TestCase3EmptySaltAndInfo) {
  auto prk = detail::hkdf_extract({}, hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  EXPECT_EQ(to_hex(prk), "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
  bytes okm(42);
  detail::hkdf_expand(prk, {}, okm);
  EXPECT_EQ(to_hex(okm), "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(HpkeHkdf, ExpandRefusesMoreThan255Blocks) {
  std::array<std::byte, hash_size> prk{};
  bytes ok(255 * hash_size);
  EXPECT_NO_THROW(detail::hkdf_expand(prk, {}, ok));
  bytes too_long(255 * hash_size + 1);
  EXPECT_THROW(detail::hkdf_expand(prk, {}, too_long), std::length_error);
}

// ------------------------------------------------------ RFC 9180 A.2.1 vectors

TEST(HpkeVectors, DeriveKeyPairMatchesRfc) {
  auto e = derive_key_pair(hex(a21::ikmE));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->sk.to_string(), a21::skEm);
  EXPECT_EQ(e->pk.to_string(), a21::pkEm);
  auto r = derive_key_pair(hex(a21::ikmR));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->sk.to_string(), a21::skRm);
  EXPECT_EQ(r->pk.to_string(), a21::pkRm);
  // The public key follows from the private key alone.
  auto again = key_pair_from_private(fixed<private_key>(a21::skRm));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->pk.to_string(), a21::pkRm);
}

TEST(HpkeVectors, KeyScheduleIntermediatesMatchRfc) {
  EXPECT_EQ(to_hex(detail::key_schedule_context(hex(a21::info))), a21::key_schedule_context);
  EXPECT_EQ(to_hex(detail::key_schedule_secret(hex(a21::shared_secret))), a21::secret);
}

TEST(HpkeVectors, SenderSetupMatchesRfc) {
  auto s = vector_sender();
  EXPECT_EQ(to_hex(s.enc), a21::enc);
  EXPECT_EQ(to_hex(s.shared_secret.span()), a21::shared_secret);
  EXPECT_EQ(to_hex(s.ctx.key()), a21::key);
  EXPECT_EQ(to_hex(s.ctx.base_nonce()), a21::base_nonce);
  EXPECT_EQ(to_hex(s.ctx.exporter_secret()), a21::exporter_secret);
  EXPECT_EQ(s.ctx.get_role(), context::role::sender);
  EXPECT_EQ(s.ctx.sequence(), 0u);
}

TEST(HpkeVectors, ReceiverSetupMatchesRfc) {
  auto ctx = vector_receiver();
  EXPECT_EQ(to_hex(ctx.key()), a21::key);
  EXPECT_EQ(to_hex(ctx.base_nonce()), a21::base_nonce);
  EXPECT_EQ(to_hex(ctx.exporter_secret()), a21::exporter_secret);
  EXPECT_EQ(ctx.get_role(), context::role::receiver);
}

TEST(HpkeVectors, KeyScheduleFromRfcSharedSecret) {
  auto ctx = key_schedule(context::role::receiver, hex(a21::shared_secret), hex(a21::info));
  EXPECT_EQ(to_hex(ctx.key()), a21::key);
  EXPECT_EQ(to_hex(ctx.base_nonce()), a21::base_nonce);
  EXPECT_EQ(to_hex(ctx.exporter_secret()), a21::exporter_secret);
}

TEST(HpkeVectors, SealInSequenceMatchesEveryListedEncryption) {
  auto s = vector_sender();
  const auto vectors = listed();
  const auto pt = hex(a21::pt);
  std::size_t checked = 0;
  for (std::uint64_t seq = 0; seq <= 256; ++seq) {
    ASSERT_EQ(s.ctx.sequence(), seq);
    auto it = vectors.find(seq);
    if (it == vectors.end()) {
      ASSERT_TRUE(s.ctx.seal(filler_aad(seq), pt));
      continue;
    }
    const auto& v = *it->second;
    EXPECT_EQ(to_hex(context_test_access::nonce(s.ctx)), v.nonce) << "seq " << seq;
    auto ct = s.ctx.seal(hex(v.aad), pt);
    ASSERT_TRUE(ct) << ct.error().message();
    EXPECT_EQ(to_hex(*ct), v.ct) << "seq " << seq;
    ++checked;
  }
  EXPECT_EQ(checked, a21::encryptions.size());
}

TEST(HpkeVectors, OpenInSequenceRecoversEveryListedEncryption) {
  // The unlisted sequence numbers must be consumed too: seal them on a
  // vector sender and open them in order between the listed ones.
  auto s = vector_sender();
  auto r = vector_receiver();
  const auto vectors = listed();
  const auto pt = hex(a21::pt);
  std::size_t checked = 0;
  for (std::uint64_t seq = 0; seq <= 256; ++seq) {
    ASSERT_EQ(r.sequence(), seq);
    auto it = vectors.find(seq);
    if (it == vectors.end()) {
      auto ct = s.ctx.seal(filler_aad(seq), pt);
      ASSERT_TRUE(ct);
      auto back = r.open(filler_aad(seq), *ct);
      ASSERT_TRUE(back) << "seq " << seq;
      EXPECT_EQ(*back, pt);
      continue;
    }
    const auto& v = *it->second;
    ASSERT_TRUE(s.ctx.seal(hex(v.aad), pt));  // keep the sender in step
    EXPECT_EQ(to_hex(context_test_access::nonce(r)), v.nonce) << "seq " << seq;
    auto back = r.open(hex(v.aad), hex(v.ct));
    ASSERT_TRUE(back) << "seq " << seq << ": " << back.error().message();
    EXPECT_EQ(*back, pt);
    ++checked;
  }
  EXPECT_EQ(checked, a21::encryptions.size());
}

TEST(HpkeVectors, ExportsMatchRfcOnBothSides) {
  auto s = vector_sender();
  auto r = vector_receiver();
  for (const auto& e : a21::exports) {
    EXPECT_EQ(to_hex(s.ctx.export_secret(hex(e.context), e.length)), e.value) << "context '" << e.context << "'";
    EXPECT_EQ(to_hex(r.export_secret(hex(e.context), e.length)), e.value) << "context '" << e.context << "'";
  }
}

// ------------------------------------------------------------------ behaviour

TEST(HpkeBehaviour, RandomSingleShotRoundTrips) {
  auto kR = generate_key_pair();
  const auto info = to_bytes("topicswarm test info");
  const auto aad = to_bytes("header");
  for (std::size_t size : {0u, 1u, 15u, 16u, 17u, 750u, 1000u}) {
    bytes pt(size);
    for (std::size_t i = 0; i < size; ++i) pt[i] = std::byte(i * 7 + 1);
    auto sealed = seal_base(kR.pk, info, aad, pt);
    ASSERT_TRUE(sealed);
    EXPECT_EQ(sealed->size(), enc_size + size + tag_size);
    auto opened = open_base(kR, info, aad, *sealed);
    ASSERT_TRUE(opened) << opened.error().message();
    EXPECT_EQ(*opened, pt);
  }
}

TEST(HpkeBehaviour, RandomSenderUsesFreshEphemeralKeys) {
  auto kR = generate_key_pair();
  auto a = setup_base_sender(kR.pk, {});
  auto b = setup_base_sender(kR.pk, {});
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_NE(a->enc, b->enc);
  EXPECT_NE(to_hex(a->ctx.key()), to_hex(b->ctx.key()));
}

TEST(HpkeBehaviour, ContextRoundTripsManyMessages) {
  auto kR = generate_key_pair();
  auto s = setup_base_sender(kR.pk, to_bytes("info"));
  ASSERT_TRUE(s);
  auto r = setup_base_receiver(s->enc, kR, to_bytes("info"));
  ASSERT_TRUE(r);
  for (int i = 0; i < 50; ++i) {
    auto msg = to_bytes("message " + std::to_string(i));
    auto ct = s->ctx.seal(filler_aad(i), msg);
    ASSERT_TRUE(ct);
    auto pt = r->open(filler_aad(i), *ct);
    ASSERT_TRUE(pt) << i;
    EXPECT_EQ(*pt, msg);
  }
  EXPECT_EQ(to_hex(s->ctx.export_secret(to_bytes("x"), 48)), to_hex(r->export_secret(to_bytes("x"), 48)));
}

TEST(HpkeBehaviour, TamperedCiphertextFails) {
  auto kR = generate_key_pair();
  auto sealed = seal_base(kR.pk, {}, {}, to_bytes("hello"));
  ASSERT_TRUE(sealed);
  for (std::size_t i = enc_size; i < sealed->size(); ++i) {
    auto bad = *sealed;
    bad[i] ^= std::byte{0x01};
    auto r = open_base(kR, {}, {}, bad);
    ASSERT_FALSE(r) << "byte " << i;
    EXPECT_TRUE(r.error() == errc::record_decryption_failed);
    EXPECT_EQ(r.error().detail, "HPKE open failed");
  }
}

TEST(HpkeBehaviour, TamperedEncFails) {
  auto kR = generate_key_pair();
  auto sealed = seal_base(kR.pk, {}, {}, to_bytes("hello"));
  ASSERT_TRUE(sealed);
  auto bad = *sealed;
  bad[3] ^= std::byte{0x40};
  auto r = open_base(kR, {}, {}, bad);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::record_decryption_failed || r.error() == errc::crypto_failure);
}

TEST(HpkeBehaviour, TamperedAadFails) {
  auto kR = generate_key_pair();
  auto sealed = seal_base(kR.pk, {}, to_bytes("aad-1"), to_bytes("hello"));
  ASSERT_TRUE(sealed);
  auto r = open_base(kR, {}, to_bytes("aad-2"), *sealed);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::record_decryption_failed);
  auto empty = open_base(kR, {}, {}, *sealed);
  ASSERT_FALSE(empty);
  EXPECT_TRUE(empty.error() == errc::record_decryption_failed);
}

TEST(HpkeBehaviour, DifferentInfoFails) {
  auto kR = generate_key_pair();
  auto sealed = seal_base(kR.pk, to_bytes("topic A"), {}, to_bytes("hello"));
  ASSERT_TRUE(sealed);
  auto r = open_base(kR, to_bytes("topic B"), {}, *sealed);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::record_decryption_failed);
}

TEST(HpkeBehaviour, WrongReceiverKeyFails) {
  auto kR = generate_key_pair();
  auto other = generate_key_pair();
  auto sealed = seal_base(kR.pk, {}, {}, to_bytes("hello"));
  ASSERT_TRUE(sealed);
  auto r = open_base(other, {}, {}, *sealed);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::record_decryption_failed);
}

TEST(HpkeBehaviour, TruncatedInputFails) {
  auto kR = generate_key_pair();
  auto sealed = seal_base(kR.pk, {}, {}, to_bytes("hello"));
  ASSERT_TRUE(sealed);
  const byte_span all(*sealed);
  // Enc intact, ciphertext cut: authentication fails.
  for (std::size_t n = enc_size; n < all.size(); ++n) {
    auto r = open_base(kR, {}, {}, all.first(n));
    ASSERT_FALSE(r) << n;
    EXPECT_TRUE(r.error() == errc::record_decryption_failed) << n;
  }
  // Not even a whole enc: malformed.
  for (std::size_t n : {0u, 1u, 31u}) {
    auto r = open_base(kR, {}, {}, all.first(n));
    ASSERT_FALSE(r) << n;
    EXPECT_TRUE(r.error() == errc::crypto_failure) << n;
  }
  auto short_enc = setup_base_receiver(all.first(31), kR, {});
  ASSERT_FALSE(short_enc);
  EXPECT_TRUE(short_enc.error() == errc::crypto_failure);
  auto long_enc = setup_base_receiver(all.first(33), kR, {});
  ASSERT_FALSE(long_enc);
  EXPECT_TRUE(long_enc.error() == errc::crypto_failure);
}

TEST(HpkeBehaviour, LowOrderKeysAreRejected) {
  // The all-zero point and the point of order 1 (u = 1) give an all-zero
  // X25519 output (RFC 7748 §6.1; RFC 9180 §7.1.4).
  auto kR = generate_key_pair();
  for (std::string_view u : {"0000000000000000000000000000000000000000000000000000000000000000",
                             "0100000000000000000000000000000000000000000000000000000000000000"}) {
    auto s = setup_base_sender(fixed<public_key>(u), {});
    ASSERT_FALSE(s) << u;
    EXPECT_TRUE(s.error() == errc::crypto_failure);
    auto r = setup_base_receiver(hex(u), kR, {});
    ASSERT_FALSE(r) << u;
    EXPECT_TRUE(r.error() == errc::crypto_failure);
  }
}

TEST(HpkeBehaviour, SenderRefusesOpenAndReceiverRefusesSeal) {
  auto kR = generate_key_pair();
  auto s = setup_base_sender(kR.pk, {});
  ASSERT_TRUE(s);
  auto ct = s->ctx.seal({}, to_bytes("hello"));
  ASSERT_TRUE(ct);
  auto o = s->ctx.open({}, *ct);
  ASSERT_FALSE(o);
  EXPECT_TRUE(o.error() == errc::invalid_argument);

  auto r = setup_base_receiver(s->enc, kR, {});
  ASSERT_TRUE(r);
  auto sealed = r->seal({}, to_bytes("hello"));
  ASSERT_FALSE(sealed);
  EXPECT_TRUE(sealed.error() == errc::invalid_argument);
  EXPECT_EQ(r->sequence(), 0u);  // refusals consume no nonce

  context empty;
  EXPECT_FALSE(empty.seal({}, {}));
  EXPECT_FALSE(empty.open({}, *ct));
}

TEST(HpkeBehaviour, FailedOpenKeepsSequence) {
  auto kR = generate_key_pair();
  auto s = setup_base_sender(kR.pk, {});
  ASSERT_TRUE(s);
  auto r = setup_base_receiver(s->enc, kR, {});
  ASSERT_TRUE(r);
  auto c0 = s->ctx.seal({}, to_bytes("zero"));
  auto c1 = s->ctx.seal({}, to_bytes("one"));
  ASSERT_TRUE(c0);
  ASSERT_TRUE(c1);
  // Out of order: message 1 under nonce 0 fails and does not advance.
  auto early = r->open({}, *c1);
  ASSERT_FALSE(early);
  EXPECT_TRUE(early.error() == errc::record_decryption_failed);
  EXPECT_EQ(r->sequence(), 0u);
  auto m0 = r->open({}, *c0);
  ASSERT_TRUE(m0);
  EXPECT_EQ(to_string(*m0), "zero");
  auto m1 = r->open({}, *c1);
  ASSERT_TRUE(m1);
  EXPECT_EQ(to_string(*m1), "one");
  // A replay of message 0 fails under nonce 2.
  EXPECT_FALSE(r->open({}, *c0));
}

TEST(HpkeBehaviour, SequenceOverflowIsRefused) {
  auto kR = generate_key_pair();
  auto s = setup_base_sender(kR.pk, {});
  ASSERT_TRUE(s);
  auto r = setup_base_receiver(s->enc, kR, {});
  ASSERT_TRUE(r);
  const auto last = std::numeric_limits<std::uint64_t>::max() - 1;
  context_test_access::set_sequence(s->ctx, last);
  context_test_access::set_sequence(*r, last);
  // The last usable sequence number works on both sides...
  auto ct = s->ctx.seal({}, to_bytes("last"));
  ASSERT_TRUE(ct);
  auto pt = r->open({}, *ct);
  ASSERT_TRUE(pt);
  EXPECT_EQ(to_string(*pt), "last");
  // ...and then both refuse rather than wrap around to a used nonce.
  auto more = s->ctx.seal({}, to_bytes("more"));
  ASSERT_FALSE(more);
  EXPECT_TRUE(more.error() == errc::crypto_failure);
  auto more_open = r->open({}, *ct);
  ASSERT_FALSE(more_open);
  EXPECT_TRUE(more_open.error() == errc::crypto_failure);
}

TEST(HpkeBehaviour, ExportLengthLimits) {
  auto s = vector_sender();
  EXPECT_TRUE(s.ctx.export_secret({}, 0).empty());
  auto longest = s.ctx.export_secret({}, max_export_size);
  EXPECT_EQ(longest.size(), max_export_size);
  // Unlike plain HKDF, a shorter export is not a prefix of a longer one:
  // LabeledExpand binds I2OSP(L, 2) into the info (RFC 9180 §4).
  auto short32 = s.ctx.export_secret({}, 32);
  EXPECT_FALSE(std::equal(short32.begin(), short32.end(), longest.begin()));
  EXPECT_THROW((void)s.ctx.export_secret({}, max_export_size + 1), std::length_error);
}

TEST(HpkeBehaviour, MovedFromContextRefusesAndIsWiped) {
  auto s = vector_sender();
  context moved = std::move(s.ctx);
  EXPECT_EQ(moved.get_role(), context::role::sender);
  EXPECT_EQ(to_hex(moved.key()), a21::key);
  EXPECT_EQ(s.ctx.get_role(), context::role::none);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(to_hex(s.ctx.key()), std::string(2 * key_size, '0'));
  EXPECT_FALSE(s.ctx.seal({}, {}));
  EXPECT_TRUE(moved.seal({}, {}));
}

}  // namespace
}  // namespace topicswarm::crypto::hpke
