#include "nat/reversal.hpp"

#include <algorithm>

namespace topicswarm::nat::reversal {

state::state(config cfg, std::uint64_t seed) : cfg_(cfg), rng_(seed) {}

void state::handle(in::input input, instant now, std::vector<out::output>& out) {
  std::visit(
      [&](auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, in::link_up>) {
          peers_[v.peer] = peer{v.remote, v.local, v.speaks, v.relayed};
          if (v.relayed) return;  // (a punch may still replace it: what runs for the peer goes on)
          upgrades_.erase(v.peer);
          if (auto p = pending_.find(v.peer); p != pending_.end()) {
            if (!p->second.punch && !p->second.relay) ++counters_.succeeded;  // (punches, relays: at dial_done)
            if (!p->second.dialling) pending_.erase(p);
          }
          agreed_.erase(v.peer);  // connected some other way: the punch is moot
        } else if constexpr (std::is_same_v<T, in::link_down>) {
          peers_.erase(v.peer);
          upgrades_.erase(v.peer);
          if (!relaying_.contains(v.peer)) relay_seen_.erase(v.peer);
          forward_buckets_.erase(v.peer);
          dial_buckets_.erase(v.peer);
          std::vector<node_id> waiting;
          for (const auto& [target, p] : pending_)
            if (p.asked.contains(v.peer)) waiting.push_back(target);
          for (const auto& t : waiting) helper_gone(t, v.peer, out);
        } else if constexpr (std::is_same_v<T, in::received>) {
          if (!peers_.contains(v.peer)) return;  // a frame racing its link's close
          if (const auto* q = std::get_if<wire::reverse_request>(&v.msg)) {
            on_request(v.peer, *q, now, out);
          } else if (const auto* a = std::get_if<wire::reverse_answer>(&v.msg)) {
            on_answer(v.peer, *a, out);
          } else if (const auto* r = std::get_if<wire::reverse>(&v.msg)) {
            on_reverse(v.peer, *r, v.busy, now, out);
          } else if (const auto* pq = std::get_if<wire::punch_request>(&v.msg)) {
            on_punch_request(v.peer, *pq, now, out);
          } else if (const auto* pm = std::get_if<wire::punch>(&v.msg)) {
            on_punch(v.peer, *pm, v.busy, now, out);
          } else if (const auto* pa = std::get_if<wire::punch_answer>(&v.msg)) {
            on_punch_answer(v.peer, *pa, out);
          } else if (const auto* rq = std::get_if<wire::relay_request>(&v.msg)) {
            on_relay_request(v.peer, *rq, now, out);
          } else if (const auto* ro = std::get_if<wire::relay_offer>(&v.msg)) {
            on_relay_offer(v.peer, *ro, v.busy, now, out);
          } else if (const auto* ra = std::get_if<wire::relay_answer>(&v.msg)) {
            on_relay_answer(v.peer, *ra, out);
          }
        } else if constexpr (std::is_same_v<T, in::dial_done>) {
          if (relaying_.erase(v.peer) != 0) {
            ++(v.connected ? counters_.relay_connected : counters_.relay_failed);
            if (!v.connected) relay_seen_.erase(v.peer);
            auto p = pending_.find(v.peer);
            const bool ours = p != pending_.end() && p->second.relay && p->second.dialling;
            if (p != pending_.end() && p->second.dialling) pending_.erase(p);
            // We asked for this relay: we also try to replace it (§19.10).
            // (One end does, so that two upgrades do not cross.)
            if (ours && v.connected && cfg_.punching && cfg_.upgrade_after.count() > 0) {
              auto& u = upgrades_[v.peer];
              u.serial = ++serial_;
              u.after = cfg_.upgrade_after;
              out.push_back(out::schedule{u.after, timer{v.peer, u.serial, timer::kind::upgrade}});
            }
            return;
          }
          if (punching_.erase(v.peer) != 0) {
            if (!v.connected) {
              // Next time this peer is wanted, a relay (a punch that failed
              // once will likely fail again: a NAT that maps per destination).
              std::erase_if(punch_failed_at_,
                            [&](const auto& kv) { return now - kv.second >= cfg_.relay_after_punch_failure; });
              if (punch_failed_at_.size() < 1024) punch_failed_at_[v.peer] = now;
            }
            ++(v.connected ? counters_.punch_connected : counters_.punch_failed);
            if (auto p = pending_.find(v.peer); p != pending_.end() && p->second.dialling) pending_.erase(p);
            return;
          }
          if (dials_in_flight_.erase(v.peer) == 0) return;
          ++(v.connected ? counters_.dial_connected : counters_.dial_failed);
        } else if constexpr (std::is_same_v<T, in::listen>) {
          listen_ = v.endpoints;
        } else if constexpr (std::is_same_v<T, in::timer_fired>) {
          on_timer(v.t, now, out);
        }
      },
      input);
}

