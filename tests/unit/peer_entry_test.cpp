// Catalog entries and departures (src/discovery/entry, docs/PROTOCOL.md §14):
// round trips at the limits, every bound enforced on both sides, signatures
// that bind every byte, and the layout checked against the spec by hand.
#include "discovery/entry.hpp"
#include "discovery/opened_entries.hpp"

#include "crypto/hash.hpp"
#include "endpoint_support.hpp"

#include <topicswarm/network.hpp>

#include <gtest/gtest.h>

namespace topicswarm::discovery {
namespace {

using test_support::ep;
using test_support::eps;

topic_id topic_of(std::uint8_t b) { return *topic_id::from_span(bytes(32, std::byte{b})); }

struct entry_fixture : ::testing::Test {
  identity me = identity::from_seed(*ed25519_seed::from_span(bytes(32, std::byte{7})));
  peer_entry e{topic_of(1),     me.id(),
               {1'000, 2'000},  eps({"127.0.0.1:4000", "[::1]:4001"}),
               {"relay", "eu"}, {topic_of(2), topic_of(3)}};
};

TEST_F(entry_fixture, RoundTrip) {
  auto s = sign_entry(e, me);
  ASSERT_TRUE(s) << s.error().detail;
  auto o = open_entry(s->encoded);
  ASSERT_TRUE(o) << o.error().detail;
  EXPECT_EQ(o->entry, e);
  EXPECT_EQ(o->encoded, s->encoded);
}

TEST_F(entry_fixture, LayoutIsTheSpecs) {
  auto s = sign_entry(e, me);
  ASSERT_TRUE(s);
  const auto& b = s->encoded;
  // 1 + 32 + 32 + 8 + 8 + (1 + 7 + 19) + (1 + 6 + 3) + (1 + 64) + 64
  ASSERT_EQ(b.size(), 247u);
  EXPECT_EQ(std::to_integer<int>(b[0]), 1);
  EXPECT_TRUE(std::equal(b.begin() + 1, b.begin() + 33, e.network.span().begin()));
  EXPECT_TRUE(std::equal(b.begin() + 33, b.begin() + 65, me.id().span().begin()));
  EXPECT_EQ(std::to_integer<int>(b[65 + 7]), 1'000 & 0xff);  // start_ms, big-endian
  EXPECT_EQ(std::to_integer<int>(b[73 + 6]), 2'000 >> 8);    // update_ms
  EXPECT_EQ(std::to_integer<int>(b[81]), 2);                 // two addresses
  EXPECT_EQ(std::to_integer<int>(b[82]), 4);                 // family
  EXPECT_EQ(std::to_integer<int>(b[83]), 127);
  // The signature covers the label and every byte before it.
  const std::string label = "topicswarm/peer-entry/v1";
  bytes msg(as_bytes(label).begin(), as_bytes(label).end());
  msg.insert(msg.end(), b.begin(), b.end() - 64);
  auto sig = *signature::from_span(byte_span(b).last(64));
  EXPECT_TRUE(verify_signature(me.keys().public_key(), msg, sig));
}

TEST_F(entry_fixture, EveryByteIsSigned) {
  auto s = sign_entry(e, me);
  ASSERT_TRUE(s);
  for (std::size_t i = 1; i < s->encoded.size(); ++i) {
    auto b = s->encoded;
    b[i] ^= std::byte{0x01};
    auto o = open_entry(b);
    ASSERT_FALSE(o) << "byte " << i;
  }
}

// The simulator's memo answers exactly as open_entry does: a tampered copy
// that keeps the good signature (same hash key) is still refused, and a
// good entry opened twice is the same entry.
TEST_F(entry_fixture, OpenedEntriesMemoAnswersAsOpenEntry) {
  auto s = sign_entry(e, me);
  ASSERT_TRUE(s);
  opened_entries memo(4);
  ASSERT_TRUE(memo.open(s->encoded));
  auto again = memo.open(s->encoded);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->entry, e);
  EXPECT_EQ(memo.hits(), 1u);
  auto forged = s->encoded;
  forged[40] ^= std::byte{0x01};  // the node id, signature untouched
  EXPECT_FALSE(memo.open(forged));
  EXPECT_FALSE(memo.open(forged));  // remembered as refused
  EXPECT_FALSE(memo.open(bytes{}));
  // Bounded: full at 4, cleared, and still right.
  for (std::uint8_t i = 0; i < 6; ++i) EXPECT_FALSE(memo.open(bytes(10, std::byte{i})));
  EXPECT_LE(memo.size(), 4u);
  EXPECT_TRUE(memo.open(s->encoded));
}

TEST_F(entry_fixture, ForgedByAnotherKey) {
  auto other = identity::generate();
  EXPECT_EQ(sign_entry(e, other).error().code, make_error_code(errc::peer_entry_bad_signature));
  // Signed by another key but naming me: refused on decode.
  auto forged = e;
  forged.node = other.id();
  auto s = sign_entry(forged, other);
  ASSERT_TRUE(s);
  auto b = s->encoded;
  const auto mine = me.id();
  std::copy(mine.span().begin(), mine.span().end(), b.begin() + 33);
  EXPECT_EQ(open_entry(b).error().code, make_error_code(errc::peer_entry_bad_signature));
}

TEST_F(entry_fixture, LimitsAreEnforcedWhenSigning) {
  auto too_many = e;
  too_many.addresses.clear();
  for (int i = 0; i < 9; ++i) too_many.addresses.push_back(ep("127.0.0." + std::to_string(i + 1) + ":1"));
  EXPECT_EQ(sign_entry(too_many, me).error().code, make_error_code(errc::invalid_argument));
  auto dup = e;
  dup.addresses.push_back(dup.addresses.front());
  EXPECT_FALSE(sign_entry(dup, me));
  auto unspecified = e;
  unspecified.addresses = {ep("0.0.0.0:1")};
  EXPECT_FALSE(sign_entry(unspecified, me));
  auto port0 = e;
  port0.addresses = {ep("127.0.0.1:0")};
  EXPECT_FALSE(sign_entry(port0, me));
  for (std::string bad : {std::string(), std::string(33, 'a'), std::string("has space"), std::string("\x7f")}) {
    auto t = e;
    t.tags = {bad};
    EXPECT_FALSE(sign_entry(t, me)) << bad;
  }
  auto tags = e;
  tags.tags.clear();
  for (int i = 0; i < 17; ++i) tags.tags.push_back("t" + std::to_string(i));
  EXPECT_FALSE(sign_entry(tags, me));
  auto topics = e;
  topics.topics.clear();
  for (int i = 0; i < 65; ++i) topics.topics.push_back(topic_of(static_cast<std::uint8_t>(i)));
  EXPECT_FALSE(sign_entry(topics, me));
  auto dup_topic = e;
  dup_topic.topics.push_back(dup_topic.topics.front());
  EXPECT_FALSE(sign_entry(dup_topic, me));
}

TEST_F(entry_fixture, TheLargestEntryIsTheDocumentedBound) {
  auto big = e;
  big.addresses.clear();
  for (int i = 0; i < 8; ++i) {
    auto a = ep("[::1]:1");
    a.ip[0] = 0x20;
    a.ip[15] = static_cast<std::uint8_t>(i + 1);
    big.addresses.push_back(a);
  }
  big.tags.clear();
  for (int i = 0; i < 16; ++i) big.tags.push_back(std::string(31, 'a') + static_cast<char>('a' + i));
  big.topics.clear();
  for (int i = 0; i < 64; ++i) big.topics.push_back(topic_of(static_cast<std::uint8_t>(i)));
  auto s = sign_entry(big, me);
  ASSERT_TRUE(s) << s.error().detail;
  EXPECT_EQ(s->encoded.size(), peer_entry_limits::max_encoded_bytes);
  ASSERT_TRUE(open_entry(s->encoded));
  auto over = s->encoded;
  over.push_back(std::byte{0});
  EXPECT_EQ(open_entry(over).error().code, make_error_code(errc::peer_entry_too_large));
}

TEST_F(entry_fixture, MalformedInputIsRefusedBeforeAnySignatureCheck) {
  auto s = sign_entry(e, me);
  ASSERT_TRUE(s);
  EXPECT_EQ(open_entry({}).error().code, make_error_code(errc::peer_entry_malformed));
  auto v2 = s->encoded;
  v2[0] = std::byte{2};
  EXPECT_EQ(open_entry(v2).error().code, make_error_code(errc::peer_entry_unsupported_version));
  for (std::size_t n = 1; n < s->encoded.size(); ++n) EXPECT_FALSE(open_entry(byte_span(s->encoded).first(n))) << n;
  auto many = s->encoded;
  many[81] = std::byte{9};  // nine addresses
  EXPECT_EQ(open_entry(many).error().code, make_error_code(errc::peer_entry_malformed));
  auto fam = s->encoded;
  fam[82] = std::byte{5};  // no such family
  EXPECT_EQ(open_entry(fam).error().code, make_error_code(errc::peer_entry_malformed));
}

TEST_F(entry_fixture, DepartureRoundTripAndForgery) {
  departure d{e.network, me.id(), e.version};
  auto b = sign_departure(d, me);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), departure_bytes);
  auto o = open_departure(*b);
  ASSERT_TRUE(o);
  EXPECT_EQ(*o, d);
  for (std::size_t i = 0; i < b->size(); ++i) {
    auto t = *b;
    t[i] ^= std::byte{0x80};
    EXPECT_FALSE(open_departure(t)) << i;
  }
  EXPECT_FALSE(open_departure(byte_span(*b).first(144)));
  EXPECT_FALSE(sign_departure(d, identity::generate()));
  // An entry's signature does not make a departure (different labels).
  auto s = sign_entry(peer_entry{e.network, me.id(), e.version, {}, {}, {}}, me);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->encoded.size(), 1 + 32 + 32 + 16 + 3 + 64u);
  bytes as_departure(s->encoded.begin(), s->encoded.begin() + 81);
  as_departure.insert(as_departure.end(), s->encoded.end() - 64, s->encoded.end());
  EXPECT_EQ(open_departure(as_departure).error().code, make_error_code(errc::peer_entry_bad_signature));
}

TEST(network_ids, DomainSeparatedFromTopics) {
  const auto n = network_id_from_name("chat");
  auto d = crypto::sha512({as_bytes(std::string_view("topicswarm/network/v1")), as_bytes(std::string_view("chat"))});
  EXPECT_TRUE(std::equal(n.span().begin(), n.span().end(), d.begin()));
  EXPECT_NE(n.span()[0], topic_id_from_name("chat").span()[0]);
  const auto t = network_topic_id(n);
  auto dt = crypto::sha512({as_bytes(std::string_view("topicswarm/network-topic/v1")), n.span()});
  EXPECT_TRUE(std::equal(t.span().begin(), t.span().end(), dt.begin()));
  EXPECT_NE(t, topic_id_from_name("chat"));
  // Two secrets: two wire ids for one network.
  EXPECT_NE(wire_topic_id(t, *hash_secret(t, "a", {1, 8192})), wire_topic_id(t, *hash_secret(t, "b", {1, 8192})));
}

}  // namespace
}  // namespace topicswarm::discovery
