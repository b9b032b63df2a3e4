// The connection reversal core (src/nat/reversal, docs/PROTOCOL.md §19.7,
// §19.8) as a pure state machine, in its three roles: the requester that
// cannot dial a peer, the helper connected to both, and the target that
// dials back (a reversal) or dials at the same moment (a hole punch); and the
// limits on what a requester or a helper can make a node do.
#include "nat/reversal.hpp"

#include "endpoint_support.hpp"
#include "outputs_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace topicswarm::nat::reversal {
namespace {

using namespace std::chrono_literals;
using test_support::all;
using test_support::ep;
using test_support::eps;

node_id id_of(std::uint8_t b) { return *node_id::from_span(bytes(32, std::byte{b})); }

template <class M>
std::vector<std::pair<node_id, M>> sent(const std::vector<out::output>& out) {
  std::vector<std::pair<node_id, M>> r;
  for (const auto& s : all<out::send>(out))
    if (const auto* m = std::get_if<M>(&s.msg)) r.emplace_back(s.to, *m);
  return r;
}

struct reversal_fixture : ::testing::Test {
  state s{config{}, 11};
  // A reachable node asks for reversals (the punch tests below say otherwise).
  reversal_fixture() { s.set_public(true); }
  std::vector<out::output> out;
  core::instant now{};
  test_support::timer_list<out::schedule> timers;

