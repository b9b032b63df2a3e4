// The reachability core (src/nat, docs/PROTOCOL.md §19) as a pure state
// machine: candidates, dial-back checks, what is advertised, and the limits
// on what a requester or a lying peer can make a node do.
#include "nat/reachability.hpp"

#include "endpoint_support.hpp"

#include "outputs_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace topicswarm::nat {
namespace {

using namespace std::chrono_literals;
using test_support::ep;
using test_support::eps;

node_id id_of(std::uint8_t b) { return *node_id::from_span(bytes(32, std::byte{b})); }

using test_support::all;

// The dial-back requests in `out`, by helper.
std::vector<std::pair<node_id, wire::dialback_request>> requests(const std::vector<out::output>& out) {
  std::vector<std::pair<node_id, wire::dialback_request>> r;
  for (const auto& s : all<out::send>(out))
    if (const auto* q = std::get_if<wire::dialback_request>(&s.msg)) r.emplace_back(s.to, *q);
  return r;
}

std::vector<std::pair<node_id, wire::dialback_result>> results(const std::vector<out::output>& out) {
  std::vector<std::pair<node_id, wire::dialback_result>> r;
  for (const auto& s : all<out::send>(out))
    if (const auto* q = std::get_if<wire::dialback_result>(&s.msg)) r.emplace_back(s.to, *q);
  return r;
}

bool contains(const std::vector<endpoint>& v, const endpoint& e) { return std::find(v.begin(), v.end(), e) != v.end(); }

// One node's core with a clock and a timer list it fires by hand.
struct node_fixture : ::testing::Test {
  state s{config{}, 7};
  std::vector<out::output> out;
  core::instant now{};
  test_support::timer_list<out::schedule> timers;

  void feed(in::input i) {
    s.handle(std::move(i), now, out);
    timers.take(out, now);
  }
  // Moves the clock to `to`, firing every timer due on the way.
  void advance(core::duration by) {
    timers.advance(now, by, [&](const timer& t) { feed(in::timer_fired{t}); });
  }
  void local(std::initializer_list<const char*> addrs, std::initializer_list<const char*> listen) {
    feed(in::local_addresses{eps(addrs), eps(listen)});
  }
  // A connected peer: its link (our end, its end) and the address it saw us at.
  void peer(const node_id& id, const char* our_end, const char* its_end, const char* saw_us_at) {
    feed(in::link_up{id, link_ends{ep(our_end), ep(its_end)}, true});
    feed(in::received{id, link_ends{ep(our_end), ep(its_end)}, wire::observed{ep(saw_us_at)}});
  }
  void prove(const node_id& helper, const nonce& n) {
    feed(in::probe_received{helper, ep("203.0.113.99:1"), wire::dialback_proof{n}});
  }
  void answer(const node_id& helper, const nonce& n, wire::dialback_code code) {
    feed(in::received{helper, link_ends{}, wire::dialback_result{n, code}});
  }
};

// ------------------------------------------------------------------ wire --

TEST(nat_wire, every_message_round_trips) {
  nonce n{};
  for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::byte>(i * 7 + 1);
  const std::vector<wire::message> msgs = {
      wire::observed{ep("203.0.113.10:46573")},
      wire::observed{ep("[2001:db8::1]:7000")},
      wire::dialback_request{n, 7000},
      wire::dialback_result{n, wire::dialback_code::delivered},
      wire::dialback_result{n, wire::dialback_code::refused},
      wire::dialback_result{n, wire::dialback_code::failed},
      wire::dialback_proof{n},
  };
  for (const auto& m : msgs) {
    auto d = wire::decode(wire::encode(m));
    ASSERT_TRUE(d) << d.error().detail;
    EXPECT_EQ(*d, m);
  }
  EXPECT_EQ(wire::encode(wire::dialback_request{n, 7000}).size(), 1u + 16 + 2);
  EXPECT_EQ(wire::encode(wire::dialback_proof{n}).size(), 1u + 16);
}

TEST(nat_wire, bad_bodies_are_refused) {
  nonce n{};
  const auto bad = [](bytes b) { return !wire::decode(b).has_value(); };
  EXPECT_TRUE(bad({}));
  EXPECT_TRUE(bad({std::byte{0x7f}}));  // unknown type
  auto req = wire::encode(wire::dialback_request{n, 7000});
  req.pop_back();
  EXPECT_TRUE(bad(req));  // short
  auto zero = wire::encode(wire::dialback_request{n, 0});
  EXPECT_TRUE(bad(zero));  // port 0
  auto res = wire::encode(wire::dialback_result{n, wire::dialback_code::failed});
  res.back() = std::byte{3};
  EXPECT_TRUE(bad(res));  // unknown code
  auto proof = wire::encode(wire::dialback_proof{n});
  proof.push_back(std::byte{0});
  EXPECT_TRUE(bad(proof));  // long
  auto obs = wire::encode(wire::observed{ep("203.0.113.10:1")});
  obs[1] = std::byte{5};
  EXPECT_TRUE(bad(obs));  // family 5
  EXPECT_TRUE(bad(wire::encode(wire::observed{ep("0.0.0.0:7000")})));  // unspecified
}

// ---------------------------------------------------------- reachability --

TEST_F(node_fixture, a_public_interface_address_is_advertised_and_confirmed_by_one_helper) {
  local({"198.51.100.10:7000"}, {"198.51.100.10:7000"});
  EXPECT_EQ(s.status(), reachability::unknown);
  EXPECT_TRUE(contains(s.advertised(), ep("198.51.100.10:7000")));  // ours: advertised while checked

  // A private peer dialled us: we tell it where it comes from, it tells us.
  const auto h = id_of(1);
  feed(in::link_up{h, link_ends{ep("198.51.100.10:7000"), ep("203.0.113.10:46573")}, true});
  auto sent = all<out::send>(out);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, h);
  EXPECT_EQ(std::get<wire::observed>(sent[0].msg).address, ep("203.0.113.10:46573"));
  out.clear();
  feed(in::received{h, link_ends{ep("198.51.100.10:7000"), ep("203.0.113.10:46573")},
                    wire::observed{ep("198.51.100.10:7000")}});
  advance(1s);
  auto q = requests(out);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].first, h);
  EXPECT_EQ(q[0].second.port, 7000);
  prove(h, q[0].second.n);
  EXPECT_EQ(s.status(), reachability::reachable);
  EXPECT_EQ(s.confirmed(), eps({"198.51.100.10:7000"}));
  EXPECT_EQ(s.stats().confirmations, 1u);
  EXPECT_FALSE(all<out::changed>(out).empty());
}