bool state::timer_applies(const timer& t) const {
  if (t.what == timer::kind::upgrade) {
    auto u = upgrades_.find(t.target);
    return u != upgrades_.end() && u->second.serial == t.serial;
  }
  if (t.what == timer::kind::circuit_expires) {
    return std::any_of(circuits_.begin(), circuits_.end(),
                       [&](const auto& kv) { return kv.second.id == t.serial && !kv.second.running; });
  }
  if (t.what == timer::kind::agreed_expires) {
    auto a = agreed_.find(t.target);
    return a != agreed_.end() && a->second.serial == t.serial;
  }
  auto p = pending_.find(t.target);
  if (p == pending_.end() || p->second.serial != t.serial || p->second.dialling) return false;
  return t.what == timer::kind::deadline || (p->second.punch && p->second.synced);
}

void state::on_timer(const timer& t, instant now, std::vector<out::output>& out) {
  if (!timer_applies(t)) return;
  if (t.what == timer::kind::upgrade) return on_upgrade_timer(t.target, now, out);
  if (t.what == timer::kind::circuit_expires) {
    // Its ends did not both come (the transport closes a lone one itself).
    std::erase_if(circuits_, [&](const auto& kv) { return kv.second.id == t.serial; });
    ++counters_.circuits_unpaired;
    return;
  }
  if (t.what == timer::kind::agreed_expires) {
    ++counters_.punch_unsynced;
    agreed_.erase(t.target);
    return;
  }
  auto p = pending_.find(t.target);
  if (t.what == timer::kind::punch_go) {
    // Half a round trip after the sync left: the target is dialling about now.
    p->second.dialling = true;
    punching_.insert(t.target);
    ++counters_.punch_dials;
    out.push_back(out::punch{t.target, p->second.address, cfg_.punch_window});
    return;
  }
  ++(p->second.punch ? counters_.punch_no_reply : counters_.timeouts);
  pending_.erase(p);
  // The transport's own wait ends at the same time.
}

std::uint16_t state::listen_port(endpoint::family fam) const {
  for (const auto& l : listen_)
    if (l.fam == fam) return l.port;
  return 0;
}

// ------------------------------------------------------------ requester ---

bool state::want(const node_id& target, instant now, std::vector<out::output>& out) {
  if (pending_.contains(target)) return true;  // already asked: the transport waits for that one
  if (peers_.contains(target)) return false;   // connected: nothing to reverse
  return ask(target, false, now, out);
}

void state::on_upgrade_timer(const node_id& target, instant now, std::vector<out::output>& out) {
  auto u = upgrades_.find(target);
  auto pe = peers_.find(target);
  if (pe == peers_.end() || !pe->second.relayed) {
    upgrades_.erase(u);
    return;
  }
  // The next attempt, whatever this one does: twice as late, up to the cap.
  u->second.serial = ++serial_;
  u->second.after = std::min<duration>(u->second.after * 2, cfg_.upgrade_max_interval);
  out.push_back(out::schedule{u->second.after, timer{target, u->second.serial, timer::kind::upgrade}});
  // Not while a punch with the peer runs or is agreed (either side's), and
  // only as a node that punches (a reachable one never asked for a relay).
  if (pending_.contains(target) || punching_.contains(target) || agreed_.contains(target) || public_) return;
  if (ask(target, true, now, out)) ++counters_.upgrade_attempts;
}

