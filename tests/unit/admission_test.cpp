// The admission core (src/admission, docs/PROTOCOL.md §12) as a pure state
// machine: two of them back to back, exchanging what they send.
#include "admission/admission.hpp"

#include "outputs_support.hpp"

#include <gtest/gtest.h>

#include <deque>

namespace topicswarm::admission {
namespace {

using namespace std::chrono_literals;

node_id id_of(std::uint8_t b) { return *node_id::from_span(bytes(32, std::byte{b})); }
secret_hash key_of(std::uint8_t b) { return *secret_hash::from_span(bytes(32, std::byte{b})); }
topic_id topic_of(std::uint8_t b) { return *topic_id::from_span(bytes(32, std::byte{b})); }
link link_of(std::uint64_t id, std::uint8_t b) {
  link l;
  l.id = id;
  l.secret = *exporter::from_span(bytes(32, std::byte{b}));
  return l;
}

using test_support::all;

// Two nodes on one connection (one link, one exporter value).
struct pair_fixture : ::testing::Test {
  node_id a_id = id_of(1), b_id = id_of(2);
  topic_id t = topic_of(9);
  state a{a_id, config{}}, b{b_id, config{}};
  link l = link_of(7, 0x42);
  std::vector<out::output> out_a, out_b;
  core::instant now{};

  // Delivers every send of each side to the other until nothing is left.
  void pump() {
    for (int round = 0; round < 16; ++round) {
      auto sa = all<out::send>(out_a);
      auto sb = all<out::send>(out_b);
      std::erase_if(out_a, [](const out::output& o) { return std::holds_alternative<out::send>(o); });
      std::erase_if(out_b, [](const out::output& o) { return std::holds_alternative<out::send>(o); });
      if (sa.empty() && sb.empty()) return;
      for (auto& s : sa) b.handle(in::received{a_id, l, s.msg}, now, out_b);
      for (auto& s : sb) a.handle(in::received{b_id, l, s.msg}, now, out_a);
    }
    FAIL() << "the exchange does not end";
  }
};

TEST_F(pair_fixture, both_sides_with_the_key_admit_each_other) {
  a.add_topic(t, key_of(5));
  b.add_topic(t, key_of(5));
  a.handle(in::link_up{b_id, l}, now, out_a);
  b.handle(in::link_up{a_id, l}, now, out_b);
  a.handle(in::want{b_id, t, l}, now, out_a);
  pump();
  EXPECT_TRUE(a.admitted(b_id, t));
  EXPECT_TRUE(b.admitted(a_id, t));
  EXPECT_EQ(all<out::admitted>(out_a).size(), 1u);
  EXPECT_EQ(all<out::admitted>(out_b).size(), 1u);
  EXPECT_EQ(a.stats().proofs_sent, 1u) << "a proof is answered once, never ping-ponged";
  EXPECT_EQ(b.stats().proofs_sent, 1u);
  // Asking again is answered at once, with no new proof.
  out_a.clear();
  a.handle(in::want{b_id, t, l}, now, out_a);
  EXPECT_EQ(all<out::admitted>(out_a).size(), 1u);
  EXPECT_TRUE(all<out::send>(out_a).empty());
}

TEST_F(pair_fixture, another_key_is_refused_both_ways) {
  a.add_topic(t, key_of(5));
  b.add_topic(t, key_of(6));
  a.handle(in::link_up{b_id, l}, now, out_a);
  a.handle(in::want{b_id, t, l}, now, out_a);
  pump();
  EXPECT_FALSE(a.admitted(b_id, t));
  EXPECT_FALSE(b.admitted(a_id, t));
  EXPECT_EQ(b.stats().proofs_invalid, 1u);
  EXPECT_EQ(b.stats().refusals_sent, 1u);
  ASSERT_EQ(all<out::refused>(out_a).size(), 1u);
  EXPECT_EQ(all<out::refused>(out_a)[0].why, refusal::refused_by_peer);
}

TEST_F(pair_fixture, a_topic_the_verifier_is_not_in_is_refused_and_counted) {
  a.add_topic(t, key_of(5));
  b.add_topic(topic_of(10), key_of(5));
  a.handle(in::link_up{b_id, l}, now, out_a);
  a.handle(in::want{b_id, t, l}, now, out_a);
  pump();
  EXPECT_EQ(b.stats().proofs_unknown_topic, 1u);
  EXPECT_FALSE(a.admitted(b_id, t));
  EXPECT_EQ(all<out::refused>(out_a).size(), 1u);
}

TEST_F(pair_fixture, a_proof_made_for_another_connection_does_not_verify) {
  a.add_topic(t, key_of(5));
  b.add_topic(t, key_of(5));
  const link other = link_of(8, 0x43);  // another TLS connection: another exporter value
  a.handle(in::want{b_id, t, other}, now, out_a);
  auto sends = all<out::send>(out_a);
  ASSERT_EQ(sends.size(), 1u);
  b.handle(in::received{a_id, l, sends[0].msg}, now, out_b);  // copied onto link `l`
  EXPECT_FALSE(b.admitted(a_id, t));
  EXPECT_EQ(b.stats().proofs_invalid, 1u);
  // On the connection it was made for, the same proof verifies.
  b.handle(in::received{a_id, other, sends[0].msg}, now, out_b);
  EXPECT_TRUE(b.admitted(a_id, t));
}

TEST_F(pair_fixture, a_reflected_proof_does_not_verify) {
  a.add_topic(t, key_of(5));
  a.handle(in::want{b_id, t, l}, now, out_a);
  auto sends = all<out::send>(out_a);
  ASSERT_EQ(sends.size(), 1u);
  // b sends a's own proof back to a (b cannot compute one; it replays).
  a.handle(in::received{b_id, l, sends[0].msg}, now, out_a);
  EXPECT_FALSE(a.admitted(b_id, t));
  EXPECT_EQ(a.stats().proofs_invalid, 1u);
}

TEST_F(pair_fixture, a_want_that_is_not_proven_in_time_is_given_up) {
  a.add_topic(t, key_of(5));
  a.handle(in::want{b_id, t, l}, now, out_a);
  auto timers = all<out::schedule>(out_a);
  ASSERT_EQ(timers.size(), 1u);
  EXPECT_EQ(timers[0].after, config{}.admission_timeout);
  a.handle(in::timer_fired{timers[0].t}, now, out_a);
  auto refused = all<out::refused>(out_a);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].why, refusal::timeout);
  EXPECT_EQ(a.stats().want_timeouts, 1u);
}

