// The LAN beacon core (src/lan/beacon, docs/PROTOCOL.md §20): the wire
// format, the per-topic tags only members can compute, when beacons go out,
// what a received beacon makes the node do, and the budgets that bound what
// anyone on the link can make it do.
#include "lan/beacon.hpp"

#include "endpoint_support.hpp"
#include "outputs_support.hpp"

#include <gtest/gtest.h>

namespace topicswarm::lan {
namespace {

using namespace std::chrono_literals;
using test_support::all;
using test_support::ep;

node_id id_of(std::uint8_t b) { return *node_id::from_span(bytes(32, std::byte{b})); }
topic_id topic_of(std::uint8_t b) { return *topic_id::from_span(bytes(32, std::byte{b})); }
secret_hash secret_of(std::uint8_t b) { return *secret_hash::from_span(bytes(32, std::byte{b})); }
topic_key key_of(std::uint8_t t, std::uint8_t s = 1) { return key_for(topic_of(t), secret_of(s)); }

constexpr std::uint32_t minute = 29'000'000;

TEST(lan_beacon_wire, a_beacon_round_trips_and_bad_datagrams_are_refused) {
  beacon b{id_of(7), 7000, minute, {tag_for(key_of(1), id_of(7), 7000, minute), tag{}}};
  const auto wire = encode(b);
  EXPECT_EQ(wire.size(), header_size + 2 * tag_size);
  auto d = decode(wire);
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_EQ(*d, b);
  const auto bad = [](bytes x) { return !decode(x).has_value(); };
  auto x = wire;
  x[0] = std::byte{0};
  EXPECT_TRUE(bad(x));  // magic
  x = wire;
  x[4] = std::byte{2};
  EXPECT_TRUE(bad(x));  // version
  x = wire;
  x.pop_back();
  EXPECT_TRUE(bad(x));  // a tag cut short
  x = wire;
  x.push_back(std::byte{0});
  EXPECT_TRUE(bad(x));  // trailing byte
  EXPECT_TRUE(bad(encode(beacon{id_of(7), 0, minute, {}})));  // port 0
  beacon many{id_of(7), 7000, minute, std::vector<tag>(max_tags + 1)};
  EXPECT_TRUE(bad(encode(many)));
  EXPECT_TRUE(bad(bytes(header_size - 1)));
  beacon none{id_of(7), 7000, minute, {}};
  EXPECT_TRUE(decode(encode(none)));  // no topic: valid, matches nothing
}

TEST(lan_beacon_wire, tags_depend_on_the_topic_the_secret_the_node_the_port_and_the_minute) {
  const auto t = tag_for(key_of(1), id_of(7), 7000, minute);
  EXPECT_EQ(t, tag_for(key_of(1), id_of(7), 7000, minute));
  EXPECT_NE(t, tag_for(key_of(2), id_of(7), 7000, minute));
  EXPECT_NE(t, tag_for(key_of(1, 2), id_of(7), 7000, minute));  // same name, another secret
  EXPECT_NE(t, tag_for(key_of(1), id_of(8), 7000, minute));
  EXPECT_NE(t, tag_for(key_of(1), id_of(7), 7001, minute));
  EXPECT_NE(t, tag_for(key_of(1), id_of(7), 7000, minute + 1));
}

struct lan_fixture : ::testing::Test {
  state s{config{}, id_of(1)};
  std::vector<out::output> out;
  core::instant now{};
  std::uint32_t min = minute;
  test_support::timer_list<out::schedule> timers;

  void feed(in::input i) {
    s.handle(std::move(i), now, min, out);
    timers.take(out, now);
  }
  void advance(core::duration by) {
    timers.advance(now, by, [&](const timer& t) { feed(in::timer_fired{t}); });
  }
  // A beacon from `from` (at 192.168.1.N) for the given topics' keys.
  void hear(std::uint8_t from, std::vector<topic_key> keys, std::uint16_t port = 7000, std::uint32_t at = minute,
            std::uint8_t host = 0) {
    beacon b{id_of(from), port, at, {}};
    for (const auto& k : keys) b.tags.push_back(tag_for(k, id_of(from), port, at));
    const auto src = ep(("192.168.1." + std::to_string(host ? host : from) + ":48654").c_str());
    feed(in::datagram{src, encode(b)});
  }
};

TEST_F(lan_fixture, beacons_go_out_soon_after_a_topic_is_added_then_every_interval_with_one_tag_per_topic) {
  feed(in::add_topic{topic_of(1), key_of(1)});
  advance(1s);
  EXPECT_TRUE(out.empty());  // no listen port yet: nothing to name
  feed(in::listen{7000});
  advance(config{}.first_after);
  auto sends = all<out::send>(out);
  ASSERT_EQ(sends.size(), 1u);
  auto b = decode(sends[0].payload);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->from, id_of(1));
  EXPECT_EQ(b->port, 7000);
  EXPECT_EQ(b->minute, minute);
  ASSERT_EQ(b->tags.size(), 1u);
  EXPECT_EQ(b->tags[0], tag_for(key_of(1), id_of(1), 7000, minute));
  out.clear();
  feed(in::add_topic{topic_of(2), key_of(2)});
  advance(config{}.first_after);
  sends = all<out::send>(out);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(decode(sends[0].payload)->tags.size(), 2u);
  out.clear();
  advance(config{}.interval * 3);
  EXPECT_EQ(all<out::send>(out).size(), 3u);
  out.clear();
  // No topics left: no more beacons.
  feed(in::remove_topic{topic_of(1)});
  feed(in::remove_topic{topic_of(2)});
  advance(config{}.interval * 3);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(timers.due.empty() || !s.timer_applies(timers.due.front().second));
}

TEST_F(lan_fixture, with_more_topics_than_a_beacon_holds_the_beacons_take_turns) {
  feed(in::listen{7000});
  for (std::uint8_t t = 1; t <= 20; ++t) feed(in::add_topic{topic_of(t), key_of(t)});
  advance(config{}.first_after + config{}.interval);
  const auto sends = all<out::send>(out);
  ASSERT_EQ(sends.size(), 2u);
  std::set<tag> seen;
  for (const auto& snd : sends) {
    const auto b = decode(snd.payload);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->tags.size(), max_tags);
    seen.insert(b->tags.begin(), b->tags.end());
  }
  EXPECT_EQ(seen.size(), 20u);  // every topic in one of the two
}