bool state::ask(const node_id& target, bool upgrade, instant now, std::vector<out::output>& out) {
  std::vector<node_id> helpers;
  // An upgrade is coordinated with the peer itself, over the relayed link
  // (each side knows the other's IP from the relay); else through helpers.
  const bool direct_coordination = upgrade && relay_seen_.contains(target);
  if (direct_coordination) helpers.push_back(target);
  for (const auto& [id, p] : peers_) {
    if (direct_coordination) break;
    if (!p.speaks || id == target) continue;
    // Our listen port in the family of the connection the helper sees us on.
    // (The family is copied: clang 14 cannot capture a structured binding.)
    const auto fam = p.local.fam;
    if (std::none_of(listen_.begin(), listen_.end(), [fam](const endpoint& l) { return l.fam == fam; })) continue;
    helpers.push_back(id);
  }
  if (helpers.empty() || pending_.size() >= cfg_.max_pending) {
    ++counters_.no_helper;
    return false;
  }
  auto& p = pending_[target];
  p.serial = ++serial_;
  std::erase_if(punch_failed_at_, [&](const auto& kv) { return now - kv.second >= cfg_.relay_after_punch_failure; });
  // Not reachable ourselves: a punch, unless one to this peer failed lately
  // or our NAT maps per destination; then a relay (one is asked).
  p.relay = !upgrade && !public_ && (symmetric_ || punch_failed_at_.contains(target));
  p.punch = upgrade || (!p.relay && cfg_.punching && !public_);
  p.sent = now;
  if (p.relay) {
    // One relay at a time (both ends must meet at the same one): the next
    // is asked when one says it cannot.
    for (auto& b : p.tok) b = static_cast<std::byte>(rng_.next() & 0xff);
    const auto h = rng_.sample(std::move(helpers), 1).front();
    p.asked.insert(h);
    p.tried.insert(h);
    out.push_back(out::send{h, wire::relay_request{target, p.tok}});
    ++counters_.relay_requested;
    out.push_back(out::schedule{cfg_.timeout, timer{target, p.serial, timer::kind::deadline}});
    return true;
  }
  for (const auto& h : rng_.sample(std::move(helpers), cfg_.helpers)) {
    const auto port = listen_port(peers_.at(h).local.fam);
    p.asked.insert(h);
    if (p.punch) {
      out.push_back(out::send{h, wire::punch_request{target, port, wire::punch_phase::connect,
                                                     static_cast<std::uint32_t>(p.serial)}});
    } else {
      out.push_back(out::send{h, wire::reverse_request{target, port}});
    }
  }
  ++(p.punch ? counters_.punches_requested : counters_.requested);
  out.push_back(out::schedule{cfg_.timeout, timer{target, p.serial, timer::kind::deadline}});
  return true;
}

void state::on_answer(const node_id& from, const wire::reverse_answer& a, std::vector<out::output>& out) {
  auto p = pending_.find(a.target);
  if (p == pending_.end() || p->second.punch || p->second.relay || !p->second.asked.contains(from)) {
    ++counters_.unexpected;
    return;
  }
  if (a.code == wire::reverse_code::forwarded) {
    p->second.forwarded = true;
    p->second.asked.erase(from);
    return;
  }
  ++(a.code == wire::reverse_code::unknown ? counters_.answers_unknown : counters_.answers_refused);
  helper_gone(a.target, from, out);
}

void state::helper_gone(const node_id& target, const node_id& helper, std::vector<out::output>& out) {
  auto p = pending_.find(target);
  if (p == pending_.end() || p->second.synced) return;  // a synced punch needs no helper any more
  p->second.asked.erase(helper);
  if (!p->second.asked.empty() || p->second.forwarded) return;
  ++(p->second.relay   ? counters_.relay_unavailable
     : p->second.punch ? counters_.punch_failed_helpers
                       : counters_.failed);
  pending_.erase(p);
  out.push_back(out::failed{target});
}