TEST_F(node_fixture, behind_a_nat_the_observed_address_fails_and_is_never_advertised) {
  local({"192.168.10.10:7000"}, {"192.168.10.10:7000"});
  const auto p1 = id_of(1);
  // We dialled p1 from an ephemeral port; it saw the router's address.
  peer(p1, "192.168.10.10:45000", "198.51.100.10:7000", "203.0.113.10:46573");
  advance(1s);
  auto q = requests(out);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].second.port, 7000);  // our listen port at the observed IP
  auto cands = s.candidates();
  ASSERT_EQ(cands.size(), 1u);
  EXPECT_EQ(cands[0].address, ep("203.0.113.10:7000"));
  EXPECT_EQ(cands[0].state, check_state::checking);
  answer(p1, q[0].second.n, wire::dialback_code::failed);
  EXPECT_EQ(s.status(), reachability::unreachable);
  EXPECT_EQ(s.advertised(), eps({"192.168.10.10:7000"}));  // the LAN address only
  EXPECT_EQ(s.stats().failures, 1u);
}

TEST_F(node_fixture, a_lan_neighbour_confirming_the_private_address_does_not_make_a_natted_node_public) {
  local({"192.168.10.10:7000"}, {"192.168.10.10:7000"});
  // A neighbour on the same LAN sees our private address; a public one the router's.
  peer(id_of(1), "192.168.10.10:7000", "192.168.10.11:7000", "192.168.10.10:7000");
  peer(id_of(2), "192.168.10.10:45000", "198.51.100.10:7000", "203.0.113.10:46573");
  advance(1s);
  auto q = requests(out);
  ASSERT_EQ(q.size(), 2u);
  for (const auto& [h, r] : q) {
    if (h == id_of(1)) prove(h, r.n);                                // the LAN reaches us
    else answer(h, r.n, wire::dialback_code::failed);                // the Internet does not
  }
  EXPECT_EQ(s.status(), reachability::unreachable);
  EXPECT_EQ(s.advertised(), eps({"192.168.10.10:7000"}));
}

