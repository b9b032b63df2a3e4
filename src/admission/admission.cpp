#include "admission/admission.hpp"

#include <string>

namespace topicswarm::admission {

state::state(node_id me, config cfg) : me_(me), cfg_(cfg) {}

void state::add_topic(const topic_id& wire_topic, const secret_hash& key) {
  topics_[wire_topic] = admission_key_for(wire_topic, key);
}

void state::remove_topic(const topic_id& wire_topic, std::vector<out::output>& out) {
  if (topics_.erase(wire_topic) == 0) return;
  for (auto it = peers_.begin(); it != peers_.end();) {
    auto& p = it->second;
    p.proven.erase(wire_topic);
    p.sent_on.erase(wire_topic);
    if (p.wanted.erase(wire_topic) > 0) out.push_back(out::refused{it->first, wire_topic, refusal::topic_left});
    forget_if_idle(it++);
  }
}

bool state::admitted(const node_id& peer, const topic_id& topic) const {
  auto it = peers_.find(peer);
  return it != peers_.end() && it->second.proven.contains(topic);
}

bool state::any_admitted(const node_id& peer) const {
  auto it = peers_.find(peer);
  return it != peers_.end() && !it->second.proven.empty();
}

void state::forget_if_idle(std::map<node_id, peer_state>::iterator it) {
  const auto& p = it->second;
  if (!p.active && p.wanted.empty() && p.proven.empty()) peers_.erase(it);
}

void state::send_proof(const node_id& peer, peer_state& p, const topic_id& topic, const link& l,
                       std::vector<out::output>& out) {
  auto k = topics_.find(topic);
  if (k == topics_.end()) return;
  auto sent = p.sent_on.find(topic);
  if (sent != p.sent_on.end() && sent->second == l.id) return;  // this connection has it already
  p.sent_on[topic] = l.id;
  ++counters_.proofs_sent;
  out.push_back(out::send{peer, wire::proof{topic, proof_for(k->second, l.secret, me_, peer, topic)}});
}

void state::handle(in::input input, instant /*now*/, std::vector<out::output>& out) {
  std::visit(
      [&](auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, in::want>) {
          if (!topics_.contains(in.topic)) return;
          auto& p = peers_[in.peer];
          if (p.proven.contains(in.topic)) {
            out.push_back(out::admitted{in.peer, in.topic});
            return;
          }
          // The deadline runs from the first want on a link; asking again
          // while waiting neither extends it nor adds a timer. A want with
          // no link yet (the peer is being dialled) gets its deadline when
          // the link comes up (until then only dial_allowance bounds it; a
          // failed dial ends it at once, link_down): a slow dial's
          // connection must not arrive to a want that already gave up.
          if (auto [w, fresh] = p.wanted.try_emplace(in.topic, next_want_); fresh) {
            ++next_want_;
            const auto after = in.l || p.active ? cfg_.admission_timeout : cfg_.dial_allowance;
            out.push_back(out::schedule{after, timer{timer::kind::want_deadline, in.peer, 0, in.topic, w->second}});
          }
          if (in.l) send_proof(in.peer, p, in.topic, *in.l, out);
        } else if constexpr (std::is_same_v<T, in::link_up>) {
          auto& p = peers_[in.peer];
          p.active = in.l;
          // What a new connection owes: proofs for what we wait on, and for
          // what the peer proved (it may have restarted and forgotten us; it
          // is the same authenticated node, so its admissions stand).
          for (auto& [t, serial] : p.wanted) {
            send_proof(in.peer, p, t, in.l, out);
            // What we wait on gets its time from this link (see want).
            serial = next_want_++;
            out.push_back(out::schedule{cfg_.admission_timeout,
                                        timer{timer::kind::want_deadline, in.peer, 0, t, serial}});
          }
          for (const auto& t : p.proven) send_proof(in.peer, p, t, in.l, out);
          out.push_back(out::schedule{cfg_.admission_timeout, timer{timer::kind::link_deadline, in.peer, in.l.id, {}}});
        } else if constexpr (std::is_same_v<T, in::link_down>) {
          peers_.erase(in.peer);
        } else if constexpr (std::is_same_v<T, in::malformed>) {
          ++counters_.malformed;
          fail(in.peer, out);
        } else if constexpr (std::is_same_v<T, in::received>) {
          on_received(in, out);
        } else if constexpr (std::is_same_v<T, in::timer_fired>) {
          on_timer(in.t, out);
        }
      },
      input);
}