// --------------------------------------------------------------- helper ---

std::optional<wire::reverse_code> state::may_forward(const node_id& from, const node_id& target, instant now) {
  if (target == from) {
    ++counters_.forward_refused;
    return wire::reverse_code::refused;
  }
  auto t = peers_.find(target);
  if (t == peers_.end() || !t->second.speaks) {
    ++counters_.forward_unknown;
    return wire::reverse_code::unknown;
  }
  if (!forward_buckets_[from].take(now, cfg_.forward_burst, cfg_.forward_per_minute) ||
      !forward_total_.take(now, cfg_.forward_total_burst, cfg_.forward_total_per_minute)) {
    ++counters_.forward_refused;
    return wire::reverse_code::refused;
  }
  return std::nullopt;
}

void state::on_request(const node_id& from, const wire::reverse_request& q, instant now,
                       std::vector<out::output>& out) {
  const auto answer = [&](wire::reverse_code c) { out.push_back(out::send{from, wire::reverse_answer{q.target, c}}); };
  if (const auto no = may_forward(from, q.target, now)) return answer(*no);
  // The requester's IP as our connection sees it, never one it names.
  endpoint at = peers_.at(from).remote;
  at.port = q.port;
  ++counters_.forwarded;
  out.push_back(out::send{q.target, wire::reverse{from, at}});
  answer(wire::reverse_code::forwarded);
}

// --------------------------------------------------------------- target ---

void state::on_reverse(const node_id& helper, const wire::reverse& r, bool busy, instant now,
                       std::vector<out::output>& out) {
  if (busy || peers_.contains(r.from)) {
    ++counters_.dial_skipped;
    return;
  }
  std::erase_if(last_dialled_, [&](const auto& kv) { return now - kv.second >= cfg_.redial_interval; });
  if (last_dialled_.contains(r.from) || dials_in_flight_.contains(r.from)) {
    ++counters_.dial_skipped;
    return;
  }
  if (!policy_.allows(r.address) || dials_in_flight_.size() >= cfg_.max_dials_in_flight ||
      last_dialled_.size() >= cfg_.max_dials_in_flight * 4 ||
      !dial_buckets_[helper].take(now, cfg_.dial_burst, cfg_.dial_per_minute) ||
      !dial_total_.take(now, cfg_.dial_total_burst, cfg_.dial_total_per_minute)) {
    ++counters_.dial_refused;
    return;
  }
  last_dialled_[r.from] = now;
  dials_in_flight_.insert(r.from);
  ++counters_.dialled;
  out.push_back(out::dial{r.from, r.address});
}

// ------------------------------------------------------------- punching ---

// As helper: pass a punch message on, under the forward budgets, with the
// sender's IP as our connection sees it.
void state::on_punch_request(const node_id& from, const wire::punch_request& q, instant now,
                             std::vector<out::output>& out) {
  if (q.target == self_) {
    // Addressed to us: the other end of a relayed link coordinates a punch
    // with us itself (§19.10). Its address is the IP the relay saw it at
    // (never one it names) and the port it asks for; the rest is as if a
    // helper had passed the message on.
    auto pe = peers_.find(from);
    auto seen = relay_seen_.find(from);
    if (pe == peers_.end() || !pe->second.relayed || seen == relay_seen_.end()) {
      ++counters_.unexpected;
      return;
    }
    endpoint at = seen->second;
    at.port = q.port;
    return on_punch(from, wire::punch{from, at, q.phase, q.round}, false, now, out);
  }
  const auto answer = [&](wire::reverse_code c) {
    out.push_back(out::send{from, wire::punch_answer{q.target, q.round, c}});
  };
  if (const auto no = may_forward(from, q.target, now)) return answer(*no);
  endpoint at = peers_.at(from).remote;
  at.port = q.port;
  ++counters_.forwarded;
  out.push_back(out::send{q.target, wire::punch{from, at, q.phase, q.round}});
}