TEST_F(node_fixture, a_silent_helper_times_out_into_a_failure) {
  local({"192.168.10.10:7000"}, {"192.168.10.10:7000"});
  peer(id_of(1), "192.168.10.10:45000", "198.51.100.10:7000", "203.0.113.10:46573");
  advance(1s);
  ASSERT_EQ(requests(out).size(), 1u);
  EXPECT_EQ(s.status(), reachability::unknown);
  advance(config{}.check_timeout);
  EXPECT_EQ(s.status(), reachability::unreachable);
  EXPECT_EQ(s.stats().check_timeouts, 1u);
}

TEST_F(node_fixture, an_address_only_peers_claim_needs_two_address_ranges) {
  local({"192.168.10.10:7000"}, {"192.168.10.10:7000"});
  // Two helpers in one /24: only one is asked, and its proof is not enough.
  peer(id_of(1), "192.168.10.10:7000", "198.51.100.10:7000", "203.0.113.10:7000");
  peer(id_of(2), "192.168.10.10:7000", "198.51.100.11:7000", "203.0.113.10:7000");
  advance(1s);
  auto q = requests(out);
  ASSERT_EQ(q.size(), 1u);
  prove(q[0].first, q[0].second.n);
  EXPECT_NE(s.status(), reachability::reachable);
  EXPECT_TRUE(s.confirmed().empty());
  EXPECT_FALSE(contains(s.advertised(), ep("203.0.113.10:7000")));

  // A helper from another range comes: the round goes on with it alone,
  // and its proof with the first one's confirms the address.
  out.clear();
  peer(id_of(3), "192.168.10.10:7000", "198.18.5.2:7000", "203.0.113.10:7000");
  advance(1s);
  q = requests(out);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].first, id_of(3));
  prove(q[0].first, q[0].second.n);
  EXPECT_EQ(s.status(), reachability::reachable);
  EXPECT_TRUE(contains(s.advertised(), ep("203.0.113.10:7000")));
}

TEST_F(node_fixture, a_proof_from_another_node_or_with_an_unknown_nonce_counts_for_nothing) {
  local({"192.168.10.10:7000"}, {"192.168.10.10:7000"});
  peer(id_of(1), "192.168.10.10:7000", "198.51.100.10:7000", "203.0.113.10:7000");
  peer(id_of(2), "192.168.10.10:7000", "198.18.5.2:7000", "203.0.113.10:7000");
  advance(1s);
  auto q = requests(out);
  ASSERT_EQ(q.size(), 2u);
  // Helper 1 hands its nonce to a third node, which "proves" with it.
  prove(id_of(9), q[0].second.n);
  prove(q[0].first, nonce{});  // a nonce nobody was given
  EXPECT_EQ(s.stats().proofs_unexpected, 2u);
  EXPECT_TRUE(s.confirmed().empty());
  // A proof arriving on a peer connection instead of a probe is no proof.
  feed(in::received{q[1].first, link_ends{}, wire::dialback_proof{q[1].second.n}});
  EXPECT_EQ(s.stats().malformed, 1u);
  EXPECT_TRUE(s.confirmed().empty());
}

TEST_F(node_fixture, a_confirmed_address_is_rechecked_and_withdrawn_when_it_fails) {
  local({"198.51.100.10:7000"}, {"198.51.100.10:7000"});
  const auto h = id_of(1);
  peer(h, "198.51.100.10:7000", "203.0.113.10:46573", "198.51.100.10:7000");
  advance(1s);
  auto q = requests(out);
  ASSERT_EQ(q.size(), 1u);
  prove(h, q[0].second.n);
  ASSERT_EQ(s.status(), reachability::reachable);
  out.clear();
  advance(config{}.recheck_interval);
  EXPECT_TRUE(requests(out).empty());  // a recheck waits for a connection or an observation
  feed(in::received{h, link_ends{ep("198.51.100.10:7000"), ep("203.0.113.10:46573")},
                    wire::observed{ep("198.51.100.10:7000")}});
  advance(1s);
  q = requests(out);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(s.status(), reachability::reachable);  // still, while the recheck runs
  answer(h, q[0].second.n, wire::dialback_code::failed);
  EXPECT_EQ(s.status(), reachability::unreachable);
  EXPECT_FALSE(contains(s.advertised(), ep("198.51.100.10:7000")));  // a firewall closed it
}

