// The hello frame's codec (net/hello.hpp): round trip, the exact byte layout
// of docs/PROTOCOL.md §10.4, truncation, limits and canonical form. The
// decoder reads untrusted bytes: every malformed input is an error, never a
// crash (fuzz/hello_fuzz.cpp explores further).
#include "net/hello.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace topicswarm::net {
namespace {

bytes body_of(std::initializer_list<int> v) {
  bytes b;
  for (int x : v) b.push_back(static_cast<std::byte>(x));
  return b;
}

// The hello body of a whole frame made by append_hello.
byte_span body_in(const bytes& frame) {
  EXPECT_GE(frame.size(), frame_header_size + 1);
  EXPECT_EQ(static_cast<frame_kind>(frame.at(frame_header_size)), frame_kind::hello);
  return byte_span(frame).subspan(frame_header_size + 1);
}

TEST(net_hello, encodes_the_documented_layout) {
  bytes frame;
  append_hello(frame, {{1, 3}, {frame_kind::gossip, frame_kind::keepalive, frame_kind::hello, frame_kind::relay}});
  // length 8 = kind + major + minor + count + 4 kinds; kinds ascending.
  EXPECT_EQ(frame, body_of({0, 0, 0, 8, /*kind*/ 2, /*version*/ 1, 3, /*count*/ 4, 0, 1, 2, 8}));
}

TEST(net_hello, round_trips) {
  std::vector<hello> samples{
      {protocol_version_current, {}},
      {protocol_version_current, {frame_kind::gossip, frame_kind::keepalive, frame_kind::hello}},
      {{255, 255}, {frame_kind::experimental_last, frame_kind::gossip}},
      {{0, 9}, {frame_kind::ping, frame_kind::pong, frame_kind::catalog, frame_kind::admission, frame_kind::nat}},
  };
  kind_set full;
  for (std::size_t k = 0; k < max_hello_kinds; ++k) full.insert(static_cast<frame_kind>(k * 3));
  samples.push_back({protocol_version_current, full});
  for (const auto& h : samples) {
    bytes frame;
    append_hello(frame, h);
    auto d = decode_hello(body_in(frame));
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(d->version, h.version);
    EXPECT_EQ(d->kinds, h.kinds);
    EXPECT_EQ(d->kinds.size(), h.kinds.size());
  }
}

TEST(net_hello, every_truncation_is_an_error) {
  bytes frame;
  append_hello(frame, {protocol_version_current, {frame_kind::gossip, frame_kind::keepalive, frame_kind::hello}});
  const byte_span body = body_in(frame);
  for (std::size_t n = 0; n < body.size(); ++n) {
    auto d = decode_hello(body.first(n));
    ASSERT_FALSE(d) << n << " bytes decoded";
    EXPECT_TRUE(d.error() == errc::malformed_message);
  }
  EXPECT_TRUE(decode_hello(body));
}

TEST(net_hello, trailing_bytes_are_an_error) {
  auto d = decode_hello(body_of({1, 0, 2, 0, 1, 7}));
  ASSERT_FALSE(d);
  EXPECT_TRUE(d.error() == errc::malformed_message);
  EXPECT_NE(d.error().message().find("exactly 5"), std::string::npos) << d.error().message();
}

TEST(net_hello, more_kinds_than_the_limit_are_refused_before_they_are_read) {
  bytes at_limit = body_of({1, 0, static_cast<int>(max_hello_kinds)});
  for (std::size_t k = 0; k < max_hello_kinds; ++k) at_limit.push_back(static_cast<std::byte>(k));
  EXPECT_TRUE(decode_hello(at_limit));

  bytes over = body_of({1, 0, static_cast<int>(max_hello_kinds + 1)});
  for (std::size_t k = 0; k <= max_hello_kinds; ++k) over.push_back(static_cast<std::byte>(k));
  auto d = decode_hello(over);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("more than the 64 allowed"), std::string::npos) << d.error().message();
  // The count alone decides: a count of 255 with no kinds behind it.
  d = decode_hello(body_of({1, 0, 255}));
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("more than"), std::string::npos) << d.error().message();
}

TEST(net_hello, duplicate_or_unsorted_kinds_are_an_error) {
  // One encoding per set: a duplicate could make two peers disagree on what was said.
  for (const auto& body : {body_of({1, 0, 2, 0, 0}), body_of({1, 0, 3, 0, 2, 1}), body_of({1, 0, 2, 255, 0})}) {
    auto d = decode_hello(body);
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().message().find("strictly ascending"), std::string::npos) << d.error().message();
  }
}

TEST(net_hello, the_version_is_reported_not_judged) {
  // Compatibility is the transport's decision (same major); the codec only reads.
  auto d = decode_hello(body_of({7, 200, 1, 0}));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->version, (protocol_version{7, 200}));
  EXPECT_TRUE(d->kinds.contains(frame_kind::gossip));
  EXPECT_FALSE(d->kinds.contains(frame_kind::keepalive));
}

TEST(net_hello, random_bodies_never_crash_and_valid_ones_are_canonical) {
  std::mt19937 rng(12);  // fixed seed: the same inputs every run
  std::size_t valid = 0;
  for (int i = 0; i < 20'000; ++i) {
    bytes body(rng() % 12);
    for (auto& b : body) b = static_cast<std::byte>(rng() % 8);  // small values: ascending runs happen
    auto d = decode_hello(body);
    if (!d) continue;
    ++valid;
    bytes again;
    append_hello(again, *d);
    const byte_span re = body_in(again);
    EXPECT_TRUE(std::equal(re.begin(), re.end(), body.begin(), body.end())) << "a decoded hello re-encodes differently";
  }
  EXPECT_GT(valid, 0u) << "the generator never produced a valid hello; the canonical check ran on nothing";
}

TEST(net_frame_kind, names_and_ranges) {
  EXPECT_STREQ(kind_name(frame_kind::gossip), "gossip");
  EXPECT_STREQ(kind_name(frame_kind::catalog), "catalog");
  EXPECT_STREQ(kind_name(static_cast<frame_kind>(9)), "unassigned");
  EXPECT_STREQ(kind_name(static_cast<frame_kind>(0xdf)), "unassigned");
  EXPECT_STREQ(kind_name(static_cast<frame_kind>(0xe0)), "experimental");
  EXPECT_STREQ(kind_name(frame_kind::experimental_last), "experimental");
  EXPECT_EQ(describe(frame_kind::relay), "kind 8 (relay)");
  // The wire numbers are the protocol: pinned here and in docs/PROTOCOL.md §10.3.
  const std::vector<std::pair<frame_kind, int>> table{
      {frame_kind::gossip, 0}, {frame_kind::keepalive, 1}, {frame_kind::hello, 2},     {frame_kind::ping, 3},
      {frame_kind::pong, 4},   {frame_kind::catalog, 5},   {frame_kind::admission, 6}, {frame_kind::nat, 7},
      {frame_kind::relay, 8},  {frame_kind::experimental_first, 0xe0}};
  for (auto [kind, number] : table) EXPECT_EQ(static_cast<int>(kind), number) << kind_name(kind);
}

}  // namespace
}  // namespace topicswarm::net