  void sweep() { timers.take(out, now); }
  void feed(in::input i) {
    s.handle(std::move(i), now, out);
    sweep();
  }
  bool want(const node_id& target) {
    const bool r = s.want(target, now, out);
    sweep();
    return r;
  }
  void advance(core::duration by) {
    timers.advance(now, by, [&](const timer& t) { feed(in::timer_fired{t}); });
  }
  // A connected peer at `its_end` (as our connection sees it), reached on our `our_end`.
  void link(const node_id& id, const char* its_end, const char* our_end = "198.51.100.1:7000", bool speaks = true) {
    feed(in::link_up{id, ep(its_end), ep(our_end), speaks});
  }
  void listen(std::initializer_list<const char*> l) { feed(in::listen{eps(l)}); }
};

// ------------------------------------------------------------------ wire --

TEST(nat_reversal_wire, messages_round_trip_and_bad_bodies_are_refused) {
  const auto t = id_of(0x42);
  const std::vector<wire::message> msgs = {
      wire::reverse_request{t, 7000},
      wire::reverse_answer{t, wire::reverse_code::forwarded},
      wire::reverse_answer{t, wire::reverse_code::unknown},
      wire::reverse_answer{t, wire::reverse_code::refused},
      wire::reverse{t, ep("203.0.113.10:7000")},
      wire::reverse{t, ep("[2001:db8::1]:7000")},
  };
  for (const auto& m : msgs) {
    auto d = wire::decode(wire::encode(m));
    ASSERT_TRUE(d) << d.error().detail;
    EXPECT_EQ(*d, m);
  }
  EXPECT_EQ(wire::encode(wire::reverse_request{t, 7000}).size(), 1u + 32 + 2);
  const auto bad = [](bytes b) { return !wire::decode(b).has_value(); };
  EXPECT_TRUE(bad(wire::encode(wire::reverse_request{t, 0})));  // port 0
  auto shortq = wire::encode(wire::reverse_request{t, 7000});
  shortq.pop_back();
  EXPECT_TRUE(bad(shortq));
  auto code = wire::encode(wire::reverse_answer{t, wire::reverse_code::refused});
  code.back() = std::byte{3};
  EXPECT_TRUE(bad(code));  // unknown code
  auto longa = wire::encode(wire::reverse_answer{t, wire::reverse_code::refused});
  longa.push_back(std::byte{0});
  EXPECT_TRUE(bad(longa));
  EXPECT_TRUE(bad(wire::encode(wire::reverse{t, ep("0.0.0.0:7000")})));  // unspecified
  auto rev = wire::encode(wire::reverse{t, ep("203.0.113.10:7000")});
  rev.resize(33);  // the id and no address
  EXPECT_TRUE(bad(rev));
}

// ------------------------------------------------------------ requester --

TEST_F(reversal_fixture, a_requester_asks_up_to_three_peers_that_speak_nat_with_its_listen_port) {
  listen({"0.0.0.0:7000"});
  link(id_of(1), "203.0.113.1:7000");
  link(id_of(2), "203.0.113.2:7000");
  link(id_of(3), "203.0.113.3:7000");
  link(id_of(4), "203.0.113.4:7000");
  link(id_of(5), "203.0.113.5:7000", "198.51.100.1:7000", false);  // does not speak nat
  ASSERT_TRUE(want(id_of(9)));
  const auto q = sent<wire::reverse_request>(out);
  ASSERT_EQ(q.size(), 3u);
  for (const auto& [to, r] : q) {
    EXPECT_NE(to, id_of(5));
    EXPECT_EQ(r.target, id_of(9));
    EXPECT_EQ(r.port, 7000);
  }
  EXPECT_EQ(s.stats().requested, 1u);
  out.clear();
  EXPECT_TRUE(want(id_of(9)));  // the same reversal: nobody asked twice
  EXPECT_TRUE(out.empty());
  // The target connects: the reversal succeeded.
  link(id_of(9), "192.0.2.9:40000");
  EXPECT_EQ(s.stats().succeeded, 1u);
  EXPECT_EQ(s.pending(), 0u);
  EXPECT_FALSE(want(id_of(9)));  // connected now: nothing to reverse
}

TEST_F(reversal_fixture, with_no_peer_to_ask_nothing_starts) {
  listen({"0.0.0.0:7000"});
  EXPECT_FALSE(want(id_of(9)));
  link(id_of(1), "203.0.113.1:7000", "198.51.100.1:7000", false);
  EXPECT_FALSE(want(id_of(9)));
  EXPECT_EQ(s.stats().no_helper, 2u);
  EXPECT_TRUE(out.empty());
}

TEST_F(reversal_fixture, when_every_helper_says_no_the_reversal_fails_at_once) {
  listen({"0.0.0.0:7000"});
  link(id_of(1), "203.0.113.1:7000");
  link(id_of(2), "203.0.113.2:7000");
  ASSERT_TRUE(want(id_of(9)));
  out.clear();
  feed(in::received{id_of(1), wire::reverse_answer{id_of(9), wire::reverse_code::unknown}});
  EXPECT_TRUE(all<out::failed>(out).empty());
  feed(in::link_down{id_of(2)});  // the other helper went away
  ASSERT_EQ(all<out::failed>(out).size(), 1u);
  EXPECT_EQ(all<out::failed>(out)[0].target, id_of(9));
  EXPECT_EQ(s.stats().failed, 1u);
  EXPECT_EQ(s.stats().answers_unknown, 1u);
  // An answer to nothing we asked is counted, not acted on.
  feed(in::received{id_of(1), wire::reverse_answer{id_of(8), wire::reverse_code::forwarded}});
  EXPECT_EQ(s.stats().unexpected, 1u);
}

TEST_F(reversal_fixture, a_forwarded_reversal_waits_for_the_target_until_its_deadline) {
  listen({"0.0.0.0:7000"});
  link(id_of(1), "203.0.113.1:7000");
  link(id_of(2), "203.0.113.2:7000");
  ASSERT_TRUE(want(id_of(9)));
  out.clear();
  feed(in::received{id_of(1), wire::reverse_answer{id_of(9), wire::reverse_code::forwarded}});
  feed(in::received{id_of(2), wire::reverse_answer{id_of(9), wire::reverse_code::refused}});
  EXPECT_TRUE(all<out::failed>(out).empty());  // one helper reached it: wait
  advance(config{}.timeout - 1ms);
  EXPECT_EQ(s.pending(), 1u);
  advance(2ms);
  EXPECT_EQ(s.pending(), 0u);
  EXPECT_EQ(s.stats().timeouts, 1u);
  EXPECT_EQ(s.stats().answers_refused, 1u);
}

// --------------------------------------------------------------- helper --

TEST_F(reversal_fixture, a_helper_forwards_the_requesters_observed_ip_and_asked_port_to_a_connected_target) {
  link(id_of(1), "203.0.113.1:55555");  // the requester, as our connection sees it
  link(id_of(9), "192.0.2.9:40000");    // the target
  feed(in::received{id_of(1), wire::reverse_request{id_of(9), 7000}});
  const auto fwd = sent<wire::reverse>(out);
  ASSERT_EQ(fwd.size(), 1u);
  EXPECT_EQ(fwd[0].first, id_of(9));
  EXPECT_EQ(fwd[0].second.from, id_of(1));
  EXPECT_EQ(fwd[0].second.address, ep("203.0.113.1:7000"));
  const auto ans = sent<wire::reverse_answer>(out);
  ASSERT_EQ(ans.size(), 1u);
  EXPECT_EQ(ans[0].first, id_of(1));
  EXPECT_EQ(ans[0].second.code, wire::reverse_code::forwarded);
  EXPECT_EQ(s.stats().forwarded, 1u);
}

TEST_F(reversal_fixture, a_helper_not_connected_to_the_target_or_asked_for_the_requester_itself_says_so) {
  link(id_of(1), "203.0.113.1:55555");
  link(id_of(8), "192.0.2.8:40000", "198.51.100.1:7000", false);  // connected, but speaks no nat
  feed(in::received{id_of(1), wire::reverse_request{id_of(9), 7000}});
  feed(in::received{id_of(1), wire::reverse_request{id_of(8), 7000}});
  feed(in::received{id_of(1), wire::reverse_request{id_of(1), 7000}});
  EXPECT_TRUE(sent<wire::reverse>(out).empty());
  const auto ans = sent<wire::reverse_answer>(out);
  ASSERT_EQ(ans.size(), 3u);
  EXPECT_EQ(ans[0].second.code, wire::reverse_code::unknown);
  EXPECT_EQ(ans[1].second.code, wire::reverse_code::unknown);
  EXPECT_EQ(ans[2].second.code, wire::reverse_code::refused);
  EXPECT_EQ(s.stats().forward_unknown, 2u);
  EXPECT_EQ(s.stats().forward_refused, 1u);
}

TEST_F(reversal_fixture, a_helper_forwards_at_most_the_per_requester_burst_then_the_refill_rate) {
  link(id_of(1), "203.0.113.1:55555");
  link(id_of(9), "192.0.2.9:40000");
  const config c;
  for (std::size_t i = 0; i < c.forward_burst + 5; ++i)
    feed(in::received{id_of(1), wire::reverse_request{id_of(9), 7000}});
  EXPECT_EQ(s.stats().forwarded, c.forward_burst);
  EXPECT_EQ(s.stats().forward_refused, 5u);
  advance(60s / c.forward_per_minute + 10ms);
  feed(in::received{id_of(1), wire::reverse_request{id_of(9), 7000}});
  EXPECT_EQ(s.stats().forwarded, c.forward_burst + 1);
  // Another requester has a bucket of its own.
  link(id_of(2), "203.0.113.2:55555");
  feed(in::received{id_of(2), wire::reverse_request{id_of(9), 7000}});
  EXPECT_EQ(s.stats().forwarded, c.forward_burst + 2);
}

// --------------------------------------------------------------- target --

TEST_F(reversal_fixture, a_target_dials_the_requester_at_the_address_the_helper_gave) {
  s.set_policy(core::address_policy(eps({"198.51.100.1:7000"}), {}));
  link(id_of(5), "203.0.113.5:7000");  // the helper
  feed(in::received{id_of(5), wire::reverse{id_of(1), ep("203.0.113.1:7000")}});
  const auto d = all<out::dial>(out);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].peer, id_of(1));
  EXPECT_EQ(d[0].address, ep("203.0.113.1:7000"));
  EXPECT_EQ(s.stats().dialled, 1u);
  // A second reverse frame for the same requester while that dial runs, or
  // right after it, is skipped.
  out.clear();
  feed(in::received{id_of(5), wire::reverse{id_of(1), ep("203.0.113.1:7000")}});
  feed(in::dial_done{id_of(1), false});
  feed(in::received{id_of(5), wire::reverse{id_of(1), ep("203.0.113.1:7000")}});
  EXPECT_TRUE(all<out::dial>(out).empty());
  EXPECT_EQ(s.stats().dial_skipped, 2u);
  EXPECT_EQ(s.stats().dial_failed, 1u);
  advance(config{}.redial_interval);
  feed(in::received{id_of(5), wire::reverse{id_of(1), ep("203.0.113.1:7000")}});
  EXPECT_EQ(all<out::dial>(out).size(), 1u);
}