TEST_F(lan_fixture, a_member_s_beacon_is_found_once_per_topic_and_address_within_the_refound_interval) {
  feed(in::add_topic{topic_of(1), key_of(1)});
  feed(in::add_topic{topic_of(2), key_of(2)});
  hear(9, {key_of(3), key_of(2)});
  auto f = all<out::found>(out);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].topic, topic_of(2));
  EXPECT_EQ(f[0].peer, id_of(9));
  EXPECT_EQ(f[0].address, ep("192.168.1.9:7000"));  // the source IP, the port the beacon names
  out.clear();
  advance(5s);
  hear(9, {key_of(2)});
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(s.stats().repeats, 1u);
  advance(config{}.refound_interval);
  hear(9, {key_of(2)});
  EXPECT_EQ(all<out::found>(out).size(), 1u);
  out.clear();
  // The next minute's beacon still counts (clocks differ by a little).
  min += 1;
  hear(9, {key_of(1)}, 7000, minute);
  EXPECT_EQ(all<out::found>(out).size(), 1u);
  EXPECT_EQ(s.stats().found, 3u);
}

TEST_F(lan_fixture, strangers_beacons_our_own_and_stale_ones_find_nothing) {
  feed(in::add_topic{topic_of(1), key_of(1)});
  hear(9, {key_of(1, 2)});  // the topic's name with another secret
  beacon copied{id_of(9), 7000, minute, {tag_for(key_of(1), id_of(8), 7000, minute)}};  // node 8's tag, as node 9
  feed(in::datagram{ep("192.168.1.10:48654"), encode(copied)});
  beacon forged{id_of(9), 7001, minute, {tag_for(key_of(1), id_of(9), 7000, minute)}};  // another port
  feed(in::datagram{ep("192.168.1.11:48654"), encode(forged)});
  hear(1, {key_of(1)});  // ours, looped back
  hear(9, {key_of(1)}, 7000, minute - 2, 12);  // two minutes old
  feed(in::datagram{ep("192.168.1.13:48654"), bytes(5)});
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(s.stats().unmatched, 3u);
  EXPECT_EQ(s.stats().own, 1u);
  EXPECT_EQ(s.stats().stale, 1u);
  EXPECT_EQ(s.stats().malformed, 1u);
  EXPECT_EQ(s.stats().found, 0u);
}

TEST_F(lan_fixture, each_source_and_all_of_them_get_a_budget_before_any_tag_is_checked) {
  feed(in::add_topic{topic_of(1), key_of(1)});
  for (int i = 0; i < 20; ++i) hear(9, {key_of(3)});
  EXPECT_EQ(s.stats().rate_limited, 20u - config{}.source_burst);
  EXPECT_EQ(s.stats().unmatched, config{}.source_burst);
  // Refilled at source_per_minute: one more a second.
  advance(1s);
  hear(9, {key_of(3)});
  EXPECT_EQ(s.stats().unmatched, config{}.source_burst + 1);
  // Many sources: the total budget.
  state t{config{}, id_of(1)};
  std::vector<out::output> o;
  t.handle(in::add_topic{topic_of(1), key_of(1)}, now, minute, o);
  for (int host = 1; host <= 200; ++host) {
    beacon b{id_of(9), 7000, minute, {}};
    t.handle(in::datagram{ep(("10.0." + std::to_string(host / 100) + "." + std::to_string(host % 100 + 1) + ":1").c_str()),
                          encode(b)},
             now, minute, o);
  }
  EXPECT_EQ(t.stats().rate_limited, 200u - config{}.total_burst);
}

}  // namespace
}  // namespace topicswarm::lan