TEST_F(pair_fixture, a_connection_with_no_proven_topic_is_closed_at_its_deadline) {
  a.add_topic(t, key_of(5));
  a.handle(in::link_up{b_id, l}, now, out_a);
  auto timers = all<out::schedule>(out_a);
  ASSERT_EQ(timers.size(), 1u);
  a.handle(in::timer_fired{timers[0].t}, now, out_a);
  auto closes = all<out::close>(out_a);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_TRUE(closes[0].why == errc::not_admitted);
  EXPECT_EQ(a.stats().closed_no_topic, 1u);
}

TEST_F(pair_fixture, a_connection_with_a_proven_topic_stays_and_a_replaced_link_is_not_closed_by_the_old_deadline) {
  a.add_topic(t, key_of(5));
  b.add_topic(t, key_of(5));
  a.handle(in::link_up{b_id, l}, now, out_a);
  auto first_deadline = all<out::schedule>(out_a).at(0).t;
  // A replacement link: its own deadline; the old one no longer applies.
  const link l2 = link_of(11, 0x44);
  a.handle(in::link_up{b_id, l2}, now, out_a);
  out_a.clear();
  a.handle(in::timer_fired{first_deadline}, now, out_a);
  EXPECT_TRUE(all<out::close>(out_a).empty());
  // With a proven topic the new deadline closes nothing either.
  l = l2;
  b.handle(in::want{a_id, t, l2}, now, out_b);
  pump();
  ASSERT_TRUE(a.admitted(b_id, t));
  out_a.clear();
  a.handle(in::timer_fired{timer{timer::kind::link_deadline, b_id, 11, {}}}, now, out_a);
  EXPECT_TRUE(all<out::close>(out_a).empty());
}