TEST_F(reversal_fixture, a_target_skips_peers_it_is_connected_to_or_dialling) {
  link(id_of(5), "203.0.113.5:7000");
  link(id_of(1), "203.0.113.1:7000");
  feed(in::received{id_of(5), wire::reverse{id_of(1), ep("203.0.113.1:7000")}});
  feed(in::received{id_of(5), wire::reverse{id_of(2), ep("203.0.113.2:7000")}, true});  // the transport is dialling it
  EXPECT_TRUE(all<out::dial>(out).empty());
  EXPECT_EQ(s.stats().dial_skipped, 2u);
}

TEST_F(reversal_fixture, a_target_dials_no_address_its_policy_refuses) {
  // Default policy: public addresses only.
  link(id_of(5), "203.0.113.5:7000");
  feed(in::received{id_of(5), wire::reverse{id_of(1), ep("127.0.0.1:22")}});
  feed(in::received{id_of(5), wire::reverse{id_of(2), ep("192.168.1.1:80")}});
  EXPECT_TRUE(all<out::dial>(out).empty());
  EXPECT_EQ(s.stats().dial_refused, 2u);
}

TEST_F(reversal_fixture, a_helper_can_make_a_target_dial_only_its_burst_and_all_helpers_the_total) {
  const config c;
  link(id_of(5), "203.0.113.5:7000");
  std::uint8_t next = 100;
  const auto reverse_from = [&](const node_id& helper) {
    const auto from = id_of(next++);
    feed(in::received{helper, wire::reverse{from, ep("203.0.113.77:7000")}});
    feed(in::dial_done{from, false});  // each ends at once: the in-flight cap plays no part
  };
  for (std::size_t i = 0; i < c.dial_burst + 3; ++i) reverse_from(id_of(5));
  EXPECT_EQ(s.stats().dialled, c.dial_burst);
  EXPECT_EQ(s.stats().dial_refused, 3u);
  // Other helpers, each within its own burst, meet the total.
  std::uint8_t h = 20;
  while (s.stats().dialled < c.dial_total_burst) {
    link(id_of(h), "203.0.113.20:7000");
    for (std::size_t i = 0; i < c.dial_burst; ++i) reverse_from(id_of(h));
    ++h;
  }
  const auto refused = s.stats().dial_refused;
  link(id_of(h), "203.0.113.20:7000");
  reverse_from(id_of(h));
  EXPECT_EQ(s.stats().dialled, c.dial_total_burst);
  EXPECT_EQ(s.stats().dial_refused, refused + 1);
}

// ------------------------------------------------------------- punching --

TEST(nat_punch_wire, messages_round_trip_and_bad_bodies_are_refused) {
  const auto t = id_of(0x42);
  const std::vector<wire::message> msgs = {
      wire::punch_request{t, 7000, wire::punch_phase::connect, 1},
      wire::punch_request{t, 7001, wire::punch_phase::reply, 0xfffffffe},
      wire::punch_request{t, 7002, wire::punch_phase::sync, 3},
      wire::punch{t, ep("203.0.113.10:7000"), wire::punch_phase::connect, 9},
      wire::punch{t, ep("[2001:db8::1]:7000"), wire::punch_phase::sync, 9},
      wire::punch_answer{t, 9, wire::reverse_code::unknown},
      wire::punch_answer{t, 9, wire::reverse_code::refused},
  };
  for (const auto& m : msgs) {
    auto d = wire::decode(wire::encode(m));
    ASSERT_TRUE(d) << d.error().detail;
    EXPECT_EQ(*d, m);
  }
  EXPECT_EQ(wire::encode(msgs[0]).size(), 1u + 32 + 2 + 1 + 4);
  const auto bad = [](bytes b) { return !wire::decode(b).has_value(); };
  EXPECT_TRUE(bad(wire::encode(wire::punch_request{t, 0, wire::punch_phase::connect, 1})));  // port 0
  auto phase = wire::encode(wire::punch_request{t, 7000, wire::punch_phase::connect, 1});
  phase[1 + 32 + 2] = std::byte{0};
  EXPECT_TRUE(bad(phase));  // no phase 0
  phase[1 + 32 + 2] = std::byte{4};
  EXPECT_TRUE(bad(phase));  // nor 4
  auto shortp = wire::encode(msgs[3]);
  shortp.pop_back();
  EXPECT_TRUE(bad(shortp));
  auto longp = wire::encode(msgs[3]);
  longp.push_back(std::byte{0});
  EXPECT_TRUE(bad(longp));
  EXPECT_TRUE(bad(wire::encode(wire::punch{t, ep("0.0.0.0:7000"), wire::punch_phase::reply, 1})));
  // A helper answers only when it did not pass the message on.
  EXPECT_TRUE(bad(wire::encode(wire::punch_answer{t, 9, wire::reverse_code::forwarded})));
  auto code = wire::encode(wire::punch_answer{t, 9, wire::reverse_code::refused});
  code.back() = std::byte{3};
  EXPECT_TRUE(bad(code));
}

struct punch_fixture : reversal_fixture {
  punch_fixture() {
    s.set_public(false);  // not known to be reachable: punch
    s.set_policy(core::address_policy(eps({"198.51.100.1:7000"}), {}));
    listen({"0.0.0.0:7000"});
  }
  template <class M>
  std::vector<std::pair<node_id, M>> take() {
    auto r = sent<M>(out);
    out.clear();
    return r;
  }
};