// A helper's answer that it could not pass our connect on.
void state::on_punch_answer(const node_id& from, const wire::punch_answer& a, std::vector<out::output>& out) {
  auto p = pending_.find(a.target);
  if (p == pending_.end() || !p->second.punch || static_cast<std::uint32_t>(p->second.serial) != a.round ||
      !p->second.asked.contains(from)) {
    ++counters_.unexpected;
    return;
  }
  ++(a.code == wire::reverse_code::unknown ? counters_.answers_unknown : counters_.answers_refused);
  helper_gone(a.target, from, out);
}

void state::on_punch(const node_id& helper, const wire::punch& m, bool busy, instant now,
                     std::vector<out::output>& out) {
  switch (m.phase) {
    case wire::punch_phase::connect: {
      // As target: agree (answer with where we are) or decline silently
      // (the requester's deadline ends it).
      if (!cfg_.punching || m.from == self_) {
        ++counters_.punch_declined;
        return;
      }
      if (auto a = agreed_.find(m.from); a != agreed_.end()) {
        if (a->second.round != m.round) ++counters_.punch_declined;  // one punch per peer at a time
        return;  // (the same connect through another helper: already answered)
      }
      if (busy || direct(m.from) || punching_.contains(m.from)) {  // (a relayed link may be upgraded)
        ++counters_.punch_declined;
        return;
      }
      // Both sides asked for a punch at once: the larger id's goes on, the
      // other side answers it (its own transport dial then takes the punch).
      if (auto own = pending_.find(m.from); own != pending_.end()) {
        if (own->second.punch && (own->second.synced || self_ > m.from)) {
          ++counters_.punch_declined;
          return;
        }
        pending_.erase(own);
      }
      const auto port = listen_port(peers_.at(helper).local.fam);
      if (port == 0 || !policy_.allows(m.address) || dial_load() >= cfg_.max_dials_in_flight ||
          !dial_buckets_[helper].take(now, cfg_.dial_burst, cfg_.dial_per_minute) ||
          !dial_total_.take(now, cfg_.dial_total_burst, cfg_.dial_total_per_minute)) {
        ++counters_.punch_declined;
        return;
      }
      auto& a = agreed_[m.from];
      a.serial = ++serial_;
      a.round = m.round;
      a.address = m.address;
      ++counters_.punch_agreed;
      out.push_back(out::send{helper, wire::punch_request{m.from, port, wire::punch_phase::reply, m.round}});
      out.push_back(out::schedule{cfg_.timeout, timer{m.from, a.serial, timer::kind::agreed_expires}});
      return;
    }
    case wire::punch_phase::reply: {
      // As requester: the target agreed. The round trip through the helper
      // is now measured; sync, and dial half of it later.
      auto p = pending_.find(m.from);
      if (p == pending_.end() || !p->second.punch || static_cast<std::uint32_t>(p->second.serial) != m.round ||
          !p->second.asked.contains(helper)) {
        ++counters_.unexpected;
        return;
      }
      if (p->second.synced) return;  // the same reply through another helper
      if (!policy_.allows(m.address)) {
        ++counters_.punch_declined;
        return;  // (the deadline ends the wait)
      }
      p->second.synced = true;
      p->second.address = m.address;
      ++counters_.punch_replies;
      const auto port = listen_port(peers_.at(helper).local.fam);
      out.push_back(out::send{helper, wire::punch_request{m.from, port == 0 ? std::uint16_t{1} : port,
                                                          wire::punch_phase::sync, m.round}});
      const auto half = std::min<duration>((now - p->second.sent) / 2, cfg_.max_punch_delay);
      out.push_back(out::schedule{half, timer{m.from, p->second.serial, timer::kind::punch_go}});
      return;
    }
    case wire::punch_phase::sync: {
      // As target: dial now (the requester dials half a round trip later,
      // which is when this sync's way here took).
      auto a = agreed_.find(m.from);
      if (a == agreed_.end() || a->second.round != m.round) {
        ++counters_.unexpected;
        return;
      }
      const auto address = a->second.address;
      agreed_.erase(a);
      if (busy || direct(m.from)) return;  // connected meanwhile
      punching_.insert(m.from);
      ++counters_.punch_dials;
      out.push_back(out::punch{m.from, address, cfg_.punch_window});
      return;
    }
  }
}

