#include <topicswarm/record.hpp>

#include "crypto/record_format.hpp"

#include <gtest/gtest.h>

#include <limits>

using namespace topicswarm;
namespace rf = topicswarm::crypto::record_format;

namespace {

// A fixed raw key: these tests are about the record format, not Argon2id
// (tests/unit/secret_test.cpp).
secret_hash key_of(std::uint8_t b) {
  std::array<std::byte, 32> a;
  a.fill(std::byte{b});
  return *secret_hash_from_key(a);
}

endpoint v6(std::uint8_t last, std::uint16_t port) {
  std::array<std::uint8_t, 16> a{0x20, 0x01, 0x0d, 0xb8};
  a[15] = last;
  return endpoint::v6(a, port);
}

message_id msg(std::uint8_t b) {
  std::array<std::byte, 32> a;
  a.fill(std::byte{b});
  return message_id(a);
}

struct TopicRecord : ::testing::Test {
  topic_id topic = topic_id_from_name("records-test");
  secret_hash secret = key_of(0x5e);
  record_codec codec{topic, secret};
  identity publisher = identity::generate();
  std::uint64_t window = 29'000'000;
  unsigned slot = 3;
  // Every test record's timestamp, and so the seq it is stored with.
  std::int64_t ts = static_cast<std::int64_t>(window * 60'000 + 1'234);

  // The largest record the format allows: every list full, every address IPv6.
  topic_record full_record() {
    topic_record r;
    r.topic = topic;
    r.window = window;
    r.publisher = publisher.id();
    r.timestamp_ms = static_cast<std::uint64_t>(ts);
    for (std::uint8_t i = 0; i < max_record_addresses; ++i) r.addresses.push_back(v6(i, 4000 + i));
    for (std::uint8_t n = 0; n < max_record_neighbors; ++n) {
      record_neighbor nb{identity::generate().id(), {}};
      for (std::uint8_t i = 0; i < max_record_addresses; ++i) nb.addresses.push_back(v6(16 * n + i, 5000 + i));
      r.neighbors.push_back(nb);
    }
    for (std::uint8_t i = 0; i < max_record_messages; ++i) r.recent_messages.push_back(msg(i + 1));
    return r;
  }
  topic_record small_record() {
    topic_record r;
    r.topic = topic;
    r.window = window;
    r.publisher = publisher.id();
    r.timestamp_ms = static_cast<std::uint64_t>(ts);
    r.addresses.push_back(*endpoint::parse("127.0.0.1:7000"));
    return r;
  }
};

}  // namespace

TEST_F(TopicRecord, FullRecordRoundTripsWithinBep44Limit) {
  auto r = full_record();
  auto sealed = codec.seal(r, publisher, slot);
  ASSERT_TRUE(sealed) << sealed.error().message();
  EXPECT_LE(sealed->size(), max_record_bytes);
  // The bencoded BEP 44 value "NNN:<bytes>" stays within 1000 bytes.
  EXPECT_LE(sealed->size() + std::to_string(sealed->size()).size() + 1, 1000u);
  auto opened = codec.open(*sealed, window, slot, ts);
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(*opened, r);
}

TEST_F(TopicRecord, SmallRecordRoundTrips) {
  auto r = small_record();
  auto sealed = codec.seal(r, publisher, slot);
  ASSERT_TRUE(sealed);
  auto opened = codec.open(*sealed, window, slot, ts);
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, r);
}

TEST_F(TopicRecord, SealingIsRandomisedButBothOpen) {
  auto r = small_record();
  auto a = *codec.seal(r, publisher, slot);
  auto b = *codec.seal(r, publisher, slot);
  EXPECT_NE(a, b);  // fresh HPKE ephemeral key each time
  EXPECT_TRUE(codec.open(a, window, slot, ts));
  EXPECT_TRUE(codec.open(b, window, slot, ts));
}

TEST_F(TopicRecord, WrongSecretCannotDecrypt) {
  auto sealed = *codec.seal(small_record(), publisher, slot);
  record_codec other(topic, key_of(0xa7));
  auto r = other.open(sealed, window, slot, ts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), make_error_code(errc::record_decryption_failed));
}