// The requester's side, start to end: connect to the helpers, the target's
// reply through one of them, a sync through that one, and the dial half a
// round trip later.
TEST_F(punch_fixture, a_requester_that_is_not_reachable_asks_for_a_punch_and_dials_half_a_round_trip_after_its_sync) {
  link(id_of(1), "203.0.113.1:7000");
  link(id_of(2), "203.0.113.2:7000");
  ASSERT_TRUE(want(id_of(9)));
  const auto connects = take<wire::punch_request>();
  ASSERT_EQ(connects.size(), 2u);
  const auto round = connects[0].second.round;
  for (const auto& [to, q] : connects) {
    EXPECT_EQ(q.target, id_of(9));
    EXPECT_EQ(q.port, 7000);
    EXPECT_EQ(q.phase, wire::punch_phase::connect);
    EXPECT_EQ(q.round, round);
  }
  EXPECT_TRUE(sent<wire::reverse_request>(out).empty());
  EXPECT_EQ(s.stats().punches_requested, 1u);
  EXPECT_EQ(s.stats().requested, 0u);

  // The reply comes back through helper 2 after 80 ms.
  advance(80ms);
  feed(in::received{id_of(2), wire::punch{id_of(9), ep("203.0.113.9:7000"), wire::punch_phase::reply, round}});
  const auto syncs = take<wire::punch_request>();
  ASSERT_EQ(syncs.size(), 1u);
  EXPECT_EQ(syncs[0].first, id_of(2));
  EXPECT_EQ(syncs[0].second.phase, wire::punch_phase::sync);
  EXPECT_EQ(syncs[0].second.round, round);
  EXPECT_EQ(s.stats().punch_replies, 1u);
  // The same reply through helper 1 changes nothing.
  feed(in::received{id_of(1), wire::punch{id_of(9), ep("203.0.113.9:7000"), wire::punch_phase::reply, round}});
  EXPECT_TRUE(out.empty());

  advance(39ms);
  EXPECT_TRUE(all<out::punch>(out).empty());
  advance(1ms);  // 40 ms: half of the 80 ms round trip
  const auto p = all<out::punch>(out);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].peer, id_of(9));
  EXPECT_EQ(p[0].address, ep("203.0.113.9:7000"));
  EXPECT_EQ(p[0].window, config{}.punch_window);
  EXPECT_EQ(s.stats().punch_dials, 1u);
  // The deadline does not cut a punch dial short; its end is counted.
  advance(config{}.timeout);
  EXPECT_EQ(s.stats().punch_no_reply, 0u);
  link(id_of(9), "203.0.113.9:7000");
  feed(in::dial_done{id_of(9), true});
  EXPECT_EQ(s.stats().punch_connected, 1u);
  EXPECT_EQ(s.pending(), 0u);
}

TEST_F(punch_fixture, a_punch_nobody_can_pass_on_fails_at_once_and_one_nobody_answers_at_its_deadline) {
  link(id_of(1), "203.0.113.1:7000");
  ASSERT_TRUE(want(id_of(9)));
  const auto round = take<wire::punch_request>().at(0).second.round;
  feed(in::received{id_of(1), wire::punch_answer{id_of(9), round, wire::reverse_code::unknown}});
  ASSERT_EQ(all<out::failed>(out).size(), 1u);
  EXPECT_EQ(s.stats().punch_failed_helpers, 1u);
  EXPECT_EQ(s.pending(), 0u);
  out.clear();
  // An answer for another round, or a reply nobody asked for: counted only.
  feed(in::received{id_of(1), wire::punch_answer{id_of(9), round, wire::reverse_code::refused}});
  feed(in::received{id_of(1), wire::punch{id_of(8), ep("203.0.113.8:7000"), wire::punch_phase::reply, 5}});
  EXPECT_EQ(s.stats().unexpected, 2u);
  // Passed on but never answered: the deadline.
  ASSERT_TRUE(want(id_of(7)));
  out.clear();
  advance(config{}.timeout);
  EXPECT_EQ(s.stats().punch_no_reply, 1u);
  EXPECT_EQ(s.pending(), 0u);
  EXPECT_TRUE(all<out::punch>(out).empty());
}

TEST_F(punch_fixture, a_helper_passes_punch_messages_on_with_the_senders_observed_ip_under_the_forward_budget) {
  const config c;
  link(id_of(1), "203.0.113.1:55555");  // the requester, as our connection sees it
  link(id_of(9), "203.0.113.9:7000");   // the target
  feed(in::received{id_of(1), wire::punch_request{id_of(9), 7000, wire::punch_phase::connect, 4}});
  auto m = take<wire::punch>();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].first, id_of(9));
  EXPECT_EQ(m[0].second, (wire::punch{id_of(1), ep("203.0.113.1:7000"), wire::punch_phase::connect, 4}));
  // Not connected to the target, or asked about the sender itself: said so.
  feed(in::received{id_of(1), wire::punch_request{id_of(8), 7000, wire::punch_phase::connect, 5}});
  feed(in::received{id_of(1), wire::punch_request{id_of(1), 7000, wire::punch_phase::connect, 6}});
  const auto answers = take<wire::punch_answer>();
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].second, (wire::punch_answer{id_of(8), 5, wire::reverse_code::unknown}));
  EXPECT_EQ(answers[1].second, (wire::punch_answer{id_of(1), 6, wire::reverse_code::refused}));
  // The per-sender burst is shared with reversals.
  for (std::size_t i = 0; i < c.forward_burst + 2; ++i)
    feed(in::received{id_of(1), wire::punch_request{id_of(9), 7000, wire::punch_phase::sync, 4}});
  EXPECT_EQ(take<wire::punch>().size(), c.forward_burst - 1);
  EXPECT_EQ(s.stats().forward_refused, 1u + 3u);
}

// The target's side: agree with its own address through the same helper,
// dial at the sync, forget an agreement nobody syncs.
TEST_F(punch_fixture, a_target_agrees_through_the_helper_and_dials_when_the_sync_arrives) {
  link(id_of(5), "203.0.113.5:7000");  // the helper
  feed(in::received{id_of(5), wire::punch{id_of(1), ep("203.0.113.1:7000"), wire::punch_phase::connect, 4}});
  auto r = take<wire::punch_request>();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first, id_of(5));
  EXPECT_EQ(r[0].second, (wire::punch_request{id_of(1), 7000, wire::punch_phase::reply, 4}));
  EXPECT_EQ(s.stats().punch_agreed, 1u);
  // The same connect through another helper is answered once.
  link(id_of(6), "203.0.113.6:7000");
  feed(in::received{id_of(6), wire::punch{id_of(1), ep("203.0.113.1:7000"), wire::punch_phase::connect, 4}});
  EXPECT_TRUE(out.empty());
  // A sync of another round is not ours; the right one dials at once.
  feed(in::received{id_of(5), wire::punch{id_of(1), ep("203.0.113.1:7000"), wire::punch_phase::sync, 3}});
  EXPECT_TRUE(all<out::punch>(out).empty());
  feed(in::received{id_of(5), wire::punch{id_of(1), ep("203.0.113.1:7000"), wire::punch_phase::sync, 4}});
  const auto p = all<out::punch>(out);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].peer, id_of(1));
  EXPECT_EQ(p[0].address, ep("203.0.113.1:7000"));
  feed(in::dial_done{id_of(1), false});
  EXPECT_EQ(s.stats().punch_failed, 1u);
  out.clear();
  // Agreed, never synced: forgotten at the deadline.
  feed(in::received{id_of(5), wire::punch{id_of(2), ep("203.0.113.2:7000"), wire::punch_phase::connect, 8}});
  advance(config{}.timeout);
  EXPECT_EQ(s.stats().punch_unsynced, 1u);
  feed(in::received{id_of(5), wire::punch{id_of(2), ep("203.0.113.2:7000"), wire::punch_phase::sync, 8}});
  EXPECT_TRUE(all<out::punch>(out).empty());
}

