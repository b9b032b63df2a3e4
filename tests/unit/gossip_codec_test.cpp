// Gossip wire codec: round trip of every message type, canonical form, and
// rejection of truncated, oversized and malformed input.
#include "gossip_pump.hpp"

using namespace gossip_test;

namespace {

peer_info v6_peer(std::size_t i) {
  auto p = make_peer(i);
  p.addresses.push_back(*endpoint::parse("[2001:db8::1]:4433"));
  return p;
}

std::vector<wire::message> samples() {
  const auto g = make_gossip("payload", 3, scope::swarm);
  return {
      wire::join{{make_peer(1).addresses[0], *endpoint::parse("[::1]:9")}},
      wire::forward_join{v6_peer(2), 6},
      wire::neighbor{priority::high, make_peer(3).addresses},
      wire::neighbor_reply{true},
      wire::disconnect{false},
      wire::shuffle{make_peer(4), 5, {make_peer(5), v6_peer(6), peer_info{make_node_id(7), {}}}},
      wire::shuffle_reply{{make_peer(8)}},
      g,
      wire::ihave{{{g.id, 1}, {plumtree::id_of(as_bytes("other")), 65535}}},
      wire::graft{g.id, 4},
      wire::prune{},
  };
}

}  // namespace

TEST(GossipCodec, RoundTripsEveryMessageType) {
  const auto topic = test_topic();
  auto all = samples();
  ASSERT_EQ(all.size(), std::variant_size_v<wire::message>);
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto& m = all[i];
    ASSERT_EQ(m.index(), i);
    const bytes b = encode(topic, m);
    EXPECT_EQ(static_cast<std::size_t>(b[32]), i) << "type byte";
    auto d = decode(b);
    ASSERT_TRUE(d) << "type " << i << ": " << d.error().message();
    EXPECT_EQ(d->first, topic);
    ASSERT_EQ(d->second.index(), i);
    EXPECT_EQ(encode(topic, d->second), b) << "type " << i;  // canonical
    EXPECT_LE(b.size(), max_encoded_size(config{}.max_message_size));
  }
  // Field spot checks.
  auto d = decode(encode(topic, all[1]));
  auto& fj = std::get<wire::forward_join>(d->second);
  EXPECT_EQ(fj.peer, v6_peer(2));
  EXPECT_EQ(fj.ttl, 6);
  d = decode(encode(topic, all[7]));
  auto& g = std::get<wire::gossip>(d->second);
  EXPECT_EQ(to_string(g.content), "payload");
  EXPECT_EQ(g.round, 3);
  EXPECT_EQ(g.id, plumtree::id_of(as_bytes("payload")));
  d = decode(encode(topic, wire::graft{std::nullopt, 9}));
  ASSERT_TRUE(d);
  EXPECT_FALSE(std::get<wire::graft>(d->second).id);
  EXPECT_EQ(std::get<wire::graft>(d->second).round, 9);
  d = decode(encode(topic, make_gossip("n", 0, scope::neighbors)));
  EXPECT_EQ(std::get<wire::gossip>(d->second).sc, scope::neighbors);
  EXPECT_EQ(encode(topic, wire::prune{}).size(), 33u);
}

TEST(GossipCodec, RejectsEveryTruncation) {
  const auto topic = test_topic();
  for (const auto& m : samples()) {
    const bytes b = encode(topic, m);
    for (std::size_t n = 0; n < b.size(); ++n) {
      auto d = decode(byte_span(b).first(n));
      ASSERT_FALSE(d) << "type " << m.index() << " prefix " << n;
      EXPECT_EQ(d.code(), make_error_code(errc::malformed_message)) << d.error().message();
    }
  }
}

TEST(GossipCodec, RejectsTrailingBytes) {
  bytes b = encode(test_topic(), wire::prune{});
  b.push_back(std::byte{0});
  auto d = decode(b);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.code(), make_error_code(errc::malformed_message));
  EXPECT_NE(d.error().message().find("trailing"), std::string::npos);
}

