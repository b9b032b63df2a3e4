// verify_mutable_item against a BEP 44 signature built here by hand, from the
// spec's own description of the signed buffer, so the test does not share code
// with the implementation.
#include <topicswarm/dht_client.hpp>

#include <gtest/gtest.h>

#include <string>

using namespace topicswarm;

namespace {

// BEP 44: the signature covers the bencoded "salt" (if any), "seq" and "v"
// keys of the put, concatenated without the enclosing dictionary.
std::string bep44_buffer(const std::string& salt, std::int64_t seq, const std::string& v) {
  std::string buf;
  if (!salt.empty()) buf += "4:salt" + std::to_string(salt.size()) + ":" + salt;
  buf += "3:seqi" + std::to_string(seq) + "e1:v" + std::to_string(v.size()) + ":" + v;
  return buf;
}

dht::mutable_item signed_item(const keypair& k, const std::string& salt, std::int64_t seq, const std::string& v) {
  dht::mutable_item item;
  item.key = k.public_key();
  item.salt = to_bytes(salt);
  item.value = to_bytes(v);
  item.seq = seq;
  item.sig = k.sign(as_bytes(bep44_buffer(salt, seq, v)));
  return item;
}

}  // namespace

TEST(DhtItem, AcceptsCorrectlySignedItem) {
  auto k = keypair::generate();
  EXPECT_TRUE(dht::verify_mutable_item(signed_item(k, "foobar", 1, "Hello World!")));
  EXPECT_TRUE(dht::verify_mutable_item(signed_item(k, "", 42, "no salt")));
  EXPECT_TRUE(dht::verify_mutable_item(signed_item(k, "s", 0, "")));
  EXPECT_TRUE(dht::verify_mutable_item(signed_item(k, std::string(64, 'x'), 9'000'000'000LL, std::string(996, 'v'))));
}

TEST(DhtItem, Bep44TestVectorWithSalt) {
  // BEP 44, "test vectors", mutable item with salt: seed-derived key, seq 1,
  // salt "foobar", v "Hello World!"; its signature is public, so it must verify.
  auto key = public_key::parse("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548");
  auto sig = signature::parse(
      "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d"
      "df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08");
  ASSERT_TRUE(key && sig);
  dht::mutable_item item{*key, to_bytes("foobar"), to_bytes("Hello World!"), 1, *sig};
  EXPECT_TRUE(dht::verify_mutable_item(item));
  item.seq = 2;
  EXPECT_FALSE(dht::verify_mutable_item(item));
}

TEST(DhtItem, RejectsAnyChange) {
  auto k = keypair::generate();
  const auto good = signed_item(k, "salt", 7, "value");
  ASSERT_TRUE(dht::verify_mutable_item(good));

  auto v = good;
  v.value = to_bytes("valuf");
  EXPECT_FALSE(dht::verify_mutable_item(v));

  auto s = good;
  s.seq = 8;
  EXPECT_FALSE(dht::verify_mutable_item(s));

  auto salt = good;
  salt.salt = to_bytes("salu");
  EXPECT_FALSE(dht::verify_mutable_item(salt));

  auto no_salt = good;
  no_salt.salt.clear();
  EXPECT_FALSE(dht::verify_mutable_item(no_salt));

  auto key = good;
  key.key = keypair::generate().public_key();
  EXPECT_FALSE(dht::verify_mutable_item(key));

  auto sig = good;
  sig.sig.data()[0] ^= std::byte{1};
  EXPECT_FALSE(dht::verify_mutable_item(sig));
}

TEST(DhtItem, RejectsOverlongSalt) {
  auto k = keypair::generate();
  // Correctly signed, but BEP 44 caps the salt at 64 bytes: no node stores it.
  EXPECT_FALSE(dht::verify_mutable_item(signed_item(k, std::string(65, 's'), 1, "v")));
}
