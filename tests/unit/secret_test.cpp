// The topic key (docs/PROTOCOL.md §1): Argon2id salted by the topic, raw
// keys, the open-topic key and the wire topic id. The derivations are
// re-computed here from libsodium directly, from the spec's words, so a
// change to any label or salt fails.
#include <topicswarm/record.hpp>

#include <gtest/gtest.h>

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <string>

using namespace topicswarm;

namespace {

// Cheap parameters: the tests are about the derivation, not the cost.
const secret_hash_params cheap{1, 64 * 1024};

std::array<unsigned char, 64> sha512_of(const std::string& label, std::initializer_list<byte_span> parts) {
  crypto_hash_sha512_state st;
  crypto_hash_sha512_init(&st);
  crypto_hash_sha512_update(&st, reinterpret_cast<const unsigned char*>(label.data()), label.size());
  for (auto p : parts) crypto_hash_sha512_update(&st, reinterpret_cast<const unsigned char*>(p.data()), p.size());
  std::array<unsigned char, 64> out;
  crypto_hash_sha512_final(&st, out.data());
  return out;
}

}  // namespace

TEST(SecretHash, IsArgon2idSaltedByTheTopicAsSpecified) {
  ASSERT_EQ(sodium_init() >= 0, true);
  const auto topic = topic_id_from_name("secret-test");
  const std::string pass = "correct horse battery staple";
  auto got = hash_secret(topic, std::string_view(pass), cheap);
  ASSERT_TRUE(got) << got.error().message();

  auto salt = sha512_of("topicswarm/secret-salt/v2", {topic.span()});
  std::array<unsigned char, 32> want;
  ASSERT_EQ(crypto_pwhash(want.data(), want.size(), pass.data(), pass.size(), salt.data(), cheap.ops_limit,
                          cheap.mem_limit, crypto_pwhash_ALG_ARGON2ID13),
            0);
  EXPECT_EQ(0, std::memcmp(got->data(), want.data(), 32));
}

TEST(SecretHash, DependsOnSecretTopicAndCost) {
  const auto t = topic_id_from_name("a");
  auto base = *hash_secret(t, std::string_view("s"), cheap);
  EXPECT_EQ(*hash_secret(t, std::string_view("s"), cheap), base);  // deterministic
  EXPECT_NE(*hash_secret(t, std::string_view("s2"), cheap), base);
  // Salted by the topic: one guess table does not serve two topics.
  EXPECT_NE(*hash_secret(topic_id_from_name("b"), std::string_view("s"), cheap), base);
  // Every member must use the same cost: another cost is another key.
  EXPECT_NE(*hash_secret(t, std::string_view("s"), secret_hash_params{2, 64 * 1024}), base);
  EXPECT_NE(*hash_secret(t, std::string_view("s"), secret_hash_params{1, 128 * 1024}), base);
}

TEST(SecretHash, EmptySecretIsTheOpenTopicKey) {
  const auto t = topic_id_from_name("open");
  auto h = hash_secret(t, std::string_view(""), cheap);
  ASSERT_TRUE(h);
  EXPECT_EQ(*h, open_topic_key(t));
  auto want = sha512_of("topicswarm/open-topic/v2", {t.span()});
  EXPECT_EQ(0, std::memcmp(open_topic_key(t).data(), want.data(), 32));
  EXPECT_NE(open_topic_key(t), open_topic_key(topic_id_from_name("other")));
}

TEST(SecretHash, ParametersOutOfRangeAreAClearError) {
  const auto t = topic_id_from_name("p");
  auto r = hash_secret(t, std::string_view("s"), secret_hash_params{0, 64 * 1024});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), make_error_code(errc::secret_hash_failed));
  EXPECT_NE(r.error().detail.find("ops limit"), std::string::npos);
  r = hash_secret(t, std::string_view("s"), secret_hash_params{1, 100});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), make_error_code(errc::secret_hash_failed));
  EXPECT_NE(r.error().detail.find("memory limit"), std::string::npos);
}

TEST(SecretHash, RawKeysAreTakenAsIsAndMustBe32Bytes) {
  std::array<std::byte, 32> raw;
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::byte>(i * 7);
  auto k = secret_hash_from_key(raw);
  ASSERT_TRUE(k);
  EXPECT_TRUE(std::equal(raw.begin(), raw.end(), k->span().begin()));
  for (std::size_t n : {0u, 16u, 31u, 33u, 64u}) {
    bytes b(n, std::byte{1});
    auto bad = secret_hash_from_key(b);
    ASSERT_FALSE(bad) << n;
    EXPECT_EQ(bad.code(), make_error_code(errc::invalid_argument)) << n;
  }
}

TEST(WireTopicId, IsKeyedSoOutsidersCannotAddressTheTopic) {
  const auto t = topic_id_from_name("wire");
  const auto k1 = *secret_hash_from_key(std::array<std::byte, 32>{std::byte{1}});
  const auto k2 = *secret_hash_from_key(std::array<std::byte, 32>{std::byte{2}});
  auto w = wire_topic_id(t, k1);
  auto want = sha512_of("topicswarm/wire-topic/v2", {t.span(), k1.span()});
  EXPECT_EQ(0, std::memcmp(w.data(), want.data(), 32));
  // Two groups on one name with different secrets: different topics.
  EXPECT_NE(wire_topic_id(t, k2), w);
  // Not the name's own id, and not the open topic's wire id.
  EXPECT_NE(w, t);
  EXPECT_NE(wire_topic_id(t, open_topic_key(t)), w);
  EXPECT_NE(wire_topic_id(topic_id_from_name("other"), k1), w);
}

TEST(WindowSecret, DefaultRotationIsAsSpecified) {
  const auto t = topic_id_from_name("ws");
  const auto k = *secret_hash_from_key(std::array<std::byte, 32>{std::byte{3}});
  const std::uint64_t w = 29'000'123;
  std::array<std::byte, 8> be;
  for (int i = 0; i < 8; ++i) be[static_cast<std::size_t>(i)] = static_cast<std::byte>(w >> (56 - 8 * i));
  auto want = sha512_of("topicswarm/window-secret/v2", {t.span(), be, k.span()});
  auto got = default_secret_rotation(t, w, k);
  EXPECT_EQ(0, std::memcmp(got.data(), want.data(), 32));
  EXPECT_EQ(record_codec(t, k).window_key(w), got);
}