TEST_F(pair_fixture, a_replacement_link_gets_fresh_proofs) {
  a.add_topic(t, key_of(5));
  b.add_topic(t, key_of(5));
  a.handle(in::want{b_id, t, l}, now, out_a);
  pump();
  ASSERT_TRUE(b.admitted(a_id, t));
  // The peer restarted and redialled: a proves itself again on the new link,
  // and the new b (fresh state) admits it.
  state b2(b_id, config{});
  b2.add_topic(t, key_of(5));
  const link l2 = link_of(12, 0x45);
  out_a.clear();
  a.handle(in::link_up{b_id, l2}, now, out_a);
  auto sends = all<out::send>(out_a);
  ASSERT_EQ(sends.size(), 1u);
  std::vector<out::output> out_b2;
  b2.handle(in::received{a_id, l2, sends[0].msg}, now, out_b2);
  EXPECT_TRUE(b2.admitted(a_id, t));
  EXPECT_EQ(all<out::send>(out_b2).size(), 1u) << "b2 answers on the new link";
}

TEST_F(pair_fixture, too_many_failures_close_the_peer_once) {
  config cfg;
  cfg.max_failures = 3;
  state v(b_id, cfg);
  v.add_topic(t, key_of(5));
  std::vector<out::output> out;
  for (int i = 0; i < 10; ++i) {
    wire::proof junk{topic_of(static_cast<std::uint8_t>(20 + i)), {}};
    v.handle(in::received{a_id, l, junk}, now, out);
  }
  v.handle(in::malformed{a_id}, now, out);
  EXPECT_EQ(all<out::close>(out).size(), 1u);
  EXPECT_EQ(v.stats().closed_failures, 1u);
  EXPECT_EQ(v.stats().proofs_unknown_topic, 10u);
  EXPECT_EQ(v.stats().malformed, 1u);
  // Its connection closes: nothing of it is kept.
  v.handle(in::link_down{a_id}, now, out);
  EXPECT_EQ(v.peers(), 0u);
}

TEST_F(pair_fixture, leaving_a_topic_forgets_it_and_answers_its_wants) {
  a.add_topic(t, key_of(5));
  b.add_topic(t, key_of(5));
  a.handle(in::want{b_id, t, l}, now, out_a);
  a.handle(in::want{id_of(3), t, std::nullopt}, now, out_a);
  pump();
  ASSERT_TRUE(a.admitted(b_id, t));
  out_a.clear();
  a.remove_topic(t, out_a);
  EXPECT_FALSE(a.admitted(b_id, t));
  auto refused = all<out::refused>(out_a);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].peer, id_of(3));
  EXPECT_EQ(refused[0].why, refusal::topic_left);
}

TEST_F(pair_fixture, a_refusal_after_admission_withdraws_it) {
  a.add_topic(t, key_of(5));
  b.add_topic(t, key_of(5));
  a.handle(in::want{b_id, t, l}, now, out_a);
  pump();
  ASSERT_TRUE(a.admitted(b_id, t));
  out_a.clear();
  a.handle(in::received{b_id, l, wire::refuse{t}}, now, out_a);
  EXPECT_FALSE(a.admitted(b_id, t));
  EXPECT_EQ(all<out::refused>(out_a).size(), 1u);
}

TEST_F(pair_fixture, a_valid_proof_is_answered_before_it_is_reported_so_held_frames_follow_the_answer) {
  a.add_topic(t, key_of(5));
  b.add_topic(t, key_of(5));
  a.handle(in::link_up{b_id, l}, now, out_a);
  b.handle(in::link_up{a_id, l}, now, out_b);
  b.handle(in::want{a_id, t, l}, now, out_b);
  out_a.clear();
  for (const auto& s : all<out::send>(out_b)) a.handle(in::received{b_id, l, s.msg}, now, out_a);
  // a releases what it held for b on `admitted`: its answer must already be
  // queued, or b would drop those frames as coming from an unproven peer.
  std::size_t send_at = out_a.size(), admitted_at = out_a.size();
  for (std::size_t i = 0; i < out_a.size(); ++i) {
    if (std::holds_alternative<out::send>(out_a[i]) && send_at == out_a.size()) send_at = i;
    if (std::holds_alternative<out::admitted>(out_a[i]) && admitted_at == out_a.size()) admitted_at = i;
  }
  ASSERT_LT(admitted_at, out_a.size());
  ASSERT_LT(send_at, out_a.size());
  EXPECT_LT(send_at, admitted_at);
}