TEST_F(TopicRecord, OtherWindowOrTopicCannotDecrypt) {
  auto sealed = *codec.seal(small_record(), publisher, slot);
  EXPECT_EQ(codec.open(sealed, window + 1, slot, ts + 60'000).code(), make_error_code(errc::record_decryption_failed));
  record_codec other_topic(topic_id_from_name("other"), secret);
  EXPECT_EQ(other_topic.open(sealed, window, slot, ts).code(), make_error_code(errc::record_decryption_failed));
}

TEST_F(TopicRecord, CustomRotationMustMatch) {
  auto rotate = [](const topic_id& t, std::uint64_t w, const secret_hash& s) {
    return default_secret_rotation(t, w / 60, s);  // hourly secrets
  };
  record_codec hourly(topic, secret, rotate);
  auto sealed = *hourly.seal(small_record(), publisher, slot);
  EXPECT_TRUE(record_codec(topic, secret, rotate).open(sealed, window, slot, ts));
  EXPECT_EQ(codec.open(sealed, window, slot, ts).code(), make_error_code(errc::record_decryption_failed));
}

TEST_F(TopicRecord, TamperedBytesFailDecryption) {
  auto sealed = *codec.seal(full_record(), publisher, slot);
  for (std::size_t pos : {std::size_t{1}, std::size_t{40}, sealed.size() / 2, sealed.size() - 1}) {
    auto t = sealed;
    t[pos] ^= std::byte{0x01};
    EXPECT_EQ(codec.open(t, window, slot, ts).code(), make_error_code(errc::record_decryption_failed)) << pos;
  }
}

TEST_F(TopicRecord, BadLengths) {
  auto sealed = *codec.seal(small_record(), publisher, slot);
  EXPECT_EQ(codec.open({}, window, slot, ts).code(), make_error_code(errc::record_bad_length));
  EXPECT_EQ(codec.open(byte_span(sealed).first(40), window, slot, ts).code(), make_error_code(errc::record_bad_length));
  EXPECT_EQ(codec.open(byte_span(sealed).first(crypto::record_format::min_stored_size - 1), window, slot, ts).code(),
            make_error_code(errc::record_bad_length));
  // Truncating a valid value breaks its authentication tag.
  EXPECT_EQ(codec.open(byte_span(sealed).first(sealed.size() - 1), window, slot, ts).code(),
            make_error_code(errc::record_decryption_failed));
}

TEST_F(TopicRecord, TooLargeBothWays) {
  bytes huge(max_record_bytes + 1, std::byte{1});
  EXPECT_EQ(codec.open(huge, window, slot, ts).code(), make_error_code(errc::record_too_large));
  auto r = full_record();
  r.neighbors.push_back(r.neighbors.front());
  auto s = codec.seal(r, publisher, slot);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.code(), make_error_code(errc::record_too_large));
  r = full_record();
  r.recent_messages.push_back(msg(9));
  EXPECT_EQ(codec.seal(r, publisher, slot).code(), make_error_code(errc::record_too_large));
  r = full_record();
  r.addresses.push_back(v6(99, 1));
  EXPECT_EQ(codec.seal(r, publisher, slot).code(), make_error_code(errc::record_too_large));
}

TEST_F(TopicRecord, UnsupportedVersion) {
  auto sealed = *codec.seal(small_record(), publisher, slot);
  sealed[0] = std::byte{3};
  auto r = codec.open(sealed, window, slot, ts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), make_error_code(errc::record_unsupported_version));
  EXPECT_NE(r.error().detail.find("version 3"), std::string::npos);

  // A body of another version inside a valid envelope is refused too.
  auto body = crypto::record_format::encode_body(small_record());
  body[0] = std::byte{7};
  EXPECT_EQ(crypto::record_format::decode_body(body).code(), make_error_code(errc::record_unsupported_version));
}

TEST_F(TopicRecord, ForgedPublisherFailsSignature) {
  // An insider with the secret claims another node as publisher, signing with
  // its own key: the envelope decrypts but the signature does not verify.
  auto ws = default_secret_rotation(topic, window, secret);
  auto forged = small_record();
  forged.publisher = identity::generate().id();
  auto body = crypto::record_format::encode_body(forged);
  auto sig = publisher.sign(crypto::record_format::signing_message(body));
  bytes plain = body;
  plain.insert(plain.end(), sig.span().begin(), sig.span().end());
  auto sealed = crypto::record_format::seal_plain(plain, topic, window, slot, ws);
  ASSERT_TRUE(sealed);
  auto o = codec.open(*sealed, window, slot, ts);
  ASSERT_FALSE(o);
  EXPECT_EQ(o.code(), make_error_code(errc::record_bad_signature));

  // A flipped bit in the signature is caught the same way.
  auto honest_body = crypto::record_format::encode_body(small_record());
  auto honest_sig = publisher.sign(crypto::record_format::signing_message(honest_body));
  bytes p2 = honest_body;
  p2.insert(p2.end(), honest_sig.span().begin(), honest_sig.span().end());
  p2.back() ^= std::byte{0x80};
  EXPECT_EQ(codec.open(*crypto::record_format::seal_plain(p2, topic, window, slot, ws), window, slot, ts).code(),
            make_error_code(errc::record_bad_signature));

  // And the library refuses to sign a record for someone else.
  EXPECT_EQ(codec.seal(forged, publisher, slot).code(), make_error_code(errc::invalid_argument));
}

