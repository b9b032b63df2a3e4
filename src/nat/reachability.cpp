#include "nat/reachability.hpp"

#include <algorithm>

namespace topicswarm::nat {

namespace {

bool same_ip(const endpoint& a, const endpoint& b) noexcept { return a.fam == b.fam && a.ip == b.ip; }

bool is_public(const endpoint& e) noexcept { return core::classify(e) == core::address_class::public_network; }

core::address_range range(const endpoint& e) {
  // include_local: on a LAN or loopback every helper shares one range, so
  // there a candidate needs no more than one helper anyway (its IP is ours).
  auto r = core::range_of(e, true);
  return r ? *r : core::address_range{};
}

template <class F>
void visit_in(const in::input& in, F&& f) {
  std::visit(std::forward<F>(f), in);
}

}  // namespace

std::string_view to_string(reachability r) noexcept {
  switch (r) {
    case reachability::reachable: return "public";
    case reachability::unreachable: return "private";
    case reachability::unknown: break;
  }
  return "unknown";
}

std::string_view to_string(check_state s) noexcept {
  switch (s) {
    case check_state::unchecked: return "unchecked";
    case check_state::checking: return "checking";
    case check_state::confirmed: return "confirmed";
    case check_state::failed: return "failed";
  }
  return "unchecked";
}

std::string sources_to_string(std::uint8_t s) {
  std::string out;
  const auto add = [&](const char* n) {
    if (!out.empty()) out += ',';
    out += n;
  };
  if (s & from_interface) add("interface");
  if (s & from_mapping) add("mapping");
  if (s & from_observed) add("observed");
  return out;
}

state::state(config cfg, std::uint64_t seed) : cfg_(cfg), rng_(seed), tokens_(static_cast<double>(cfg.serve_burst)) {}

void state::handle(in::input input, instant now, std::vector<out::output>& out) {
  visit_in(input, [&](auto& v) {
    using T = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<T, in::link_up>) {
      auto& p = peers_[v.peer];
      p.ends = v.ends;
      p.speaks = v.speaks;
      if (v.speaks) out.push_back(out::send{v.peer, wire::observed{v.ends.remote}});
    } else if constexpr (std::is_same_v<T, in::link_down>) {
      drop_observer(v.peer, out);
      peers_.erase(v.peer);
      // Its pending requests end as timeouts at their deadline; probes we
      // make for it finish and their answers go nowhere.
      note_change(out);
    } else if constexpr (std::is_same_v<T, in::received>) {
      on_received(v, now, out);
    } else if constexpr (std::is_same_v<T, in::malformed>) {
      ++counters_.malformed;
    } else if constexpr (std::is_same_v<T, in::probe_received>) {
      on_proof(v, now, out);
    } else if constexpr (std::is_same_v<T, in::probe_done>) {
      auto it = std::find_if(in_flight_.begin(), in_flight_.end(),
                             [&](const serving& s) { return s.requester == v.requester && s.n == v.n; });
      if (it == in_flight_.end()) return;
      in_flight_.erase(it);
      ++(v.delivered ? counters_.probes_delivered : counters_.probes_failed);
      if (peers_.contains(v.requester))
        out.push_back(out::send{v.requester, wire::dialback_result{v.n, v.delivered ? wire::dialback_code::delivered
                                                                                      : wire::dialback_code::failed}});
    } else if constexpr (std::is_same_v<T, in::local_addresses>) {
      on_local(v, now, out);
    } else if constexpr (std::is_same_v<T, in::mapping>) {
      if (v.gone) {
        if (auto it = candidates_.find(v.external); it != candidates_.end()) {
          it->second.sources &= static_cast<std::uint8_t>(~from_mapping);
          remove_if_sourceless(v.external, out);
        }
      } else if (add_candidate(v.external, from_mapping, out)) {
        schedule_start(now, out);
      }
      note_change(out);
    } else if constexpr (std::is_same_v<T, in::timer_fired>) {
      on_timer(v.t, now, out);
    }
  });
}

// ------------------------------------------------------------ received ---

void state::on_received(const in::received& r, instant now, std::vector<out::output>& out) {
  auto p = peers_.find(r.peer);
  if (p == peers_.end()) return;  // no link (a frame racing its close)
  p->second.ends = r.ends;
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, wire::observed>) {
          on_observed(r.peer, r.ends, m.address, now, out);
        } else if constexpr (std::is_same_v<T, wire::dialback_request>) {
          on_request(r.peer, r.ends, m, now, out);
        } else if constexpr (std::is_same_v<T, wire::dialback_result>) {
          on_result(r.peer, m, now, out);
        } else if constexpr (std::is_same_v<T, wire::dialback_proof>) {
          ++counters_.malformed;  // a proof belongs on a probe connection
        }  // reversal messages go to the reversal core
      },
      r.msg);
}