TEST_F(node_fixture, a_mapping_is_a_candidate_one_helper_confirms) {
  local({"192.168.16.10:7100"}, {"192.168.16.10:7100"});
  feed(in::mapping{ep("203.0.113.16:7100")});
  const auto h = id_of(1);
  peer(h, "192.168.16.10:7100", "198.51.100.10:7000", "203.0.113.16:7100");
  advance(1s);
  auto q = requests(out);
  ASSERT_EQ(q.size(), 1u);
  prove(h, q[0].second.n);
  EXPECT_EQ(s.status(), reachability::reachable);
  EXPECT_TRUE(contains(s.advertised(), ep("203.0.113.16:7100")));
  feed(in::mapping{ep("203.0.113.16:7100"), true});  // the mapping went: the candidate stays while peers observe it
  EXPECT_EQ(s.candidates().size(), 1u);
  EXPECT_EQ(s.candidates()[0].sources, from_observed);
}

TEST_F(node_fixture, liars_cannot_push_out_a_well_observed_candidate) {
  local({"192.168.10.10:7000"}, {"192.168.10.10:7000"});
  // The real address, seen by three peers.
  for (std::uint8_t i = 1; i <= 3; ++i)
    peer(id_of(i), "192.168.10.10:7000", ("198.51.100." + std::to_string(10 + i) + ":7000").c_str(), "203.0.113.10:7000");
  // Twenty liars, each claiming another address.
  for (std::uint8_t i = 0; i < 20; ++i)
    peer(id_of(static_cast<std::uint8_t>(100 + i)), "192.168.10.10:7000",
         ("198.18." + std::to_string(i) + ".2:7000").c_str(), ("198.51.100." + std::to_string(100 + i) + ":7000").c_str());
  const auto c = s.candidates();
  EXPECT_LE(c.size(), config{}.max_candidates);
  EXPECT_TRUE(std::any_of(c.begin(), c.end(), [](const candidate_status& x) {
    return x.address == ep("203.0.113.10:7000") && x.observers == 3;
  }));
  EXPECT_GT(s.stats().candidates_evicted, 0u);
}

// --------------------------------------------------------------- serving --

TEST_F(node_fixture, a_helper_dials_only_the_requesters_own_ip) {
  feed(in::link_up{id_of(1), link_ends{ep("198.51.100.10:7000"), ep("203.0.113.10:46573")}, true});
  out.clear();
  nonce n{};
  n[0] = std::byte{1};
  feed(in::received{id_of(1), link_ends{ep("198.51.100.10:7000"), ep("203.0.113.10:46573")},
                    wire::dialback_request{n, 7000}});
  auto p = all<out::probe>(out);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].to, id_of(1));
  EXPECT_EQ(p[0].address, ep("203.0.113.10:7000"));
  EXPECT_EQ(p[0].n, n);
  out.clear();
  feed(in::probe_done{id_of(1), n, true});
  auto r = results(out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].second.code, wire::dialback_code::delivered);
  EXPECT_EQ(s.stats().probes_delivered, 1u);
}

