// Fuzz target: the nat frame decoder (nat/reachability.hpp), what any
// connected peer sends on frame kind 7 and what a probe connection carries.
// Any input must yield a message or an error; a message must re-encode to
// exactly the input. Decoded messages are fed to a reachability state from
// a connected peer and over a probe connection: whatever they say, no
// candidate is confirmed (no request was made), and a probe is only ever
// aimed at the peer's own IP as its connection shows it. The same messages
// go to a connection-reversal state from a requester and from a helper:
// whatever they say, a forwarded reverse frame carries the requester's IP as
// its connection shows it, frames go only to connected peers, and dials stay
// within the per-helper budget and the address policy. Punch messages too: a
// punch passed on as helper carries the sender's IP as its connection shows
// it, and punch dials go only to peers not connected, within the policy and
// the in-flight cap. And over a relayed connection, punches coordinated with
// its other end go only to the IP the relay saw it at.
#include "nat/reachability.hpp"
#include "nat/reversal.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace topicswarm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const byte_span body(reinterpret_cast<const std::byte*>(data), size);
  auto m = nat::wire::decode(body);
  if (!m) return 0;
  const bytes again = nat::wire::encode(*m);
  if (!std::equal(again.begin(), again.end(), body.begin(), body.end())) std::abort();

  static const node_id peer = *node_id::from_span(bytes(32, std::byte{2}));
  static const endpoint ours = endpoint::v4({198, 51, 100, 10}, 7000);
  static const endpoint theirs = endpoint::v4({203, 0, 113, 10}, 46573);
  nat::state st(nat::config{}, 1);
  std::vector<nat::out::output> out;
  core::instant now{};
  st.handle(nat::in::local_addresses{{ours}, {ours}}, now, out);
  st.handle(nat::in::link_up{peer, nat::link_ends{ours, theirs}, true}, now, out);
  for (int i = 0; i < 3; ++i) {
    st.handle(nat::in::received{peer, nat::link_ends{ours, theirs}, *m}, now, out);
    st.handle(nat::in::probe_received{peer, theirs, *m}, now, out);
    now += std::chrono::seconds(1);
  }
  if (!st.confirmed().empty()) std::abort();
  if (st.stats().proofs_accepted != 0) std::abort();
  for (const auto& o : out) {
    const auto* p = std::get_if<nat::out::probe>(&o);
    if (p && (p->to != peer || p->address.ip != theirs.ip || p->address.fam != theirs.fam)) std::abort();
  }

  // Connection reversal: `peer` (a requester, or a helper) and `other` (a
  // target) are connected; the message arrives from each several times.
  static const node_id other = *node_id::from_span(bytes(32, std::byte{3}));
  static const endpoint other_remote = endpoint::v4({192, 0, 2, 20}, 7000);
  const nat::reversal::config rcfg{};
  nat::reversal::state rv(rcfg, 1);
  const core::address_policy policy;  // public addresses only
  rv.set_policy(policy);
  std::vector<nat::reversal::out::output> rout;
  rv.handle(nat::reversal::in::listen{{ours}}, now, rout);
  rv.handle(nat::reversal::in::link_up{peer, theirs, ours, true}, now, rout);
  rv.handle(nat::reversal::in::link_up{other, other_remote, ours, true}, now, rout);
  for (int i = 0; i < 20; ++i) {
    rv.handle(nat::reversal::in::received{peer, *m, (i % 3) == 2}, now, rout);
    rv.handle(nat::reversal::in::received{other, *m, false}, now, rout);
  }
  // Punching: the same node also wants a peer of its own (so a reply has a
  // punch to answer), and a sync is preceded by the connect it would follow.
  static const node_id wanted = *node_id::from_span(bytes(32, std::byte{4}));
  rv.set_self(*node_id::from_span(bytes(32, std::byte{5})));
  rv.want(wanted, now, rout);
  if (const auto* p = std::get_if<nat::wire::punch>(&*m); p && p->phase == nat::wire::punch_phase::sync) {
    auto connect = *p;
    connect.phase = nat::wire::punch_phase::connect;
    rv.handle(nat::reversal::in::received{peer, connect, false}, now, rout);
  }
  for (int i = 0; i < 4; ++i) {
    rv.handle(nat::reversal::in::received{peer, *m, false}, now, rout);
    rv.handle(nat::reversal::in::timer_fired{nat::reversal::timer{wanted, 2, nat::reversal::timer::kind::punch_go}},
              now + std::chrono::seconds(1), rout);
  }
  std::size_t dials = 0, punches = 0;
  for (const auto& o : rout) {
    if (const auto* pu = std::get_if<nat::reversal::out::punch>(&o)) {
      ++punches;
      if (pu->peer == peer || pu->peer == other) std::abort();  // both are connected
      if (!policy.allows(pu->address)) std::abort();
      if (pu->window != rcfg.punch_window) std::abort();
    }
    if (const auto* snd = std::get_if<nat::reversal::out::send>(&o)) {
      if (const auto* f = std::get_if<nat::wire::punch>(&snd->msg)) {
        // Passed on as helper: the sender's IP as its connection shows it.
        const endpoint& seen = f->from == peer ? theirs : other_remote;
        if (f->address.ip != seen.ip || f->address.fam != seen.fam) std::abort();
      }
    }
  }
  if (punches > rcfg.max_dials_in_flight + 1) std::abort();  // agreed ones, and our own
  // Relaying: a serving relay fed the same message from both peers admits
  // circuit ends only for tokens it agreed to, and only from the two ends'
  // IPs; what it offers goes to a connected target.
  nat::reversal::config scfg{};
  scfg.relay_serve = true;
  nat::reversal::state relay(scfg, 3);
  std::vector<nat::reversal::out::output> sout;
  relay.handle(nat::reversal::in::listen{{ours}}, now, sout);
  relay.handle(nat::reversal::in::link_up{peer, theirs, ours, true}, now, sout);
  relay.handle(nat::reversal::in::link_up{other, other_remote, ours, true}, now, sout);
  relay.handle(nat::reversal::in::received{peer, *m, false}, now, sout);
  relay.handle(nat::reversal::in::received{other, *m, false}, now, sout);
  if (relay.circuits() > scfg.relay_max_circuits) std::abort();
  if (const auto* q = std::get_if<nat::wire::relay_request>(&*m)) {
    static const endpoint stranger = endpoint::v4({198, 51, 100, 99}, 1);
    if (relay.admit(q->tok, stranger)) std::abort();
  }
  for (const auto& o : sout)
    if (const auto* snd = std::get_if<nat::reversal::out::send>(&o); snd && snd->to != peer && snd->to != other)
      std::abort();
  for (const auto& o : rout) {
    if (const auto* snd = std::get_if<nat::reversal::out::send>(&o)) {
      if (snd->to != peer && snd->to != other) std::abort();
      if (const auto* r = std::get_if<nat::wire::reverse>(&snd->msg)) {
        // Forwarded to the target for the requester: the IP is the one the
        // requester's connection shows, never one a frame named.
        const endpoint& seen = r->from == peer ? theirs : other_remote;
        if (r->address.ip != seen.ip || r->address.fam != seen.fam) std::abort();
      }
    } else if (const auto* d = std::get_if<nat::reversal::out::dial>(&o)) {
      ++dials;
      if (d->peer == peer || d->peer == other) std::abort();  // both are connected
      if (!policy.allows(d->address)) std::abort();
    }
  }
  // Two helpers, each at most dial_burst dials before a minute has passed.
  if (dials > 2 * rcfg.dial_burst) std::abort();

  // Upgrading (§19.10): `peer` is the other end of a relayed connection
  // that `other` relays and saw `peer` at relay_seen. Whatever `peer` sends
  // over it, a punch to it goes only to the IP the relay saw, within the
  // policy, and nothing goes to anyone but the two.
  static const endpoint relay_seen = endpoint::v4({192, 0, 2, 77}, 5000);
  nat::reversal::state up(rcfg, 5);
  std::vector<nat::reversal::out::output> uout;
  up.set_self(*node_id::from_span(bytes(32, std::byte{5})));
  up.set_policy(policy);
  up.handle(nat::reversal::in::listen{{ours}}, now, uout);
  up.handle(nat::reversal::in::link_up{other, other_remote, ours, true}, now, uout);
  nat::wire::token tok{};
  tok.fill(std::byte{9});
  up.handle(nat::reversal::in::received{other, nat::wire::relay_offer{peer, tok, 7100, relay_seen}, false}, now, uout);
  up.handle(nat::reversal::in::link_up{peer, other_remote, ours, false, true}, now, uout);
  up.handle(nat::reversal::in::dial_done{peer, true}, now, uout);
  for (int i = 0; i < 6; ++i) {
    up.handle(nat::reversal::in::received{peer, *m, false}, now, uout);
    now += std::chrono::seconds(1);
  }
  std::size_t upgrade_punches = 0;
  for (const auto& o : uout) {
    if (const auto* pu = std::get_if<nat::reversal::out::punch>(&o)) {
      ++upgrade_punches;
      if (pu->peer != peer || pu->address.ip != relay_seen.ip || !policy.allows(pu->address)) std::abort();
    }
    if (const auto* snd = std::get_if<nat::reversal::out::send>(&o); snd && snd->to != peer && snd->to != other)
      std::abort();
  }
  if (upgrade_punches > rcfg.dial_burst) std::abort();
  return 0;
}