std::string_view to_string(nat_mapping m) noexcept {
  switch (m) {
    case nat_mapping::none: return "none";
    case nat_mapping::endpoint_independent: return "endpoint-independent";
    case nat_mapping::endpoint_dependent: return "endpoint-dependent";
    case nat_mapping::unknown: break;
  }
  return "unknown";
}

nat_mapping state::mapping() const {
  // One observation per address range of the observers: many peers in one
  // range (or one liar with many ids there) count once.
  std::map<core::address_range, endpoint> seen;
  for (const auto& [id, p] : peers_) {
    if (!p.mapped) continue;
    if (auto r = core::range_of(p.ends.remote, true)) seen.try_emplace(*r, *p.mapped);
  }
  if (seen.size() < 2) return nat_mapping::unknown;
  const endpoint& first = seen.begin()->second;
  bool same_ip = true, same_port = true;
  for (const auto& [r, e] : seen) {
    if (e.fam != first.fam || e.ip != first.ip) same_ip = false;
    else if (e.port != first.port) same_port = false;
  }
  if (!same_port) return nat_mapping::endpoint_dependent;  // one public IP, another port per destination
  if (!same_ip) return nat_mapping::unknown;               // several public IPs (a pool, or several families)
  const bool ours = std::any_of(local_.begin(), local_.end(), [&](const endpoint& l) {
    return l.fam == first.fam && l.ip == first.ip;
  });
  if (ours) return nat_mapping::none;
  return nat_mapping::endpoint_independent;
}

void state::on_observed(const node_id& peer, const link_ends& ends, const endpoint& seen, instant now,
                        std::vector<out::output>& out) {
  ++counters_.observations;
  if (seen.fam != ends.local.fam) {
    ++counters_.malformed;  // our connection has one family; an address of the other is no observation of it
    return;
  }
  // The port others could dial: the observed one when this connection uses
  // our listen port (they dialled us, or we dialled from it: a NAT that keeps
  // one external port per local port shows that port to everyone), else
  // our listen port at the observed IP (a NAT that keeps ports, or a mapping).
  auto listen = std::find_if(listen_.begin(), listen_.end(), [&](const endpoint& l) { return l.fam == seen.fam; });
  if (listen == listen_.end()) return;
  endpoint cand = seen;
  if (ends.local.port != listen->port) cand.port = listen->port;

  auto& p = peers_[peer];
  if (ends.local.port == listen->port) {
    p.mapped = seen;
  } else {
    p.mapped.reset();
  }
  if (p.candidate == cand) {
    schedule_start(now, out);  // a recheck may be due
    return;
  }
  drop_observer(peer, out);
  if (!add_candidate(cand, from_observed, out)) return;
  p.candidate = cand;
  candidates_[cand].observers.insert(peer);
  schedule_start(now, out);
  note_change(out);
}

void state::on_request(const node_id& peer, const link_ends& ends, const wire::dialback_request& q, instant now,
                       std::vector<out::output>& out) {
  auto& p = peers_[peer];
  const auto refuse = [&] {
    ++counters_.requests_refused;
    out.push_back(out::send{peer, wire::dialback_result{q.n, wire::dialback_code::refused}});
  };
  // Only the requester's own address as our connection sees it: never a
  // third party's.
  endpoint target = ends.remote;
  target.port = q.port;
  if (!policy_.allows(target)) return refuse();
  if (p.last_served && now - *p.last_served < cfg_.serve_interval) return refuse();
  if (in_flight_.size() >= cfg_.max_probes_in_flight) return refuse();
  if (std::any_of(in_flight_.begin(), in_flight_.end(), [&](const serving& s) { return s.requester == peer; }))
    return refuse();
  if (!serve_token(now)) return refuse();
  p.last_served = now;
  ++counters_.requests_served;
  in_flight_.push_back(serving{peer, q.n});
  out.push_back(out::probe{peer, target, q.n});
}

