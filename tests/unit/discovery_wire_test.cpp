// Discovery wire codec (src/discovery/wire.hpp, issue 14 spec §3-4): the
// documented layout, round trips at the smallest and largest size of every
// message, canonical form, and refusal of every malformed input the spec
// names, by the decoder and (where a struct can hold it) by the encoder.
#include "discovery/wire.hpp"

#include "net/config.hpp"

#include <gtest/gtest.h>

#include <string>

namespace topicswarm::discovery::wire {
namespace {

// The largest frame the transport takes by default (kind byte + body).
static_assert(1 + limits::max_frame_body <= net::config{}.max_frame_payload,
              "a full discovery frame must fit the transport's default frame payload");
static_assert(limits::max_frame_body == 46'054);
static_assert(limits::max_digest_page_bytes == 12'296);

node_id node_of(std::uint8_t b) { return *node_id::from_span(bytes(32, std::byte{b})); }
// Distinct, ascending ids for i < 65536: the index big-endian in the first two bytes.
node_id node_at(std::size_t i) {
  bytes b(32, std::byte{0x5a});
  b[0] = std::byte{static_cast<std::uint8_t>(i >> 8)};
  b[1] = std::byte{static_cast<std::uint8_t>(i)};
  return *node_id::from_span(b);
}
topic_id topic_of(std::uint8_t b) { return *topic_id::from_span(bytes(32, std::byte{b})); }
bytes blob(std::size_t n, std::uint8_t fill = 0xe7) { return bytes(n, std::byte{fill}); }

std::vector<digest> digests(std::size_t n) {
  std::vector<digest> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(digest{node_at(i), 1'700'000'000'000 + i, 1'700'000'000'500 + i});
  return v;
}
std::vector<node_id> nodes(std::size_t n) {
  std::vector<node_id> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(node_at(i));
  return v;
}

void put_u16(bytes& b, std::size_t at, std::uint16_t v) {
  b.at(at) = std::byte{static_cast<std::uint8_t>(v >> 8)};
  b.at(at + 1) = std::byte{static_cast<std::uint8_t>(v)};
}

// Every message type at its smallest and its largest encoding.
std::vector<message> minimal() {
  return {digest_request{0, topic_of(1), std::nullopt, 1},
          digest_page{0, false, {}},
          fetch_request{0, {node_of(3)}},
          fetch_response{0, {}},
          ping{0},
          pong{0}};
}
std::vector<message> maximal() {
  return {digest_request{0xffffffff, topic_of(0xff), node_of(0xff), 256},
          digest_page{0xffffffff, true, digests(limits::max_digests_per_page)},
          fetch_request{0xffffffff, nodes(limits::max_fetch)},
          fetch_response{0xffffffff, std::vector<bytes>(limits::max_fetch, blob(limits::max_entry_bytes))},
          ping{~std::uint64_t{0}},
          pong{~std::uint64_t{0}}};
}
// Small messages with every optional part present, for the truncation test.
std::vector<message> typical() {
  return {
      digest_request{7, topic_of(1), node_of(2), 100},    digest_page{8, true, digests(3)}, fetch_request{9, nodes(2)},
      fetch_response{10, {blob(1, 0x01), blob(5, 0x02)}}, ping{0x0102030405060708},         pong{0x0102030405060708}};
}

void expect_malformed(byte_span b, const std::string& why) {
  auto d = decode(b);
  ASSERT_FALSE(d) << why;
  EXPECT_EQ(d.code(), make_error_code(errc::malformed_message)) << why << ": " << d.error().message();
}

TEST(discovery_wire, encodes_the_documented_layout) {
  // 0x01 digest_request: req u32 || network 32 || has_after u8 || after 32 || max u16
  bytes b = encode(digest_request{0x01020304, topic_of(0xaa), node_of(0xbb), 0x0100});
  bytes want{std::byte{0x01}, std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  want.insert(want.end(), 32, std::byte{0xaa});
  want.push_back(std::byte{1});
  want.insert(want.end(), 32, std::byte{0xbb});
  want.insert(want.end(), {std::byte{0x01}, std::byte{0x00}});
  EXPECT_EQ(b, want);

  // Without `after`: has_after 0 and no id.
  b = encode(digest_request{5, topic_of(0xaa), std::nullopt, 3});
  EXPECT_EQ(b.size(), 1u + 4 + 32 + 1 + 2);
  EXPECT_EQ(b[37], std::byte{0});
  EXPECT_EQ(b[39], std::byte{3});

  // 0x02 digest_page: req || more || n u16 || n × (node || start_ms u64 || update_ms u64)
  b = encode(digest_page{6, true, {digest{node_of(0x11), 0x0a, 0x0b}}});
  want = {std::byte{0x02}, std::byte{0}, std::byte{0}, std::byte{0},
          std::byte{6},    std::byte{1}, std::byte{0}, std::byte{1}};
  want.insert(want.end(), 32, std::byte{0x11});
  for (std::uint8_t v : {0x0a, 0x0b}) {
    want.insert(want.end(), 7, std::byte{0});
    want.push_back(std::byte{v});
  }
  EXPECT_EQ(b, want);

  // 0x03 fetch_request: req || n u8 || n × node
  b = encode(fetch_request{1, {node_of(0x22)}});
  ASSERT_EQ(b.size(), 1u + 4 + 1 + 32);
  EXPECT_EQ(b[0], std::byte{0x03});
  EXPECT_EQ(b[5], std::byte{1});
  EXPECT_EQ(b[6], std::byte{0x22});

  // 0x04 fetch_response: req || n u8 || n × (len u16 || bytes)
  b = encode(fetch_response{2, {to_bytes("abc")}});
  want = {std::byte{0x04}, std::byte{0}, std::byte{0},   std::byte{0},   std::byte{2},  std::byte{1},
          std::byte{0},    std::byte{3}, std::byte{'a'}, std::byte{'b'}, std::byte{'c'}};
  EXPECT_EQ(b, want);

  // 0x05 ping / 0x06 pong: nonce u64
  b = encode(ping{0x0102030405060708});
  want = {std::byte{0x05}, std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4},
          std::byte{5},    std::byte{6}, std::byte{7}, std::byte{8}};
  EXPECT_EQ(b, want);
  b = encode(pong{1});
  EXPECT_EQ(b[0], std::byte{0x06});
  EXPECT_EQ(b.size(), limits::ping_bytes);
}

TEST(discovery_wire, round_trips_every_message_at_minimum_and_maximum_size) {
  for (const auto& set : {minimal(), maximal(), typical()}) {
    ASSERT_EQ(set.size(), std::variant_size_v<message>);
    for (std::size_t i = 0; i < set.size(); ++i) {
      const message& m = set[i];
      ASSERT_EQ(m.index(), i);
      EXPECT_TRUE(valid(m)) << "type " << i + 1;
      const bytes b = encode(m);
      ASSERT_FALSE(b.empty());
      EXPECT_EQ(std::to_integer<std::size_t>(b[0]), i + 1) << "type byte";
      EXPECT_LE(b.size(), limits::max_frame_body);
      auto d = decode(b);
      ASSERT_TRUE(d) << "type " << i + 1 << ": " << d.error().message();
      EXPECT_EQ(*d, m) << "type " << i + 1;
      EXPECT_EQ(encode(*d), b) << "type " << i + 1;  // canonical

      // encode_to appends.
      bytes out = to_bytes("prefix");
      EXPECT_TRUE(encode_to(out, m));
      EXPECT_EQ(bytes(out.begin() + 6, out.end()), b);
    }
  }
  // The largest of each type is exactly its documented bound.
  const auto big = maximal();
  EXPECT_EQ(encode(big[0]).size(), limits::max_digest_request_bytes);
  EXPECT_EQ(encode(big[1]).size(), limits::max_digest_page_bytes);
  EXPECT_EQ(encode(big[2]).size(), limits::max_fetch_request_bytes);
  EXPECT_EQ(encode(big[3]).size(), limits::max_fetch_response_bytes);
  EXPECT_EQ(encode(big[3]).size(), limits::max_frame_body);
  EXPECT_EQ(encode(big[4]).size(), limits::ping_bytes);
  // Fields survive: `after` absent stays absent, `more` false stays false.
  auto d = decode(encode(minimal()[0]));
  ASSERT_TRUE(d);
  EXPECT_FALSE(std::get<digest_request>(*d).after);
  d = decode(encode(fetch_response{3, {blob(1), blob(limits::max_entry_bytes), blob(2)}}));
  ASSERT_TRUE(d);
  const auto& entries = std::get<fetch_response>(*d).entries;
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].size(), limits::max_entry_bytes);
}

TEST(discovery_wire, every_truncation_is_an_error) {
  expect_malformed({}, "empty");
  for (const auto& m : typical()) {
    const bytes b = encode(m);
    for (std::size_t n = 0; n < b.size(); ++n)
      expect_malformed(byte_span(b).first(n), "type " + std::to_string(m.index() + 1) + " cut to " + std::to_string(n));
  }
  // The largest frames, cut by one byte and cut inside their first item.
  for (const auto& m : maximal()) {
    const bytes b = encode(m);
    expect_malformed(byte_span(b).first(b.size() - 1), "largest type " + std::to_string(m.index() + 1) + " less 1");
    expect_malformed(byte_span(b).first(b.size() / 2), "largest type " + std::to_string(m.index() + 1) + " halved");
  }
}

TEST(discovery_wire, a_trailing_byte_is_an_error) {
  for (const auto& set : {minimal(), maximal()})
    for (const auto& m : set) {
      bytes b = encode(m);
      b.push_back(std::byte{0});
      auto d = decode(b);
      ASSERT_FALSE(d);
      EXPECT_EQ(d.code(), make_error_code(errc::malformed_message));
      EXPECT_NE(d.error().message().find("trailing"), std::string::npos) << d.error().message();
    }
  // A digest_request saying "no after" with an id behind it: the id's first
  // two bytes (00 10) read as max 16, and the rest is trailing.
  bytes b = encode(digest_request{1, topic_of(1), node_at(16), 5});
  b[37] = std::byte{0};
  auto d = decode(b);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("32 trailing bytes"), std::string::npos) << d.error().message();
}

TEST(discovery_wire, unknown_types_are_refused) {
  for (std::uint8_t t : {0x00, 0x07, 0x08, 0x7f, 0x80, 0xff}) {
    bytes b = encode(ping{1});
    b[0] = std::byte{t};
    expect_malformed(b, "type " + std::to_string(t));
    expect_malformed(bytes{std::byte{t}}, "bare type " + std::to_string(t));
  }
}

TEST(discovery_wire, flags_other_than_0_or_1_are_refused) {
  for (std::uint8_t v : {2, 0x80, 0xff}) {
    bytes b = encode(digest_request{1, topic_of(1), node_of(2), 5});
    b[37] = std::byte{v};  // has_after
    expect_malformed(b, "has_after " + std::to_string(v));
    b = encode(digest_page{1, false, digests(1)});
    b[5] = std::byte{v};  // more
    expect_malformed(b, "more " + std::to_string(v));
  }
}

TEST(discovery_wire, digest_request_max_must_be_1_to_256) {
  for (std::uint16_t max : {0, 257, 1000, 0xffff}) {
    const digest_request m{1, topic_of(1), std::nullopt, max};
    EXPECT_FALSE(valid(m)) << max;
    EXPECT_TRUE(encode(m).empty()) << max;
    bytes b = encode(digest_request{1, topic_of(1), std::nullopt, 1});
    put_u16(b, b.size() - 2, max);
    expect_malformed(b, "max " + std::to_string(max));
  }
  for (std::uint16_t max : {1, 2, 255, 256}) {
    bytes b = encode(digest_request{1, topic_of(1), std::nullopt, 1});
    put_u16(b, b.size() - 2, max);
    auto d = decode(b);
    ASSERT_TRUE(d) << max << ": " << d.error().message();
    EXPECT_EQ(std::get<digest_request>(*d).max, max);
  }
}

TEST(discovery_wire, a_page_of_256_digests_is_accepted_and_257_refused) {
  const digest_page full{4, true, digests(256)};
  ASSERT_TRUE(decode(encode(full)));

  digest_page over{4, true, digests(257)};
  EXPECT_FALSE(valid(over));
  EXPECT_TRUE(encode(over).empty());
  bytes out = to_bytes("kept");
  EXPECT_FALSE(encode_to(out, over));
  EXPECT_EQ(out, to_bytes("kept"));  // nothing appended

  // The same 257 digests, hand-encoded: the count alone refuses it.
  bytes b = encode(full);
  put_u16(b, 6, 257);
  const bytes extra = encode(digest_page{0, false, {digests(257).back()}});
  b.insert(b.end(), extra.begin() + 8, extra.end());
  ASSERT_EQ(b.size(), 1u + 4 + 1 + 2 + 257 * limits::digest_bytes);
  expect_malformed(b, "257 digests");
  // A count over the limit with no bytes behind it is refused before any read.
  b = encode(digest_page{0, false, {}});
  put_u16(b, 6, 0xffff);
  expect_malformed(b, "count 65535");
  // A count within the limit but more than the bytes present.
  b = encode(digest_page{0, false, digests(2)});
  put_u16(b, 6, 3);
  expect_malformed(b, "count 3 with 2 digests");
}

TEST(discovery_wire, digests_must_be_strictly_ascending) {
  auto v = digests(4);
  std::swap(v[1], v[2]);
  const digest_page unsorted{1, false, v};
  EXPECT_FALSE(valid(unsorted));
  EXPECT_TRUE(encode(unsorted).empty());

  v = digests(4);
  v[2].node = v[1].node;  // same node, another version: still a duplicate
  v[2].update_ms += 1;
  const digest_page dup{1, false, v};
  EXPECT_FALSE(valid(dup));
  EXPECT_TRUE(encode(dup).empty());

  // Hand-encoded: swap the node ids of items 1 and 2 of a sorted page, then
  // make item 2 a copy of item 1.
  const bytes sorted = encode(digest_page{1, false, digests(4)});
  constexpr std::size_t first = 1 + 4 + 1 + 2;
  auto item = [&](std::size_t i) { return first + i * limits::digest_bytes; };
  bytes b = sorted;
  std::swap_ranges(b.begin() + item(1), b.begin() + item(1) + 32, b.begin() + item(2));
  expect_malformed(b, "not ascending");
  b = sorted;
  std::copy_n(sorted.begin() + item(1), limits::digest_bytes, b.begin() + item(2));
  expect_malformed(b, "duplicate digest");
  b = sorted;
  std::copy_n(sorted.begin() + item(1), 32, b.begin() + item(2));  // same node id, other version
  expect_malformed(b, "duplicate node id");
  // The smallest and largest ids are fine next to each other.
  EXPECT_TRUE(decode(encode(digest_page{1, false, {digest{node_of(0x00), 0, 0}, digest{node_of(0xff), 0, 0}}})));
}

TEST(discovery_wire, fetch_counts_are_bounded) {
  // fetch_request: 1..16 nodes.
  EXPECT_FALSE(valid(fetch_request{1, {}}));
  EXPECT_TRUE(encode(fetch_request{1, {}}).empty());
  EXPECT_FALSE(valid(fetch_request{1, nodes(17)}));
  EXPECT_TRUE(encode(fetch_request{1, nodes(17)}).empty());
  bytes b = encode(fetch_request{1, {node_of(1)}});
  b[5] = std::byte{0};
  b.resize(6);
  expect_malformed(b, "fetch_request of 0 nodes");
  b = encode(fetch_request{1, nodes(16)});
  b[5] = std::byte{17};
  b.insert(b.end(), 32, std::byte{0x33});
  expect_malformed(b, "fetch_request of 17 nodes");
  b = encode(fetch_request{1, nodes(2)});
  b[5] = std::byte{3};
  expect_malformed(b, "fetch_request count 3 with 2 nodes");

  // fetch_response: 0..16 entries.
  EXPECT_FALSE(valid(fetch_response{1, std::vector<bytes>(17, blob(1))}));
  b = encode(fetch_response{1, std::vector<bytes>(16, blob(1))});
  b[5] = std::byte{17};
  b.insert(b.end(), {std::byte{0}, std::byte{1}, std::byte{0x44}});
  expect_malformed(b, "fetch_response of 17 entries");
  b = encode(fetch_response{1, {}});
  b[5] = std::byte{0xff};
  expect_malformed(b, "fetch_response count 255");
}

TEST(discovery_wire, entries_of_0_or_2877_bytes_are_refused) {
  for (std::size_t n : {std::size_t{0}, limits::max_entry_bytes + 1, std::size_t{0xffff}}) {
    const fetch_response m{1, {blob(5), blob(n)}};
    EXPECT_FALSE(valid(m)) << n;
    EXPECT_TRUE(encode(m).empty()) << n;
  }
  // Hand-encoded: one entry whose length field says 0, or 2877 with the bytes there.
  bytes b = encode(fetch_response{1, {blob(1)}});
  put_u16(b, 6, 0);
  b.pop_back();
  expect_malformed(b, "entry of 0 bytes");
  b = encode(fetch_response{1, {blob(limits::max_entry_bytes)}});
  put_u16(b, 6, limits::max_entry_bytes + 1);
  b.push_back(std::byte{0xe7});
  expect_malformed(b, "entry of 2877 bytes");
  // A length within bounds but past the end.
  b = encode(fetch_response{1, {blob(10)}});
  put_u16(b, 6, 11);
  expect_malformed(b, "entry longer than the frame");
  // Both bounds themselves are fine.
  EXPECT_TRUE(decode(encode(fetch_response{1, {blob(1), blob(limits::max_entry_bytes)}})));
}

TEST(discovery_wire, valid_is_exactly_what_decodes) {
  std::vector<message> all = minimal();
  for (const auto& m : maximal()) all.push_back(m);
  all.push_back(digest_request{1, topic_of(1), std::nullopt, 0});
  all.push_back(digest_request{1, topic_of(1), node_of(1), 257});
  all.push_back(digest_page{1, false, digests(257)});
  all.push_back(digest_page{1, false, {digest{node_of(2), 0, 0}, digest{node_of(1), 0, 0}}});
  all.push_back(fetch_request{1, {}});
  all.push_back(fetch_request{1, nodes(17)});
  all.push_back(fetch_response{1, {bytes{}}});
  all.push_back(fetch_response{1, std::vector<bytes>(17, blob(1))});
  for (const auto& m : all) {
    const bytes b = encode(m);
    const auto d = decode(b);
    EXPECT_EQ(valid(m), static_cast<bool>(d)) << "type " << m.index() + 1 << " of " << b.size() << " bytes";
    EXPECT_EQ(valid(m), !b.empty());
    if (d) {
      EXPECT_EQ(*d, m);
    }
  }
}

// ---------------------------------------------------------------- announce --

TEST(discovery_wire, announces_round_trip) {
  const std::vector<announce> all{announce_entry{blob(1)}, announce_entry{blob(limits::max_entry_bytes)},
                                  announce_departure{blob(limits::departure_bytes)}};
  for (const auto& a : all) {
    EXPECT_TRUE(valid(a));
    const bytes b = encode_announce(a);
    ASSERT_FALSE(b.empty());
    EXPECT_EQ(std::to_integer<std::size_t>(b[0]), a.index() + 1);
    EXPECT_LE(b.size(), limits::max_announce_bytes);
    auto d = decode_announce(b);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(*d, a);
    EXPECT_EQ(encode_announce(*d), b);
  }
  // type || blob, nothing else.
  bytes want{std::byte{0x01}, std::byte{'x'}, std::byte{'y'}};
  EXPECT_EQ(encode_announce(announce_entry{to_bytes("xy")}), want);
  EXPECT_EQ(encode_announce(announce_entry{blob(limits::max_entry_bytes)}).size(), limits::max_announce_bytes);
  EXPECT_EQ(encode_announce(announce_departure{blob(limits::departure_bytes)}).size(), 146u);
}

TEST(discovery_wire, malformed_announces_are_refused) {
  auto refused = [](const bytes& b, const std::string& why) {
    auto d = decode_announce(b);
    ASSERT_FALSE(d) << why;
    EXPECT_EQ(d.code(), make_error_code(errc::malformed_message)) << why;
  };
  refused({}, "empty");
  refused({std::byte{0x01}}, "entry of 0 bytes");
  refused({std::byte{0x02}}, "departure of 0 bytes");
  for (std::uint8_t t : {0x00, 0x03, 0xff}) {
    bytes b = encode_announce(announce_entry{blob(10)});
    b[0] = std::byte{t};
    refused(b, "type " + std::to_string(t));
  }
  bytes b = encode_announce(announce_entry{blob(limits::max_entry_bytes)});
  b.push_back(std::byte{0});  // an entry of 2877 bytes
  refused(b, "entry of 2877 bytes");
  for (std::size_t n : {limits::departure_bytes - 1, limits::departure_bytes + 1}) {
    bytes d = encode_announce(announce_departure{blob(limits::departure_bytes)});
    d.resize(1 + n, std::byte{0});
    refused(d, "departure of " + std::to_string(n) + " bytes");
  }
  // The encoder writes nothing for what the decoder would refuse.
  for (const announce& a : std::vector<announce>{announce_entry{}, announce_entry{blob(limits::max_entry_bytes + 1)},
                                                 announce_departure{blob(limits::departure_bytes - 1)},
                                                 announce_departure{blob(limits::departure_bytes + 1)}}) {
    EXPECT_FALSE(valid(a));
    EXPECT_TRUE(encode_announce(a).empty());
  }
}

}  // namespace
}  // namespace topicswarm::discovery::wire