void state::on_received(const in::received& in, std::vector<out::output>& out) {
  if (const auto* r = std::get_if<wire::refuse>(&in.msg)) {
    ++counters_.refusals_received;
    auto it = peers_.find(in.peer);
    if (it == peers_.end()) return;
    auto& p = it->second;
    const bool waited = p.wanted.erase(r->topic) > 0;
    const bool had = p.proven.erase(r->topic) > 0;
    // The peer no longer holds our proof either: a later want proves again.
    p.sent_on.erase(r->topic);
    if (waited || had) out.push_back(out::refused{in.peer, r->topic, refusal::refused_by_peer});
    forget_if_idle(it);
    return;
  }
  const auto& pr = std::get<wire::proof>(in.msg);
  auto k = topics_.find(pr.topic);
  // One answer for both failures, so a refusal does not tell a prober which
  // topics we are in.
  const bool known = k != topics_.end();
  if (!known || !verify_proof(k->second, in.l.secret, in.peer, me_, pr.topic, pr.tag)) {
    ++(known ? counters_.proofs_invalid : counters_.proofs_unknown_topic);
    ++counters_.refusals_sent;
    out.push_back(out::send{in.peer, wire::refuse{pr.topic}});
    fail(in.peer, out);
    return;
  }
  auto& p = peers_[in.peer];
  const bool fresh = p.proven.insert(pr.topic).second;
  p.wanted.erase(pr.topic);
  if (fresh) ++counters_.proofs_accepted;
  // The mutual answer, at most once per connection. It goes where the
  // driver sends: the peer's active link, which is not the one the proof
  // came on when that one is a retired duplicate still being read.
  send_proof(in.peer, p, pr.topic, p.active ? *p.active : in.l, out);
  // After the answer: the driver releases held frames on `admitted`, and
  // they must reach the peer after our proof on the same ordered stream.
  if (fresh) out.push_back(out::admitted{in.peer, pr.topic});
}

void state::fail(const node_id& peer, std::vector<out::output>& out) {
  auto& p = peers_[peer];
  // Close once, on the first failure past the bound; the count stops there
  // while the close is on its way.
  if (p.failures > cfg_.max_failures || ++p.failures <= cfg_.max_failures) return;
  ++counters_.closed_failures;
  out.push_back(out::close{peer, error{errc::not_admitted, "more than " + std::to_string(cfg_.max_failures) +
                                                              " failed admission proofs or malformed frames"}});
}

bool state::timer_applies(const timer& t) const {
  auto it = peers_.find(t.peer);
  if (it == peers_.end()) return false;
  const auto& p = it->second;
  if (t.k == timer::kind::want_deadline) {
    auto w = p.wanted.find(t.topic);
    return w != p.wanted.end() && w->second == t.want;
  }
  return p.active && p.active->id == t.link && p.proven.empty();
}

void state::on_timer(const timer& t, std::vector<out::output>& out) {
  auto it = peers_.find(t.peer);
  if (it == peers_.end()) return;  // the peer's connection is gone: nothing applies
  auto& p = it->second;
  if (t.k == timer::kind::want_deadline) {
    auto w = p.wanted.find(t.topic);
    if (w == p.wanted.end() || w->second != t.want) return;  // proven, refused, or wanted again since
    p.wanted.erase(w);
    ++counters_.want_timeouts;
    out.push_back(out::refused{t.peer, t.topic, refusal::timeout});
    forget_if_idle(it);
    return;
  }
  // A replaced link's deadline is not the new link's: that one has its own.
  if (!p.active || p.active->id != t.link || !p.proven.empty()) return;
  ++counters_.closed_no_topic;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.admission_timeout).count();
  out.push_back(out::close{t.peer, error{errc::not_admitted, "no admitted topic within " + std::to_string(ms) + " ms"}});
}

}  // namespace topicswarm::admission