TEST_F(pair_fixture, a_proof_arriving_on_a_retired_link_is_answered_for_the_active_link) {
  a.add_topic(t, key_of(5));
  b.add_topic(t, key_of(5));
  const link l2 = link_of(13, 0x46);
  // a's active link to b is l2 (a duplicate replaced l); b still sends on l,
  // which a reads until it is gone. a's sends go to l2, so its answer must
  // be computed with l2's exporter to verify where it lands.
  a.handle(in::link_up{b_id, l}, now, out_a);
  a.handle(in::link_up{b_id, l2}, now, out_a);
  b.handle(in::link_up{a_id, l}, now, out_b);
  b.handle(in::want{a_id, t, l}, now, out_b);
  auto proofs = all<out::send>(out_b);
  ASSERT_EQ(proofs.size(), 1u);
  out_a.clear();
  a.handle(in::received{b_id, l, proofs[0].msg}, now, out_a);
  ASSERT_TRUE(a.admitted(b_id, t)) << "verified with the exporter of the link it came on";
  auto answers = all<out::send>(out_a);
  ASSERT_EQ(answers.size(), 1u);
  const auto* answer = std::get_if<wire::proof>(&answers[0].msg);
  ASSERT_NE(answer, nullptr);
  state b_on_l2(b_id, config{});
  b_on_l2.add_topic(t, key_of(5));
  std::vector<out::output> out;
  b_on_l2.handle(in::received{a_id, l2, *answer}, now, out);
  EXPECT_TRUE(b_on_l2.admitted(a_id, t));
  // Answered once: the same proof again on the retired link owes nothing.
  out_a.clear();
  a.handle(in::received{b_id, l, proofs[0].msg}, now, out_a);
  EXPECT_TRUE(all<out::send>(out_a).empty());
}

TEST_F(pair_fixture, an_old_want_deadline_does_not_end_a_later_want) {
  a.add_topic(t, key_of(5));
  b.add_topic(t, key_of(5));
  a.handle(in::link_up{b_id, l}, now, out_a);
  b.handle(in::link_up{a_id, l}, now, out_b);
  a.handle(in::want{b_id, t, l}, now, out_a);
  auto first = all<out::schedule>(out_a);
  pump();
  ASSERT_TRUE(a.admitted(b_id, t));
  // b leaves the topic, and a asks again before the first deadline is due.
  a.handle(in::received{b_id, l, wire::refuse{t}}, now, out_a);
  ASSERT_FALSE(a.admitted(b_id, t));
  out_a.clear();
  a.handle(in::want{b_id, t, l}, now, out_a);
  auto second = all<out::schedule>(out_a);
  ASSERT_EQ(second.size(), 1u);
  out_a.clear();
  for (const auto& s : first)
    if (s.t.k == timer::kind::want_deadline) a.handle(in::timer_fired{s.t}, now, out_a);
  EXPECT_TRUE(all<out::refused>(out_a).empty()) << "the first want's deadline is not the second's";
  a.handle(in::timer_fired{second[0].t}, now, out_a);
  ASSERT_EQ(all<out::refused>(out_a).size(), 1u);
  EXPECT_EQ(all<out::refused>(out_a)[0].why, refusal::timeout);
}