TEST_F(punch_fixture, a_target_declines_when_busy_when_its_policy_refuses_the_address_or_beyond_its_dial_budget) {
  const config c;
  link(id_of(5), "203.0.113.5:7000");
  link(id_of(1), "203.0.113.1:7000");
  feed(in::received{id_of(5), wire::punch{id_of(1), ep("203.0.113.1:7000"), wire::punch_phase::connect, 1}});  // connected
  feed(in::received{id_of(5), wire::punch{id_of(2), ep("203.0.113.2:7000"), wire::punch_phase::connect, 1}, true});
  feed(in::received{id_of(5), wire::punch{id_of(3), ep("192.168.1.3:7000"), wire::punch_phase::connect, 1}});
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(s.stats().punch_declined, 3u);
  // Agreements count against the target's dial budget (here the per-helper burst).
  std::uint8_t next = 100;
  for (std::size_t i = 0; i < c.dial_burst + 2; ++i)
    feed(in::received{id_of(5), wire::punch{id_of(next++), ep("203.0.113.77:7000"), wire::punch_phase::connect, 1}});
  EXPECT_EQ(s.stats().punch_agreed, c.dial_burst);
  EXPECT_EQ(s.stats().punch_declined, 3u + 2u);
}

// Both sides asked for a punch at once: the larger id's punch goes on; the
// smaller side answers it and drops its own.
TEST_F(punch_fixture, when_two_punches_cross_the_larger_ids_goes_on) {
  link(id_of(5), "203.0.113.5:7000");
  s.set_self(id_of(0x20));
  ASSERT_TRUE(want(id_of(0x10)));
  out.clear();
  feed(in::received{id_of(5), wire::punch{id_of(0x10), ep("203.0.113.16:7000"), wire::punch_phase::connect, 1}});
  EXPECT_TRUE(out.empty());  // ours (the larger id's) wins
  EXPECT_EQ(s.stats().punch_declined, 1u);
  EXPECT_EQ(s.pending(), 1u);

  state small{config{}, 12};
  small.set_self(id_of(0x10));
  small.set_policy(core::address_policy(eps({"198.51.100.1:7000"}), {}));
  small.handle(in::listen{eps({"0.0.0.0:7000"})}, now, out);
  small.handle(in::link_up{id_of(5), ep("203.0.113.5:7000"), ep("198.51.100.1:7000"), true}, now, out);
  ASSERT_TRUE(small.want(id_of(0x20), now, out));
  out.clear();
  small.handle(in::received{id_of(5), wire::punch{id_of(0x20), ep("203.0.113.32:7000"), wire::punch_phase::connect, 7}},
               now, out);
  const auto r = sent<wire::punch_request>(out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].second.phase, wire::punch_phase::reply);
  EXPECT_EQ(r[0].second.round, 7u);
  EXPECT_EQ(small.pending(), 0u);  // its own punch is dropped; its transport dial takes the other's
  EXPECT_EQ(small.stats().punch_agreed, 1u);
}

TEST_F(punch_fixture, with_punching_off_a_node_asks_for_reversals_and_answers_no_punch) {
  config c;
  c.punching = false;
  state off{c, 13};
  off.handle(in::listen{eps({"0.0.0.0:7000"})}, now, out);
  off.handle(in::link_up{id_of(5), ep("203.0.113.5:7000"), ep("198.51.100.1:7000"), true}, now, out);
  ASSERT_TRUE(off.want(id_of(9), now, out));
  EXPECT_EQ(sent<wire::reverse_request>(out).size(), 1u);
  EXPECT_TRUE(sent<wire::punch_request>(out).empty());
  out.clear();
  off.handle(in::received{id_of(5), wire::punch{id_of(1), ep("203.0.113.1:7000"), wire::punch_phase::connect, 1}}, now,
             out);
  EXPECT_TRUE(sent<wire::punch_request>(out).empty());
  EXPECT_EQ(off.stats().punch_declined, 1u);
}

// ------------------------------------------------------------- relaying --

wire::token tok_of(std::uint8_t b) {
  wire::token t{};
  t.fill(std::byte{b});
  return t;
}

TEST(nat_relay_wire, messages_round_trip_and_bad_bodies_are_refused) {
  const auto t = id_of(0x42);
  const std::vector<wire::message> msgs = {
      wire::relay_request{t, tok_of(1)},
      wire::relay_offer{t, tok_of(2), 7000, ep("203.0.113.5:40000")},
      wire::relay_answer{t, tok_of(3), wire::reverse_code::forwarded, 7000, ep("[2001:db8::9]:50000")},
      wire::relay_answer{t, tok_of(3), wire::reverse_code::refused, 0, std::nullopt},
  };
  for (const auto& m : msgs) {
    auto d = wire::decode(wire::encode(m));
    ASSERT_TRUE(d) << d.error().detail;
    EXPECT_EQ(*d, m);
  }
  EXPECT_EQ(wire::encode(msgs[0]).size(), 1u + 32 + 16);
  const auto bad = [](bytes b) { return !wire::decode(b).has_value(); };
  EXPECT_TRUE(bad(wire::encode(wire::relay_offer{t, tok_of(2), 0, ep("203.0.113.5:40000")})));
  EXPECT_TRUE(bad(wire::encode(wire::relay_offer{t, tok_of(2), 7000, endpoint{}})));  // no seen address
  // ok needs a port and a seen address; the others have neither
  EXPECT_TRUE(bad(wire::encode(wire::relay_answer{t, tok_of(3), wire::reverse_code::forwarded, 0, ep("203.0.113.5:1")})));
  EXPECT_TRUE(bad(wire::encode(wire::relay_answer{t, tok_of(3), wire::reverse_code::forwarded, 7000, std::nullopt})));
  EXPECT_TRUE(bad(wire::encode(wire::relay_answer{t, tok_of(3), wire::reverse_code::unknown, 7000, std::nullopt})));
  EXPECT_TRUE(bad(wire::encode(wire::relay_answer{t, tok_of(3), wire::reverse_code::unknown, 0, ep("203.0.113.5:1")})));
  auto shortq = wire::encode(msgs[0]);
  shortq.pop_back();
  EXPECT_TRUE(bad(shortq));
}