TEST(GossipCodec, RejectsBadTagsAndEnumBytes) {
  const auto topic = test_topic();
  auto with = [&](const wire::message& m, std::size_t at, std::uint8_t v) {
    bytes b = encode(topic, m);
    b.at(at) = std::byte{v};
    return decode(b);
  };
  // type byte
  for (std::uint8_t t : {11, 12, 0x80, 0xff}) {
    auto d = with(wire::prune{}, 32, t);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.code(), make_error_code(errc::malformed_message));
  }
  EXPECT_FALSE(with(wire::neighbor_reply{true}, 33, 2));          // bool
  EXPECT_FALSE(with(wire::disconnect{true}, 33, 0xff));           // bool
  EXPECT_FALSE(with(wire::neighbor{priority::low, {}}, 33, 2));   // priority
  EXPECT_FALSE(with(wire::join{make_peer(1).addresses}, 34, 5));  // address family
  EXPECT_FALSE(with(make_gossip("x"), 33 + 32 + 2, 2));           // scope
  EXPECT_FALSE(with(wire::graft{std::nullopt, 0}, 33, 2));        // id flag
  auto ok = with(wire::join{make_peer(1).addresses}, 34, 6);      // v4 → v6 changes the length
  EXPECT_FALSE(ok);
}

TEST(GossipCodec, RejectsOversizedContentAndLists) {
  const auto topic = test_topic();
  // Content: the limit is the decode argument.
  const auto big = make_gossip(std::string(5000, 'z'));
  auto d = decode(encode(topic, big));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.code(), make_error_code(errc::message_too_large));
  EXPECT_TRUE(decode(encode(topic, big), 5000));
  EXPECT_FALSE(decode(encode(topic, big), 4999));
  // A huge declared length with no bytes behind it.
  bytes b = encode(topic, make_gossip(""));
  b[33 + 32 + 2 + 1] = std::byte{0xff};
  d = decode(b, limits::max_content_size * 4);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.code(), make_error_code(errc::message_too_large));  // clamped to the ceiling

  // Address count 5 (> 4).
  b = encode(topic, wire::join{});
  b[33] = std::byte{5};
  d = decode(b);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.code(), make_error_code(errc::message_too_large));
  // IHAVE count 257 (> 256).
  b = encode(topic, wire::ihave{});
  b[33] = std::byte{0x01};
  b[34] = std::byte{0x01};
  d = decode(b);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.code(), make_error_code(errc::message_too_large));
  // Shuffle with 65 nodes (> 64).
  b = encode(topic, wire::shuffle_reply{});
  b[33] = std::byte{65};
  EXPECT_EQ(decode(b).code(), make_error_code(errc::message_too_large));
  // ttl 33 (> 32).
  b = encode(topic, wire::forward_join{peer_info{make_node_id(1), {}}, 0});
  b.back() = std::byte{33};
  EXPECT_EQ(decode(b).code(), make_error_code(errc::message_too_large));
  b.back() = std::byte{32};
  EXPECT_TRUE(decode(b));
}

TEST(GossipCodec, EncoderCapsListsAtTheirLimits) {
  wire::shuffle_reply r;
  for (std::size_t i = 0; i < 70; ++i) {
    auto p = make_peer(i);
    p.addresses.assign(6, p.addresses[0]);
    r.nodes.push_back(p);
  }
  auto d = decode(encode(test_topic(), r));
  ASSERT_TRUE(d) << d.error().message();
  auto& nodes = std::get<wire::shuffle_reply>(d->second).nodes;
  EXPECT_EQ(nodes.size(), limits::max_shuffle_nodes);
  EXPECT_EQ(nodes[0].addresses.size(), limits::max_addresses);
}

TEST(GossipCodec, ErrorMessagesSayWhat) {
  auto d = decode(bytes(10, std::byte{0}));
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("message is malformed"), std::string::npos);
  EXPECT_NE(d.error().message().find("truncated"), std::string::npos);
}