// ------------------------------------------------------------- relaying ---

bool state::punch_failed(const node_id& target, instant now, std::vector<out::output>& out) {
  auto p = pending_.find(target);
  if (p == pending_.end() || !p->second.punch || !p->second.dialling) return false;
  if (punching_.erase(target) != 0) ++counters_.punch_failed;
  std::erase_if(punch_failed_at_, [&](const auto& kv) { return now - kv.second >= cfg_.relay_after_punch_failure; });
  if (punch_failed_at_.size() < 1024) punch_failed_at_[target] = now;
  pending_.erase(p);
  return want(target, now, out);  // a relay now (the punch failed)
}

// As relay: agree to a circuit between `from` and a connected target, if we
// serve relays and have room.
void state::on_relay_request(const node_id& from, const wire::relay_request& q, instant now,
                             std::vector<out::output>& out) {
  const auto answer = [&](wire::reverse_code c, std::uint16_t port) {
    std::optional<endpoint> seen;
    if (c == wire::reverse_code::forwarded) seen = peers_.at(q.target).remote;
    out.push_back(out::send{from, wire::relay_answer{q.target, q.tok, c, port, seen}});
  };
  auto t = peers_.find(q.target);
  // One circuit per pair of peers: when both ask at once (each wants the
  // other), the second request is refused; its requester then gets, or has
  // got, the offer of the first, which it takes (otherwise each would dial
  // its own circuit, decline the other's offer as busy, and neither pair).
  const bool paired_already = std::any_of(circuits_.begin(), circuits_.end(), [&](const auto& kv) {
    return (kv.second.requester == from && kv.second.target == q.target) ||
           (kv.second.requester == q.target && kv.second.target == from);
  });
  if (!cfg_.relay_serve || q.target == from || circuits_.contains(q.tok) || paired_already) {
    ++counters_.circuits_refused;
    return answer(wire::reverse_code::refused, 0);
  }
  if (t == peers_.end() || !t->second.speaks) {
    ++counters_.circuits_refused;
    return answer(wire::reverse_code::unknown, 0);
  }
  const auto& req = peers_.at(from);
  const auto port_for_requester = listen_port(req.local.fam), port_for_target = listen_port(t->second.local.fam);
  if (port_for_requester == 0 || port_for_target == 0 || circuits_.size() >= cfg_.relay_max_circuits ||
      !forward_buckets_[from].take(now, cfg_.forward_burst, cfg_.forward_per_minute) ||
      !forward_total_.take(now, cfg_.forward_total_burst, cfg_.forward_total_per_minute)) {
    ++counters_.circuits_refused;
    return answer(wire::reverse_code::refused, 0);
  }
  auto& c = circuits_[q.tok];
  c.id = ++circuit_ids_;
  c.requester = from;
  c.target = q.target;
  c.requester_at = req.remote;
  c.target_at = t->second.remote;
  ++counters_.circuits_agreed;
  out.push_back(out::send{q.target, wire::relay_offer{from, q.tok, port_for_target, req.remote}});
  answer(wire::reverse_code::forwarded, port_for_requester);
  out.push_back(out::schedule{cfg_.relay_wait, timer{from, c.id, timer::kind::circuit_expires}});
}