TEST_F(node_fixture, requests_are_rate_limited_per_peer_and_overall) {
  const link_ends ends{ep("198.51.100.10:7000"), ep("203.0.113.10:46573")};
  feed(in::link_up{id_of(1), ends, true});
  nonce n{};
  feed(in::received{id_of(1), ends, wire::dialback_request{n, 7000}});
  feed(in::probe_done{id_of(1), n, false});
  out.clear();
  // Again within serve_interval: refused, no probe.
  feed(in::received{id_of(1), ends, wire::dialback_request{n, 7001}});
  EXPECT_TRUE(all<out::probe>(out).empty());
  ASSERT_EQ(results(out).size(), 1u);
  EXPECT_EQ(results(out)[0].second.code, wire::dialback_code::refused);

  // Many peers at once: at most max_probes_in_flight probes.
  out.clear();
  for (std::uint8_t i = 10; i < 30; ++i) {
    const link_ends e{ep("198.51.100.10:7000"), ep("203.0.113." + std::to_string(i) + ":5000")};
    feed(in::link_up{id_of(i), e, true});
    feed(in::received{id_of(i), e, wire::dialback_request{n, 7000}});
  }
  EXPECT_EQ(all<out::probe>(out).size(), config{}.max_probes_in_flight);
  EXPECT_EQ(s.stats().requests_refused, 1u + 20 - config{}.max_probes_in_flight);
}

TEST_F(node_fixture, a_request_for_an_address_outside_our_dial_policy_is_refused) {
  // Default policy: public addresses only; the requester is on a LAN.
  const link_ends ends{ep("198.51.100.10:7000"), ep("192.168.1.20:5000")};
  feed(in::link_up{id_of(1), ends, true});
  out.clear();
  feed(in::received{id_of(1), ends, wire::dialback_request{nonce{}, 22}});
  EXPECT_TRUE(all<out::probe>(out).empty());
  EXPECT_EQ(s.stats().requests_refused, 1u);
}

TEST_F(node_fixture, a_peer_that_does_not_speak_nat_is_neither_told_nor_asked) {
  local({"192.168.10.10:7000"}, {"192.168.10.10:7000"});
  feed(in::link_up{id_of(1), link_ends{ep("192.168.10.10:7000"), ep("198.51.100.10:7000")}, false});
  EXPECT_TRUE(all<out::send>(out).empty());
  feed(in::received{id_of(1), link_ends{ep("192.168.10.10:7000"), ep("198.51.100.10:7000")},
                    wire::observed{ep("203.0.113.10:7000")}});
  advance(1s);
  EXPECT_TRUE(requests(out).empty());
}

// ------------------------------------------------------------- mapping --

// What peers in different ranges saw of connections from our listen port
// (7000) says how our NAT maps it.
TEST_F(node_fixture, the_nat_mapping_needs_two_ranges_and_tells_independent_from_dependent) {
  local({"192.168.1.10:7000"}, {"0.0.0.0:7000"});
  EXPECT_EQ(s.mapping(), nat_mapping::unknown);
  peer(id_of(1), "192.168.1.10:7000", "198.51.100.1:7000", "203.0.113.9:7000");
  peer(id_of(2), "192.168.1.10:7000", "198.51.100.2:7000", "203.0.113.9:7000");  // the same /24: counts once
  EXPECT_EQ(s.mapping(), nat_mapping::unknown);
  peer(id_of(3), "192.168.1.10:7000", "192.0.2.3:7000", "203.0.113.9:7000");
  EXPECT_EQ(s.mapping(), nat_mapping::endpoint_independent);
  // Another range sees another port for the same local port: symmetric.
  peer(id_of(4), "192.168.1.10:7000", "198.18.0.4:7000", "203.0.113.9:41234");
  EXPECT_EQ(s.mapping(), nat_mapping::endpoint_dependent);
  feed(in::link_down{id_of(4)});
  EXPECT_EQ(s.mapping(), nat_mapping::endpoint_independent);
  // A connection from an ephemeral port says nothing about the listen port's mapping.
  peer(id_of(5), "192.168.1.10:51000", "198.18.5.5:7000", "203.0.113.9:60000");
  EXPECT_EQ(s.mapping(), nat_mapping::endpoint_independent);
  EXPECT_EQ(to_string(nat_mapping::endpoint_dependent), "endpoint-dependent");
}

TEST_F(node_fixture, a_node_seen_at_its_own_address_has_no_nat) {
  local({"203.0.113.7:7000"}, {"0.0.0.0:7000"});
  peer(id_of(1), "203.0.113.7:7000", "198.51.100.1:7000", "203.0.113.7:7000");
  peer(id_of(2), "203.0.113.7:7000", "192.0.2.2:7000", "203.0.113.7:7000");
  EXPECT_EQ(s.mapping(), nat_mapping::none);
}

}  // namespace
}  // namespace topicswarm::nat