// A want made while the peer is still being dialled (a reversal or a hole
// punch can take seconds) gets its deadline when the link comes up, so the
// connection that finally arrives still carries the proofs.
TEST_F(pair_fixture, a_want_made_while_dialling_runs_its_deadline_from_the_link) {
  a.add_topic(t, key_of(5));
  a.handle(in::want{b_id, t, std::nullopt}, now, out_a);
  ASSERT_EQ(all<out::schedule>(out_a).size(), 1u);
  EXPECT_EQ(all<out::schedule>(out_a)[0].after, config{}.dial_allowance);  // only a backstop
  EXPECT_TRUE(all<out::send>(out_a).empty());  // nothing to prove it on yet
  const auto backstop = all<out::schedule>(out_a)[0].t;
  out_a.clear();
  a.handle(in::link_up{b_id, l}, now + 8s, out_a);
  EXPECT_EQ(all<out::send>(out_a).size(), 1u);  // the proof, on the new link
  std::vector<timer> deadlines;
  for (const auto& s : all<out::schedule>(out_a)) {
    if (s.t.k != timer::kind::want_deadline) continue;
    deadlines.push_back(s.t);
    EXPECT_EQ(s.after, config{}.admission_timeout);
  }
  ASSERT_EQ(deadlines.size(), 1u);
  out_a.clear();
  a.handle(in::timer_fired{backstop}, now + 9s, out_a);  // the backstop no longer applies
  EXPECT_TRUE(all<out::refused>(out_a).empty());
  a.handle(in::timer_fired{deadlines[0]}, now + 13s, out_a);
  ASSERT_EQ(all<out::refused>(out_a).size(), 1u);
  EXPECT_EQ(a.stats().want_timeouts, 1u);
}

TEST_F(pair_fixture, a_peer_with_no_link_and_nothing_wanted_is_forgotten) {
  a.add_topic(t, key_of(5));
  a.add_topic(topic_of(10), key_of(5));
  // Wants for a peer being dialled (no link yet), then given up.
  a.handle(in::want{id_of(3), t, std::nullopt}, now, out_a);
  auto timers = all<out::schedule>(out_a);
  ASSERT_EQ(timers.size(), 1u);
  EXPECT_EQ(a.peers(), 1u);
  a.handle(in::timer_fired{timers[0].t}, now, out_a);
  EXPECT_EQ(a.peers(), 0u);
  a.handle(in::want{id_of(3), t, std::nullopt}, now, out_a);
  a.remove_topic(t, out_a);
  EXPECT_EQ(a.peers(), 0u);
  // A peer with a link stays until link_down, wants or not.
  a.handle(in::link_up{b_id, l}, now, out_a);
  a.handle(in::want{b_id, topic_of(10), l}, now, out_a);
  a.remove_topic(topic_of(10), out_a);
  EXPECT_EQ(a.peers(), 1u);
  a.handle(in::link_down{b_id}, now, out_a);
  EXPECT_EQ(a.peers(), 0u);
}

TEST_F(pair_fixture, a_stranger_flooding_proofs_is_counted_refused_and_closed_once) {
  a.add_topic(t, key_of(5));
  a.handle(in::link_up{b_id, l}, now, out_a);
  out_a.clear();
  constexpr int n = 2000;
  for (int i = 0; i < n; ++i) {
    bytes raw(32, std::byte{0});
    raw[0] = static_cast<std::byte>(i & 0xff);
    raw[1] = static_cast<std::byte>(i >> 8);
    raw[2] = std::byte{0x77};
    a.handle(in::received{b_id, l, wire::proof{*topic_id::from_span(raw), {}}}, now, out_a);
  }
  EXPECT_EQ(a.stats().proofs_unknown_topic, static_cast<std::uint64_t>(n));
  EXPECT_EQ(a.stats().refusals_sent, static_cast<std::uint64_t>(n));
  EXPECT_EQ(all<out::close>(out_a).size(), 1u);
  EXPECT_EQ(a.stats().closed_failures, 1u);
  EXPECT_FALSE(a.any_admitted(b_id));
  EXPECT_EQ(a.peers(), 1u);
  EXPECT_TRUE(all<out::admitted>(out_a).empty());
}