std::optional<std::uint64_t> state::admit(const wire::token& token, const endpoint& remote) {
  auto it = circuits_.find(token);
  if (it == circuits_.end()) {
    ++counters_.circuit_ends_refused;
    return std::nullopt;
  }
  auto& c = it->second;
  const auto same_ip = [&](const endpoint& e) { return e.fam == remote.fam && e.ip == remote.ip; };
  // Each end once, and only from the IP our connection to it shows (a NAT
  // may change the port, not the address): a token seen by anyone else is
  // of no use to them.
  if (!c.requester_came && same_ip(c.requester_at)) {
    c.requester_came = true;
  } else if (!c.target_came && same_ip(c.target_at)) {
    c.target_came = true;
  } else {
    ++counters_.circuit_ends_refused;
    return std::nullopt;
  }
  c.running = c.requester_came && c.target_came;
  ++counters_.circuit_ends_admitted;
  return c.id;
}

void state::circuit_done(std::uint64_t id, std::uint64_t bytes, bool paired) {
  const auto n = std::erase_if(circuits_, [&](const auto& kv) { return kv.second.id == id; });
  if (n == 0) return;  // already forgotten (its wait expired)
  ++(paired ? counters_.circuits_done : counters_.circuits_unpaired);
  counters_.relayed_bytes += bytes;
}

// As target: a relay says `from` wants a circuit to us.
void state::on_relay_offer(const node_id& relay, const wire::relay_offer& o, bool busy, instant now,
                           std::vector<out::output>& out) {
  if (o.from == self_ || busy || peers_.contains(o.from) || relaying_.contains(o.from) || punching_.contains(o.from)) {
    ++counters_.relay_offers_declined;
    return;
  }
  endpoint at = peers_.at(relay).remote;  // the relay, where our connection to it goes
  at.port = o.port;
  if (!policy_.allows(at) || dial_load() >= cfg_.max_dials_in_flight ||
      !dial_buckets_[relay].take(now, cfg_.dial_burst, cfg_.dial_per_minute) ||
      !dial_total_.take(now, cfg_.dial_total_burst, cfg_.dial_total_per_minute)) {
    ++counters_.relay_offers_declined;
    return;
  }
  if (auto own = pending_.find(o.from); own != pending_.end() && !own->second.dialling) pending_.erase(own);
  relaying_.insert(o.from);
  relay_seen_[o.from] = o.seen;
  ++counters_.relay_offers_taken;
  ++counters_.relay_dials;
  out.push_back(out::relay{o.from, at, o.tok, cfg_.relay_wait});
}

// As requester: the relay's answer.
void state::on_relay_answer(const node_id& from, const wire::relay_answer& a, std::vector<out::output>& out) {
  auto p = pending_.find(a.target);
  if (p == pending_.end() || !p->second.relay || p->second.tok != a.tok || !p->second.asked.contains(from) ||
      p->second.dialling) {
    ++counters_.unexpected;
    return;
  }
  if (a.code != wire::reverse_code::forwarded) {
    ++(a.code == wire::reverse_code::unknown ? counters_.answers_unknown : counters_.answers_refused);
    // Another relay, while there are untried ones (up to `helpers` in all).
    if (p->second.tried.size() < cfg_.helpers) {
      std::vector<node_id> next;
      for (const auto& [id, pe] : peers_)
        if (pe.speaks && id != a.target && !p->second.tried.contains(id) && listen_port(pe.local.fam) != 0)
          next.push_back(id);
      if (!next.empty()) {
        const auto h = rng_.sample(std::move(next), 1).front();
        p->second.asked.erase(from);
        p->second.asked.insert(h);
        p->second.tried.insert(h);
        out.push_back(out::send{h, wire::relay_request{a.target, p->second.tok}});
        return;
      }
    }
    return helper_gone(a.target, from, out);
  }
  endpoint at = peers_.at(from).remote;
  at.port = a.port;
  p->second.dialling = true;
  relaying_.insert(a.target);
  if (a.seen) relay_seen_[a.target] = *a.seen;
  ++counters_.relay_agreed;
  ++counters_.relay_dials;
  out.push_back(out::relay{a.target, at, a.tok, cfg_.relay_wait});
}

}  // namespace topicswarm::nat::reversal