bool state::serve_token(instant now) {
  if (tokens_at_) {
    const double minutes = std::chrono::duration<double>(now - *tokens_at_).count() / 60.0;
    tokens_ = std::min(static_cast<double>(cfg_.serve_burst), tokens_ + minutes * static_cast<double>(cfg_.serve_per_minute));
  }
  tokens_at_ = now;
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

void state::on_result(const node_id& peer, const wire::dialback_result& r, instant now, std::vector<out::output>& out) {
  auto it = requests_.find(r.n);
  if (it == requests_.end() || it->second.helper != peer || it->second.answered) return;
  auto& q = it->second;
  if (r.code == wire::dialback_code::delivered) return;  // its proof is (or was) on the way
  q.answered = true;
  auto c = candidates_.find(q.candidate);
  if (c == candidates_.end() || c->second.round != q.round) return;
  if (r.code == wire::dialback_code::refused) {
    ++counters_.results_refused;
  } else {
    ++counters_.results_failed;
    ++c->second.failures;
  }
  settle(q.candidate, false, now, out);
}

void state::on_proof(const in::probe_received& p, instant now, std::vector<out::output>& out) {
  const auto* proof = std::get_if<wire::dialback_proof>(&p.msg);
  if (!proof) {
    ++counters_.malformed;
    return;
  }
  auto it = requests_.find(proof->n);
  if (it == requests_.end() || it->second.helper != p.from || it->second.answered) {
    ++counters_.proofs_unexpected;
    return;
  }
  auto& q = it->second;
  q.answered = true;
  ++counters_.proofs_accepted;
  auto c = candidates_.find(q.candidate);
  if (c == candidates_.end() || c->second.round != q.round) return;
  c->second.confirmed_ranges.insert(q.helper_range);
  settle(q.candidate, false, now, out);
}

// -------------------------------------------------------------- local ---

void state::on_local(const in::local_addresses& l, instant now, std::vector<out::output>& out) {
  listen_ = l.listen;
  local_.clear();
  std::vector<endpoint> pub;
  for (const auto& a : l.addresses) {
    if (std::find(local_.begin(), local_.end(), a) == local_.end()) local_.push_back(a);
    if (is_public(a)) pub.push_back(a);
  }
  std::vector<endpoint> gone;
  for (auto& [e, c] : candidates_)
    if ((c.sources & from_interface) && std::find(pub.begin(), pub.end(), e) == pub.end()) gone.push_back(e);
  for (const auto& e : gone) {
    candidates_[e].sources &= static_cast<std::uint8_t>(~from_interface);
    remove_if_sourceless(e, out);
  }
  bool added = false;
  for (const auto& e : pub) added = add_candidate(e, from_interface, out) || added;
  if (added) schedule_start(now, out);
  note_change(out);
}

// ---------------------------------------------------------- candidates ---

bool state::add_candidate(const endpoint& e, std::uint8_t src, std::vector<out::output>& out) {
  if (auto it = candidates_.find(e); it != candidates_.end()) {
    it->second.sources |= src;
    return true;
  }
  if (candidates_.size() >= cfg_.max_candidates) {
    // Room only by evicting the least observed candidate that has no other
    // source and is not confirmed, and only if one peer or none claims it
    // (one liar per slot at most; a real address is seen by many).
    auto victim = candidates_.end();
    for (auto it = candidates_.begin(); it != candidates_.end(); ++it) {
      const auto& c = it->second;
      if (c.sources != from_observed || c.st == check_state::confirmed) continue;
      if (victim == candidates_.end() || c.observers.size() < victim->second.observers.size()) victim = it;
    }
    if (victim == candidates_.end() || victim->second.observers.size() > 1) return false;
    for (const auto& id : victim->second.observers)
      if (auto p = peers_.find(id); p != peers_.end()) p->second.candidate.reset();
    candidates_.erase(victim);
    ++counters_.candidates_evicted;
  }
  candidates_[e].sources = src;
  (void)out;
  return true;
}

void state::drop_observer(const node_id& peer, std::vector<out::output>& out) {
  auto p = peers_.find(peer);
  if (p == peers_.end() || !p->second.candidate) return;
  const endpoint e = *p->second.candidate;
  p->second.candidate.reset();
  auto c = candidates_.find(e);
  if (c == candidates_.end()) return;
  c->second.observers.erase(peer);
  if (c->second.observers.empty()) {
    c->second.sources &= static_cast<std::uint8_t>(~from_observed);
    remove_if_sourceless(e, out);
  }
}

void state::remove_if_sourceless(const endpoint& e, std::vector<out::output>& out) {
  auto c = candidates_.find(e);
  if (c == candidates_.end() || c->second.sources != 0) return;
  candidates_.erase(c);
  // Requests for it stay until their deadline; answers then find no candidate.
  note_change(out);
}

std::size_t state::needed(const endpoint& e, const candidate& c) const {
  // An address we hold ourselves (an interface, our gateway's mapping) is
  // not a stranger's claim: one helper reaching it shows it is open.
  const bool ours = (c.sources & (from_interface | from_mapping)) != 0 ||
                    std::any_of(local_.begin(), local_.end(), [&](const endpoint& l) { return same_ip(l, e); });
  return ours ? 1 : std::max<std::size_t>(1, cfg_.confirmations_needed);
}

// -------------------------------------------------------------- checks ---

void state::schedule_start(instant now, std::vector<out::output>& out) {
  (void)now;
  if (start_scheduled_) return;
  start_scheduled_ = true;
  out.push_back(out::schedule{cfg_.check_delay, timer{timer::kind::start_checks, {}, 0}});
}

void state::start_check(const endpoint& e, instant now, std::vector<out::output>& out) {
  auto it = candidates_.find(e);
  if (it == candidates_.end()) return;
  auto& c = it->second;
  const bool fresh = !c.in_round && !c.paused;
  const bool resumed = c.paused;
  if (fresh) {
    ++c.round;
    c.confirmed_ranges.clear();
    c.asked.clear();
    c.failures = 0;
  }
  c.in_round = true;
  c.paused = false;
  // Helpers: connected peers that speak nat and saw us at this IP (they
  // will dial only the IP they see), not asked yet this round, each from
  // an address range no chosen or confirming helper has.
  std::set<core::address_range> ranges = c.confirmed_ranges;
  for (const auto& [n, q] : requests_)
    if (q.candidate == e && q.round == c.round && !q.answered) ranges.insert(q.helper_range);
  std::vector<node_id> eligible;
  for (const auto& [id, p] : peers_) {
    if (!p.speaks || c.asked.contains(id)) continue;
    const bool saw_ip = (p.candidate && same_ip(*p.candidate, e));
    if (!saw_ip) continue;
    eligible.push_back(id);
  }
  eligible = rng_.sample(std::move(eligible), eligible.size());  // a random order
  std::size_t want = cfg_.helpers_per_check;
  for (const auto& [n, q] : requests_)
    if (q.candidate == e && q.round == c.round && !q.answered && want > 0) --want;
  std::size_t sent = 0;
  for (const auto& id : eligible) {
    if (sent >= want) break;
    const auto r = range(peers_[id].ends.remote);
    if (ranges.contains(r)) continue;
    ranges.insert(r);
    nonce n{};
    for (std::size_t i = 0; i < n.size(); i += 8) {
      const auto v = rng_.next();
      for (std::size_t b = 0; b < 8; ++b) n[i + b] = static_cast<std::byte>(v >> (8 * b));
    }
    requests_[n] = request{id, e, c.round, r, false, now};
    c.asked.insert(id);
    out.push_back(out::send{id, wire::dialback_request{n, e.port}});
    ++counters_.requests_sent;
    ++sent;
  }
  if (sent == 0) {
    // Nobody (else) to ask: the candidate stays as it was.
    if (fresh) {
      --c.round;
      c.in_round = false;
    } else if (resumed) {
      c.in_round = false;
      c.paused = true;
    }
    return;
  }
  if (fresh) {
    ++counters_.checks_started;
    if (c.st != check_state::confirmed) c.st = check_state::checking;
  }
  out.push_back(out::schedule{cfg_.check_timeout, timer{timer::kind::check_deadline, e, c.round}});
  note_change(out);
}

void state::settle(endpoint e, bool deadline, instant now, std::vector<out::output>& out) {
  auto it = candidates_.find(e);
  if (it == candidates_.end()) return;
  auto& c = it->second;
  std::size_t pending = 0;
  for (auto r = requests_.begin(); r != requests_.end();) {
    if (r->second.candidate == e && r->second.round == c.round && !r->second.answered) {
      if (deadline && now - r->second.sent >= cfg_.check_timeout) {
        ++counters_.check_timeouts;
        ++c.failures;
        r = requests_.erase(r);
        continue;
      }
      ++pending;
    }
    ++r;
  }
  const auto finish = [&](check_state st, duration next) {
    c.st = st;
    c.in_round = false;
    c.paused = false;
    c.next_check = now + next;
    for (auto r = requests_.begin(); r != requests_.end();)
      r = (r->second.candidate == e && r->second.round == c.round) ? requests_.erase(r) : std::next(r);
    note_change(out);
  };
  if (c.confirmed_ranges.size() >= needed(e, c)) {
    ++counters_.confirmations;
    c.last_confirmations = c.confirmed_ranges.size();
    return finish(check_state::confirmed, cfg_.recheck_interval);
  }
  if (pending > 0) return;
  // Every helper asked has answered (or timed out) and there are not enough
  // proofs: ask more, if there are others.
  const auto asked_before = c.asked.size();
  start_check(e, now, out);
  if (c.asked.size() > asked_before) return;
  if (c.confirmed_ranges.empty() && c.failures > 0) {
    ++counters_.failures;
    return finish(check_state::failed, cfg_.retry_after);
  }
  // Some proofs, too few independent helpers (or only refusals): the round
  // waits for another helper (or, at retry_after, starts over).
  c.in_round = false;
  c.paused = true;
  c.next_check = now + cfg_.retry_after;
  if (c.st == check_state::checking) c.st = check_state::unchecked;
  note_change(out);
}

void state::on_timer(const timer& t, instant now, std::vector<out::output>& out) {
  switch (t.k) {
    case timer::kind::start_checks: {
      start_scheduled_ = false;
      // New candidates, paused rounds (another helper may have come), and
      // rounds due again.
      std::vector<endpoint> todo;
      for (const auto& [e, c] : candidates_)
        if (!c.in_round && (c.round == 0 || c.paused || now >= c.next_check)) todo.push_back(e);
      for (const auto& e : todo) {
        auto& c = candidates_[e];
        if (c.paused && now >= c.next_check) c.paused = false;  // start over
        start_check(e, now, out);
      }
      break;
    }
    case timer::kind::check_deadline: {
      auto it = candidates_.find(t.candidate);
      if (it == candidates_.end() || it->second.round != t.round || !it->second.in_round) break;
      settle(t.candidate, true, now, out);
      break;
    }
  }
}

bool state::timer_applies(const timer& t) const {
  if (t.k == timer::kind::start_checks) return true;
  auto it = candidates_.find(t.candidate);
  return it != candidates_.end() && it->second.round == t.round && it->second.in_round;
}

// -------------------------------------------------------------- status ---

reachability state::status() const {
  // Public addresses decide when there are any: a node behind a NAT whose
  // LAN neighbours confirmed its private address is still private to the
  // rest. Only a node with no public candidate at all (a LAN, a loopback
  // testnet) is judged by its local ones.
  bool any_public = false;
  for (const auto& [e, c] : candidates_) any_public = any_public || is_public(e);
  bool any = false, all_failed = true;
  for (const auto& [e, c] : candidates_) {
    if (any_public && !is_public(e)) continue;
    if (c.st == check_state::confirmed) return reachability::reachable;
    any = true;
    if (c.st != check_state::failed) all_failed = false;
  }
  return any && all_failed ? reachability::unreachable : reachability::unknown;
}

std::vector<endpoint> state::confirmed() const {
  std::vector<endpoint> out;
  for (const auto& [e, c] : candidates_)
    if (c.st == check_state::confirmed) out.push_back(e);
  return out;
}

std::vector<endpoint> state::advertised() const {
  std::vector<endpoint> out;
  const auto add = [&](const endpoint& e) {
    if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
  };
  for (const auto& [e, c] : candidates_)
    if (c.st == check_state::confirmed) add(e);
  for (const auto& e : local_) {
    if (!is_public(e)) {
      add(e);
      continue;
    }
    auto c = candidates_.find(e);
    if (c == candidates_.end() || c->second.st != check_state::failed) add(e);
  }
  return out;
}

std::vector<candidate_status> state::candidates() const {
  std::vector<candidate_status> out;
  for (const auto& [e, c] : candidates_) {
    candidate_status s;
    s.address = e;
    s.sources = c.sources;
    s.state = c.st;
    s.observers = c.observers.size();
    s.confirmations = c.st == check_state::confirmed ? std::max(c.last_confirmations, c.confirmed_ranges.size())
                                                     : c.confirmed_ranges.size();
    s.failures = c.failures;
    out.push_back(s);
  }
  return out;
}

void state::note_change(std::vector<out::output>& out) {
  const auto s = status();
  auto a = advertised();
  if (s == last_status_ && a == last_advertised_) return;
  last_status_ = s;
  last_advertised_ = std::move(a);
  out.push_back(out::changed{});
}

}  // namespace topicswarm::nat
