// The simulator's in-memory BEP 44 store: the rules of a put and the answer of
// a get. Items are signed here from BEP 44's description of the signed
// buffer, not with the project's own helper.
#include "sim/bep44_store.hpp"

#include <topicswarm/identity.hpp>

#include <gtest/gtest.h>

#include <string>

using namespace topicswarm;
using sim::put_status;

namespace {

dht::mutable_item item(const keypair& k, const std::string& salt, std::int64_t seq, const std::string& v) {
  std::string buf;
  if (!salt.empty()) buf += "4:salt" + std::to_string(salt.size()) + ":" + salt;
  buf += "3:seqi" + std::to_string(seq) + "e1:v" + std::to_string(v.size()) + ":" + v;
  dht::mutable_item i;
  i.key = k.public_key();
  i.salt = to_bytes(salt);
  i.value = to_bytes(v);
  i.seq = seq;
  i.sig = k.sign(as_bytes(buf));
  return i;
}

}  // namespace

TEST(Bep44Store, KeepsTheHighestSeqPerKeyAndSalt) {
  sim::bep44_store s;
  auto k = keypair::generate();
  EXPECT_FALSE(s.get(k.public_key(), as_bytes("a")));
  EXPECT_EQ(s.put(item(k, "a", 5, "five")), put_status::stored);
  EXPECT_EQ(s.put(item(k, "a", 4, "four")), put_status::lower_seq);
  auto got = s.get(k.public_key(), as_bytes("a"));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->seq, 5);
  EXPECT_EQ(to_string(got->value), "five");

  // Equal seq overwrites (no CAS, as with libtorrent); higher replaces.
  EXPECT_EQ(s.put(item(k, "a", 5, "five again")), put_status::stored);
  EXPECT_EQ(to_string(s.get(k.public_key(), as_bytes("a"))->value), "five again");
  EXPECT_EQ(s.put(item(k, "a", 6, "six")), put_status::stored);
  EXPECT_EQ(s.get(k.public_key(), as_bytes("a"))->seq, 6);

  // Another salt, or no salt, is another item.
  EXPECT_EQ(s.put(item(k, "b", 1, "b")), put_status::stored);
  EXPECT_EQ(s.put(item(k, "", 1, "none")), put_status::stored);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(to_string(s.get(k.public_key(), {})->value), "none");
  EXPECT_TRUE(dht::verify_mutable_item(*s.get(k.public_key(), as_bytes("b"))));
}

TEST(Bep44Store, RefusesWhatADhtNodeRefuses) {
  sim::bep44_store s;
  auto k = keypair::generate();
  auto forged = item(k, "a", 1, "v");
  forged.value = to_bytes("w");
  EXPECT_EQ(s.put(forged), put_status::bad_signature);
  auto other = keypair::generate();
  auto wrong_key = item(k, "a", 1, "v");
  wrong_key.key = other.public_key();
  EXPECT_EQ(s.put(wrong_key), put_status::bad_signature);
  EXPECT_EQ(s.put(item(k, std::string(65, 's'), 1, "v")), put_status::salt_too_long);
  EXPECT_EQ(s.put(item(k, std::string(64, 's'), 1, "v")), put_status::stored);
  EXPECT_EQ(s.put(item(k, "big", 1, std::string(997, 'v'))), put_status::value_too_large);  // 1001 bencoded
  EXPECT_EQ(s.put(item(k, "big", 1, std::string(996, 'v'))), put_status::stored);           // exactly 1000
  EXPECT_EQ(s.size(), 2u);
  EXPECT_FALSE(s.get(other.public_key(), as_bytes("a")));
  const auto c = s.stats();
  EXPECT_EQ(c.puts, 6u);
  EXPECT_EQ(c.stored, 2u);
  EXPECT_EQ(c.refused, 4u);
  EXPECT_EQ(c.gets, 1u);
  EXPECT_EQ(c.hits, 0u);
}

TEST(Bep44Store, CapacityBoundsNewItemsButNotUpdates) {
  sim::bep44_store s(2);
  auto k = keypair::generate();
  EXPECT_EQ(s.put(item(k, "1", 1, "x")), put_status::stored);
  EXPECT_EQ(s.put(item(k, "2", 1, "x")), put_status::stored);
  EXPECT_EQ(s.put(item(k, "3", 1, "x")), put_status::full);
  EXPECT_EQ(s.put(item(k, "2", 2, "y")), put_status::stored);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_STREQ(sim::to_string(put_status::full), "store full");
}