TEST_F(TopicRecord, WrongTopicAndWindowInsideAValidEnvelope) {
  auto ws = default_secret_rotation(topic, window, secret);
  auto r = small_record();
  r.window = window - 5;  // a replayed old record re-encrypted by an insider
  auto sealed = crypto::record_format::seal_with_key_of(r, publisher, topic, window, slot, ws);
  ASSERT_TRUE(sealed);
  auto o = codec.open(*sealed, window, slot, ts);
  ASSERT_FALSE(o);
  EXPECT_EQ(o.code(), make_error_code(errc::record_wrong_window));

  r = small_record();
  r.topic = topic_id_from_name("elsewhere");
  sealed = crypto::record_format::seal_with_key_of(r, publisher, topic, window, slot, ws);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(codec.open(*sealed, window, slot, ts).code(), make_error_code(errc::record_wrong_topic));

  EXPECT_EQ(codec.seal(r, publisher, slot).code(), make_error_code(errc::record_wrong_topic));
}

TEST_F(TopicRecord, DecodeBodyRejectsMalformedStructure) {
  auto good = crypto::record_format::encode_body(full_record());
  ASSERT_TRUE(crypto::record_format::decode_body(good));
  for (std::size_t cut = 0; cut < good.size(); cut += 37)
    EXPECT_EQ(crypto::record_format::decode_body(byte_span(good).first(cut)).code(),
              make_error_code(errc::record_bad_length))
        << cut;
  auto trailing = good;
  trailing.push_back(std::byte{0});
  EXPECT_EQ(crypto::record_format::decode_body(trailing).code(), make_error_code(errc::record_bad_length));
  auto bad_count = crypto::record_format::encode_body(small_record());
  bad_count[1 + 32 + 8 + 32 + 8] = std::byte{9};  // publisher address count
  EXPECT_EQ(crypto::record_format::decode_body(bad_count).code(), make_error_code(errc::record_bad_length));
  auto bad_family = crypto::record_format::encode_body(small_record());
  bad_family[1 + 32 + 8 + 32 + 8 + 1] = std::byte{5};
  EXPECT_EQ(crypto::record_format::decode_body(bad_family).code(), make_error_code(errc::record_bad_length));
}

TEST_F(TopicRecord, FormatOneIsRefusedByName) {
  // A format 1 value (its first byte is 1) whatever follows: refused before
  // any crypto, with its own code so an operator can tell an old peer from
  // garbage.
  auto sealed = *codec.seal(small_record(), publisher, slot);
  sealed[0] = std::byte{1};
  auto r = codec.open(sealed, window, slot, ts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), make_error_code(errc::record_format_obsolete));
  EXPECT_NE(r.error().detail.find("format 1"), std::string::npos);
  // Even a short one, and even with a seq outside the window.
  const bytes tiny{std::byte{1}, std::byte{0}};
  EXPECT_EQ(codec.open(tiny, window, slot, std::numeric_limits<std::int64_t>::max()).code(),
            make_error_code(errc::record_format_obsolete));
}