// The requester: a punch to c failed, so the next want asks one helper to
// relay; the helper agrees and we connect to it with the token.
TEST_F(punch_fixture, after_a_failed_punch_the_next_want_asks_a_relay_and_connects_through_it) {
  link(id_of(1), "203.0.113.1:7000");
  ASSERT_TRUE(want(id_of(9)));
  const auto round = take<wire::punch_request>().at(0).second.round;
  feed(in::received{id_of(1), wire::punch{id_of(9), ep("203.0.113.9:7000"), wire::punch_phase::reply, round}});
  advance(1s);
  ASSERT_EQ(all<out::punch>(out).size(), 1u);
  out.clear();
  feed(in::dial_done{id_of(9), false});  // the punch failed
  ASSERT_EQ(s.pending(), 0u);
  ASSERT_TRUE(want(id_of(9)));
  const auto q = take<wire::relay_request>();
  ASSERT_EQ(q.size(), 1u);  // one relay asked
  EXPECT_EQ(q[0].first, id_of(1));
  EXPECT_EQ(q[0].second.target, id_of(9));
  EXPECT_EQ(s.stats().relay_requested, 1u);
  // The relay agrees, with its listen port.
  feed(in::received{id_of(1), wire::relay_answer{id_of(9), q[0].second.tok, wire::reverse_code::forwarded, 7100, ep("203.0.113.9:7000")}});
  const auto r = all<out::relay>(out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].peer, id_of(9));
  EXPECT_EQ(r[0].relay, ep("203.0.113.1:7100"));  // the relay's IP as our connection sees it
  EXPECT_EQ(r[0].tok, q[0].second.tok);
  link(id_of(9), "203.0.113.1:7100");
  feed(in::dial_done{id_of(9), true});
  EXPECT_EQ(s.stats().relay_connected, 1u);
  EXPECT_EQ(s.pending(), 0u);
  // An answer with another token, or to nothing asked: counted only.
  feed(in::received{id_of(1), wire::relay_answer{id_of(9), tok_of(7), wire::reverse_code::forwarded, 7100, ep("203.0.113.9:7000")}});
  EXPECT_EQ(s.stats().unexpected, 1u);
}

// The transport's dial still waits when its punch fails: the core asks a
// relay at once, within the same dial.
TEST_F(punch_fixture, a_failed_punch_within_a_waiting_dial_asks_a_relay_at_once) {
  link(id_of(1), "203.0.113.1:7000");
  ASSERT_TRUE(want(id_of(9)));
  const auto round = take<wire::punch_request>().at(0).second.round;
  feed(in::received{id_of(1), wire::punch{id_of(9), ep("203.0.113.9:7000"), wire::punch_phase::reply, round}});
  advance(1s);
  ASSERT_EQ(all<out::punch>(out).size(), 1u);
  out.clear();
  advance(5s);  // the window passes
  EXPECT_TRUE(s.punch_failed(id_of(9), now, out));
  sweep();
  const auto q = take<wire::relay_request>();
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(s.stats().punch_failed, 1u);
  EXPECT_EQ(s.stats().relay_requested, 1u);
  EXPECT_FALSE(s.punch_failed(id_of(9), now, out));  // nothing punches it now
}

TEST_F(punch_fixture, behind_an_endpoint_dependent_nat_a_relay_is_asked_at_once_and_a_refusal_fails_the_dial) {
  link(id_of(1), "203.0.113.1:7000");
  s.set_symmetric(true);
  ASSERT_TRUE(want(id_of(9)));
  const auto q = take<wire::relay_request>();
  ASSERT_EQ(q.size(), 1u);
  EXPECT_TRUE(sent<wire::punch_request>(out).empty());
  feed(in::received{id_of(1), wire::relay_answer{id_of(9), q[0].second.tok, wire::reverse_code::refused, 0, std::nullopt}});
  ASSERT_EQ(all<out::failed>(out).size(), 1u);
  EXPECT_EQ(s.stats().relay_unavailable, 1u);
}