TEST_F(pair_fixture, a_restarted_peer_is_answered_on_its_new_link_without_a_second_admission) {
  a.add_topic(t, key_of(5));
  b.add_topic(t, key_of(5));
  a.handle(in::link_up{b_id, l}, now, out_a);
  b.handle(in::link_up{a_id, l}, now, out_b);
  b.handle(in::want{a_id, t, l}, now, out_b);
  pump();
  ASSERT_TRUE(a.admitted(b_id, t));
  // b restarts and redials before a notices the old connection is gone: the
  // new link replaces the old one and b2 proves itself on it.
  state b2(b_id, config{});
  b2.add_topic(t, key_of(5));
  const link l2 = link_of(14, 0x47);
  std::vector<out::output> out_b2;
  b2.handle(in::link_up{a_id, l2}, now, out_b2);
  b2.handle(in::want{a_id, t, l2}, now, out_b2);
  out_a.clear();
  a.handle(in::link_up{b_id, l2}, now, out_a);
  for (int round = 0; round < 8; ++round) {
    auto sa = all<out::send>(out_a);
    auto sb = all<out::send>(out_b2);
    std::erase_if(out_a, [](const out::output& o) { return std::holds_alternative<out::send>(o); });
    std::erase_if(out_b2, [](const out::output& o) { return std::holds_alternative<out::send>(o); });
    for (auto& s : sa) b2.handle(in::received{a_id, l2, s.msg}, now, out_b2);
    for (auto& s : sb) a.handle(in::received{b_id, l2, s.msg}, now, out_a);
  }
  EXPECT_TRUE(b2.admitted(a_id, t));
  EXPECT_TRUE(a.admitted(b_id, t));
  EXPECT_TRUE(all<out::admitted>(out_a).empty()) << "b was admitted already";
  EXPECT_EQ(a.stats().proofs_accepted, 1u);
  EXPECT_EQ(a.stats().proofs_invalid, 0u);
  EXPECT_EQ(b2.stats().proofs_invalid, 0u);
}

TEST(admission_wire, messages_round_trip_and_every_bad_length_or_type_is_malformed) {
  wire::proof p{topic_of(1), {}};
  for (std::size_t i = 0; i < p.tag.size(); ++i) p.tag[i] = static_cast<std::byte>(i);
  const wire::message msgs[] = {p, wire::refuse{topic_of(2)}};
  for (const auto& m : msgs) {
    const bytes b = wire::encode(m);
    auto d = wire::decode(b);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, m);
    for (std::size_t n = 0; n < b.size(); ++n)
      EXPECT_FALSE(wire::decode(byte_span(b).first(n))) << "truncated to " << n;
    bytes longer = b;
    longer.push_back(std::byte{0});
    EXPECT_FALSE(wire::decode(longer));
  }
  EXPECT_EQ(wire::encode(msgs[0]).size(), wire::proof_size);
  EXPECT_EQ(wire::encode(msgs[1]).size(), wire::refuse_size);
  for (int type : {0, 3, 255}) {
    bytes b(wire::proof_size, std::byte{0});
    b[0] = static_cast<std::byte>(type);
    auto d = wire::decode(b);
    ASSERT_FALSE(d);
    EXPECT_TRUE(d.error() == errc::malformed_message);
  }
}

TEST(admission_proof, binds_every_input) {
  const auto k = admission_key_for(topic_of(1), key_of(2));
  const auto ex = link_of(1, 3).secret;
  const auto base = proof_for(k, ex, id_of(4), id_of(5), topic_of(1));
  EXPECT_TRUE(verify_proof(k, ex, id_of(4), id_of(5), topic_of(1), base));
  EXPECT_NE(base, proof_for(admission_key_for(topic_of(1), key_of(9)), ex, id_of(4), id_of(5), topic_of(1)));
  EXPECT_NE(base, proof_for(admission_key_for(topic_of(8), key_of(2)), ex, id_of(4), id_of(5), topic_of(1)));
  EXPECT_NE(base, proof_for(k, link_of(1, 6).secret, id_of(4), id_of(5), topic_of(1)));
  EXPECT_NE(base, proof_for(k, ex, id_of(5), id_of(4), topic_of(1)));
  EXPECT_NE(base, proof_for(k, ex, id_of(4), id_of(5), topic_of(7)));
  auto flipped = base;
  flipped[0] ^= std::byte{1};
  EXPECT_FALSE(verify_proof(k, ex, id_of(4), id_of(5), topic_of(1), flipped));
}

}  // namespace
}  // namespace topicswarm::admission