TEST_F(TopicRecord, SeqMustLieInTheWindow) {
  auto sealed = *codec.seal(small_record(), publisher, slot);
  const auto start = static_cast<std::int64_t>(window * 60'000);
  const auto skew = static_cast<std::int64_t>(max_record_skew_ms);
  // Outside [start - skew, start + 59999 + skew]: refused before any crypto,
  // whatever the value (the attacker's lock on a slot is a huge seq).
  for (std::int64_t bad : {std::numeric_limits<std::int64_t>::max(), std::int64_t{-1}, std::int64_t{0},
                           start - skew - 1, start + 59'999 + skew + 1, start + 120'000}) {
    auto r = codec.open(sealed, window, slot, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.code(), make_error_code(errc::record_seq_out_of_range)) << bad;
  }
  bytes garbage(200, std::byte{0x02});
  EXPECT_EQ(codec.open(garbage, window, slot, std::numeric_limits<std::int64_t>::max()).code(),
            make_error_code(errc::record_seq_out_of_range));
  // In the range but not the signed timestamp: someone re-stored the value
  // with another seq (only a slot key holder can), refused after the checks.
  for (std::int64_t other : {start - skew, start + 59'999 + skew, ts + 1}) {
    auto r = codec.open(sealed, window, slot, other);
    ASSERT_FALSE(r) << other;
    EXPECT_EQ(r.code(), make_error_code(errc::record_seq_out_of_range)) << other;
  }
  EXPECT_TRUE(codec.open(sealed, window, slot, ts));
}

TEST_F(TopicRecord, TimestampMustLieInTheWindow) {
  const auto start = static_cast<std::int64_t>(window * 60'000);
  const auto skew = static_cast<std::int64_t>(max_record_skew_ms);
  // The edges of the skew are accepted, both ways.
  for (std::int64_t t : {start - skew, start + 59'999 + skew}) {
    auto r = small_record();
    r.timestamp_ms = static_cast<std::uint64_t>(t);
    auto sealed = codec.seal(r, publisher, slot);
    ASSERT_TRUE(sealed) << t;
    EXPECT_TRUE(codec.open(*sealed, window, slot, t)) << t;
  }
  // One past them: the library refuses to seal it...
  for (std::int64_t t : {start - skew - 1, start + 59'999 + skew + 1}) {
    auto r = small_record();
    r.timestamp_ms = static_cast<std::uint64_t>(t);
    EXPECT_EQ(codec.seal(r, publisher, slot).code(), make_error_code(errc::record_wrong_window)) << t;
  }
  // ...and a reader refuses one forged by an insider (stored with a seq that
  // passes), since the signed timestamp says another time.
  auto r = small_record();
  r.timestamp_ms = static_cast<std::uint64_t>(start + 600'000);
  auto ws = codec.window_key(window);
  auto forged = rf::seal_with_key_of(r, publisher, topic, window, slot, ws);
  ASSERT_TRUE(forged);
  auto o = codec.open(*forged, window, slot, ts);
  ASSERT_FALSE(o);
  EXPECT_EQ(o.code(), make_error_code(errc::record_wrong_window));
}

TEST_F(TopicRecord, TheSlotIsBoundIntoTheEnvelope) {
  // A member cannot copy a record into another slot of the window (to fill
  // every slot with one record): it opens only as the slot it was sealed for.
  auto sealed = *codec.seal(small_record(), publisher, slot);
  EXPECT_TRUE(codec.open(sealed, window, slot, ts));
  for (unsigned other : {0u, slot + 1, 63u, 1000u})
    EXPECT_EQ(codec.open(sealed, window, other, ts).code(), make_error_code(errc::record_decryption_failed))
        << other;
}

TEST(WindowRange, IsTheWindowsMillisecondsWithSkew) {
  auto r = rf::window_range(29'000'000);
  EXPECT_EQ(r.first, 1'740'000'000'000 - 5'000);
  EXPECT_EQ(r.last, 1'740'000'059'999 + 5'000);
  EXPECT_TRUE(r.contains(std::uint64_t{1'740'000'000'000}));
  EXPECT_FALSE(r.contains(std::numeric_limits<std::uint64_t>::max()));
  // Window 0 starts at the epoch: the skew before it is negative, not a wrap.
  auto z = rf::window_range(0);
  EXPECT_EQ(z.first, -5'000);
  EXPECT_EQ(z.last, 64'999);
  // An absurd window clamps instead of overflowing.
  auto big = rf::window_range(std::numeric_limits<std::uint64_t>::max());
  EXPECT_LT(big.first, big.last);
}

TEST(RecordSlot, DeterministicPerWindowSecretAndIndex) {
  const auto t = topic_id_from_name("slots");
  const auto k = key_of(1);
  const record_codec codec(t, k);
  auto a = codec.slot(100, 0);
  auto b = record_slot_for(default_secret_rotation(t, 100, k), 0);
  EXPECT_EQ(a.key(), b.key());
  EXPECT_EQ(a.salt, b.salt);
  EXPECT_EQ(a.salt.size(), 16u);
  EXPECT_NE(codec.slot(100, 1).key(), a.key());
  EXPECT_NE(codec.slot(100, 1).salt, a.salt);
  EXPECT_NE(codec.slot(101, 0).key(), a.key());
  EXPECT_NE(record_codec(topic_id_from_name("other"), k).slot(100, 0).key(), a.key());
  // The point of format 2: the same name with another secret has other
  // slots, so a stranger who knows only the name cannot find or fill them.
  EXPECT_NE(record_codec(t, key_of(2)).slot(100, 0).key(), a.key());
  EXPECT_NE(record_codec(t, key_of(2)).slot(100, 0).salt, a.salt);
  EXPECT_NE(record_codec(t, open_topic_key(t)).slot(100, 0).key(), a.key());
}

TEST(Window, IsUnixMinute) {
  using namespace std::chrono;
  EXPECT_EQ(window_at(system_clock::time_point(seconds(0))), 0u);
  EXPECT_EQ(window_at(system_clock::time_point(seconds(59))), 0u);
  EXPECT_EQ(window_at(system_clock::time_point(seconds(60))), 1u);
  EXPECT_EQ(window_at(system_clock::time_point(seconds(1'740'000'000))), 29'000'000u);
}