// The relay's side: opt-in, an offer to the target and an answer to the
// requester, each end admitted once and only from its own IP.
TEST_F(punch_fixture, a_relay_serves_only_when_opted_in_and_admits_each_end_once_from_its_own_ip) {
  link(id_of(1), "203.0.113.1:40000");  // requester
  link(id_of(9), "203.0.113.9:50000");  // target
  feed(in::received{id_of(1), wire::relay_request{id_of(9), tok_of(5)}});
  auto a = take<wire::relay_answer>();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].second.code, wire::reverse_code::refused);  // not serving
  EXPECT_EQ(s.stats().circuits_refused, 1u);

  config c;
  c.relay_serve = true;
  state relay{c, 21};
  std::vector<out::output> o;
  relay.handle(in::listen{eps({"0.0.0.0:7000"})}, now, o);
  relay.handle(in::link_up{id_of(1), ep("203.0.113.1:40000"), ep("198.51.100.1:7000"), true}, now, o);
  relay.handle(in::link_up{id_of(9), ep("203.0.113.9:50000"), ep("198.51.100.1:7000"), true}, now, o);
  relay.handle(in::received{id_of(1), wire::relay_request{id_of(9), tok_of(5)}}, now, o);
  const auto offers = sent<wire::relay_offer>(o);
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].first, id_of(9));
  EXPECT_EQ(offers[0].second, (wire::relay_offer{id_of(1), tok_of(5), 7000, ep("203.0.113.1:40000")}));
  const auto answers = sent<wire::relay_answer>(o);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].second,
            (wire::relay_answer{id_of(9), tok_of(5), wire::reverse_code::forwarded, 7000, ep("203.0.113.9:50000")}));
  EXPECT_EQ(relay.circuits(), 1u);
  // Ends: an unknown token, a stranger's IP, then each end once.
  EXPECT_FALSE(relay.admit(tok_of(6), ep("203.0.113.1:1")));
  EXPECT_FALSE(relay.admit(tok_of(5), ep("192.0.2.66:1")));
  const auto id = relay.admit(tok_of(5), ep("203.0.113.1:41111"));  // a NAT may change the port
  ASSERT_TRUE(id);
  EXPECT_FALSE(relay.admit(tok_of(5), ep("203.0.113.1:41112")));  // the same end twice
  EXPECT_EQ(relay.admit(tok_of(5), ep("203.0.113.9:50001")), id);
  EXPECT_EQ(relay.stats().circuit_ends_admitted, 2u);
  EXPECT_EQ(relay.stats().circuit_ends_refused, 3u);
  relay.circuit_done(*id, 12345, true);
  EXPECT_EQ(relay.circuits(), 0u);
  EXPECT_EQ(relay.stats().circuits_done, 1u);
  EXPECT_EQ(relay.stats().relayed_bytes, 12345u);
  // A circuit nobody comes to is forgotten when its wait is over.
  o.clear();
  relay.handle(in::received{id_of(1), wire::relay_request{id_of(9), tok_of(8)}}, now, o);
  for (const auto& t : all<out::schedule>(o)) relay.handle(in::timer_fired{t.t}, now + t.after, o);
  EXPECT_EQ(relay.circuits(), 0u);
  EXPECT_EQ(relay.stats().circuits_unpaired, 1u);
  // At most relay_max_circuits at once.
  config small = c;
  small.relay_max_circuits = 1;
  state full{small, 22};
  full.handle(in::listen{eps({"0.0.0.0:7000"})}, now, o);
  full.handle(in::link_up{id_of(1), ep("203.0.113.1:40000"), ep("198.51.100.1:7000"), true}, now, o);
  full.handle(in::link_up{id_of(9), ep("203.0.113.9:50000"), ep("198.51.100.1:7000"), true}, now, o);
  full.handle(in::received{id_of(1), wire::relay_request{id_of(9), tok_of(1)}}, now, o);
  full.handle(in::received{id_of(1), wire::relay_request{id_of(9), tok_of(2)}}, now, o);
  EXPECT_EQ(full.circuits(), 1u);
  EXPECT_EQ(full.stats().circuits_refused, 1u);
}

// Both peers ask the same relay for each other at once (each one's punch
// failed): the relay agrees to the first circuit only and refuses the
// second, whose requester takes the first one's offer instead. (With two
// circuits each end dialled its own and declined the other's offer as
// busy: nat.relay failed once in about 25 runs that way.)
TEST_F(punch_fixture, a_relay_carries_one_circuit_per_pair_when_both_ends_ask_at_once) {
  config c;
  c.relay_serve = true;
  state relay{c, 21};
  std::vector<out::output> o;
  relay.handle(in::listen{eps({"0.0.0.0:7000"})}, now, o);
  relay.handle(in::link_up{id_of(1), ep("203.0.113.1:40000"), ep("198.51.100.1:7000"), true}, now, o);
  relay.handle(in::link_up{id_of(9), ep("203.0.113.9:50000"), ep("198.51.100.1:7000"), true}, now, o);
  relay.handle(in::received{id_of(1), wire::relay_request{id_of(9), tok_of(5)}}, now, o);
  relay.handle(in::received{id_of(9), wire::relay_request{id_of(1), tok_of(6)}}, now, o);
  EXPECT_EQ(relay.circuits(), 1u);
  const auto answers = sent<wire::relay_answer>(o);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].first, id_of(1));
  EXPECT_EQ(answers[0].second.code, wire::reverse_code::forwarded);
  EXPECT_EQ(answers[1].first, id_of(9));
  EXPECT_EQ(answers[1].second.code, wire::reverse_code::refused);
  const auto offers = sent<wire::relay_offer>(o);
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].first, id_of(9));
  EXPECT_EQ(relay.stats().circuits_refused, 1u);

  // The second requester's side: its own request is pending when the first
  // circuit's offer arrives (the relay sends it before the refusal): it
  // takes the offer, and the refusal then answers nothing.
  link(id_of(5), "203.0.113.5:7000");  // the relay
  s.set_symmetric(true);
  ASSERT_TRUE(want(id_of(1)));
  const auto q = take<wire::relay_request>();
  ASSERT_EQ(q.size(), 1u);
  feed(in::received{id_of(5), wire::relay_offer{id_of(1), tok_of(5), 7100, ep("203.0.113.1:40000")}});
  const auto r = all<out::relay>(out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].tok, tok_of(5));
  out.clear();
  feed(in::received{id_of(5), wire::relay_answer{id_of(1), q[0].second.tok, wire::reverse_code::refused, 0, std::nullopt}});
  EXPECT_TRUE(all<out::failed>(out).empty());
  EXPECT_TRUE(all<out::relay>(out).empty());
}

TEST_F(punch_fixture, a_target_takes_a_relay_offer_unless_busy) {
  link(id_of(5), "203.0.113.5:7000");  // the relay
  feed(in::received{id_of(5), wire::relay_offer{id_of(1), tok_of(4), 7100, ep("203.0.113.1:7000")}});
  const auto r = all<out::relay>(out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].peer, id_of(1));
  EXPECT_EQ(r[0].relay, ep("203.0.113.5:7100"));
  EXPECT_EQ(s.stats().relay_offers_taken, 1u);
  out.clear();
  feed(in::received{id_of(5), wire::relay_offer{id_of(1), tok_of(4), 7100, ep("203.0.113.1:7000")}});  // already relaying to it
  feed(in::received{id_of(5), wire::relay_offer{id_of(2), tok_of(5), 7100, ep("203.0.113.2:7000")}, true});  // dialling it
  EXPECT_TRUE(all<out::relay>(out).empty());
  EXPECT_EQ(s.stats().relay_offers_declined, 2u);
  feed(in::dial_done{id_of(1), false});
  EXPECT_EQ(s.stats().relay_failed, 1u);
}

// Upgrading (§19.10): the end that asked for a relayed connection punches
// to replace it, upgrade_after after it came up and then ever less often,
// coordinating with the peer itself over the relayed link (each knows the
// other's IP from the relay); a failure leaves the relay, a success ends
// the attempts.
TEST_F(punch_fixture, the_requester_of_a_relayed_connection_punches_to_replace_it_backing_off_until_one_succeeds) {
  const auto me = id_of(0x77);
  s.set_self(me);
  link(id_of(1), "203.0.113.1:7000");  // the relay
  s.set_symmetric(true);
  ASSERT_TRUE(want(id_of(9)));
  const auto q = take<wire::relay_request>();
  ASSERT_EQ(q.size(), 1u);
  feed(in::received{id_of(1), wire::relay_answer{id_of(9), q[0].second.tok, wire::reverse_code::forwarded, 7100,
                                                 ep("203.0.113.9:41000")}});
  out.clear();
  feed(in::link_up{id_of(9), ep("203.0.113.1:7100"), ep("198.51.100.1:40000"), false, true});
  feed(in::dial_done{id_of(9), true});
  ASSERT_EQ(s.pending(), 0u);
  advance(config{}.upgrade_after - 1ms);
  EXPECT_TRUE(out.empty());
  advance(1ms);
  // A punch, although our NAT maps per destination, asked of the peer
  // itself: a punch_request addressed to its recipient.
  auto connects = take<wire::punch_request>();
  ASSERT_EQ(connects.size(), 1u);
  EXPECT_EQ(connects[0].first, id_of(9));
  EXPECT_EQ(connects[0].second.target, id_of(9));
  EXPECT_EQ(connects[0].second.port, 7000);
  EXPECT_EQ(connects[0].second.phase, wire::punch_phase::connect);
  EXPECT_EQ(s.stats().upgrade_attempts, 1u);
  // Its reply, addressed to us; the address is the IP the relay saw it at
  // with the port it names.
  feed(in::received{id_of(9), wire::punch_request{me, 7001, wire::punch_phase::reply, connects[0].second.round}});
  const auto syncs = take<wire::punch_request>();
  ASSERT_EQ(syncs.size(), 1u);
  EXPECT_EQ(syncs[0].first, id_of(9));
  EXPECT_EQ(syncs[0].second.phase, wire::punch_phase::sync);
  advance(1s);
  auto p = all<out::punch>(out);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].address, ep("203.0.113.9:7001"));
  out.clear();
  feed(in::dial_done{id_of(9), false});  // the upgrade punch failed; the relayed link stays
  EXPECT_EQ(s.stats().punch_failed, 1u);
  EXPECT_EQ(s.pending(), 0u);
  // The next attempt twice as late: 60 s after the first.
  advance(config{}.upgrade_after * 2 - 2s);
  EXPECT_TRUE(sent<wire::punch_request>(out).empty());
  advance(1s);
  connects = take<wire::punch_request>();
  ASSERT_EQ(connects.size(), 1u);
  EXPECT_EQ(s.stats().upgrade_attempts, 2u);
  feed(in::received{id_of(9), wire::punch_request{me, 7001, wire::punch_phase::reply, connects[0].second.round}});
  advance(1s);
  ASSERT_EQ(all<out::punch>(out).size(), 1u);
  out.clear();
  // This one connects: the punched link replaces the relayed one.
  feed(in::link_up{id_of(9), ep("203.0.113.9:7001"), ep("198.51.100.1:7000"), true, false});
  feed(in::dial_done{id_of(9), true});
  EXPECT_EQ(s.stats().punch_connected, 1u);
  advance(config{}.upgrade_max_interval * 2);
  EXPECT_TRUE(sent<wire::punch_request>(out).empty());
  EXPECT_EQ(s.stats().upgrade_attempts, 2u);
  // Addressed to us by a peer whose link is not relayed: not a punch we coordinate.
  feed(in::received{id_of(9), wire::punch_request{me, 7001, wire::punch_phase::connect, 9}});
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(s.stats().unexpected, 1u);
}

TEST_F(punch_fixture, the_other_end_of_a_relayed_connection_does_not_upgrade_but_agrees_to_a_punch) {
  const auto me = id_of(0x77);
  s.set_self(me);
  link(id_of(5), "203.0.113.5:7000");  // the relay
  feed(in::received{id_of(5), wire::relay_offer{id_of(1), tok_of(4), 7100, ep("203.0.113.1:40000")}});
  ASSERT_EQ(all<out::relay>(out).size(), 1u);
  out.clear();
  feed(in::link_up{id_of(1), ep("203.0.113.5:7100"), ep("198.51.100.1:40000"), false, true});
  feed(in::dial_done{id_of(1), true});
  advance(config{}.upgrade_max_interval);
  EXPECT_TRUE(sent<wire::punch_request>(out).empty());
  EXPECT_EQ(s.stats().upgrade_attempts, 0u);
  // id 1 punches to replace it: a relayed link is no reason to decline.
  feed(in::received{id_of(1), wire::punch_request{me, 7000, wire::punch_phase::connect, 3}});
  const auto replies = take<wire::punch_request>();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].first, id_of(1));
  EXPECT_EQ(replies[0].second.target, id_of(1));  // addressed to it: no helper between us
  EXPECT_EQ(replies[0].second.phase, wire::punch_phase::reply);
  feed(in::received{id_of(1), wire::punch_request{me, 7000, wire::punch_phase::sync, 3}});
  const auto p = all<out::punch>(out);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].address, ep("203.0.113.1:7000"));  // the relay's view of its IP, its port
  out.clear();
  // Once connected directly, a punch is declined again.
  feed(in::link_up{id_of(1), ep("203.0.113.1:7000"), ep("198.51.100.1:7000"), true, false});
  feed(in::dial_done{id_of(1), true});
  feed(in::received{id_of(5), wire::punch{id_of(1), ep("203.0.113.1:7000"), wire::punch_phase::connect, 4}});
  EXPECT_TRUE(sent<wire::punch_request>(out).empty());
}

}  // namespace
}  // namespace topicswarm::nat::reversal
