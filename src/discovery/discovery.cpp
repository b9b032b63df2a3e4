#include "discovery/discovery.hpp"

#include "crypto/hash.hpp"
#include "discovery/address_codec.hpp"
#include "discovery/rtt.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace topicswarm::discovery {

static_assert(wire::limits::max_entry_bytes == peer_entry_limits::max_encoded_bytes);
static_assert(wire::limits::departure_bytes == departure_bytes);

namespace {

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

std::int64_t to_ms(duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

// Our addresses as an entry may carry them: dialable, once each, at most
// peer_entry_limits::max_addresses (the first ones: the caller orders by preference).
std::vector<endpoint> entry_addresses(const std::vector<endpoint>& in) {
  std::vector<endpoint> out;
  for (const auto& a : in) {
    if (out.size() == peer_entry_limits::max_addresses) break;
    if (encodable(a) && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  return out;
}

std::vector<topic_id> entry_topics(const std::vector<topic_id>& in) {
  std::vector<topic_id> out;
  for (const auto& t : in) {
    if (out.size() == peer_entry_limits::max_topics) break;
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  return out;
}

}  // namespace

state::state(const identity& me, setup s, config cfg, std::uint64_t seed)
    : me_(me),
      setup_(std::move(s)),
      cfg_(cfg),
      rng_(seed),
      topic_(network_topic_id(setup_.network)),
      wire_(wire_topic_id(topic_, setup_.key)),
      catalog_(wire_, me.id(), cfg.catalog),
      chain_(chain_from(setup_.network.span(), setup_.key)) {
  cfg_.page_size = std::clamp<std::size_t>(cfg_.page_size, 1, wire::limits::max_digests_per_page);
  cfg_.fetch_size = std::clamp<std::size_t>(cfg_.fetch_size, 1, wire::limits::max_fetch);
  cfg_.fetches_in_flight = std::max<std::size_t>(cfg_.fetches_in_flight, 1);
  local_.entry = peer_entry{wire_,
                            me.id(),
                            {setup_.start_ms, 0},
                            entry_addresses(setup_.addresses),
                            setup_.tags,
                            entry_topics(setup_.topics)};
}

void state::handle(in::input input, const core::clock& c, std::vector<out::output>& out) {
  if (stopped_) return;
  std::visit([&](auto& i) { on(i, c, out); }, input);
}

std::optional<rtt_estimate> state::rtt(const node_id& peer) const {
  auto it = rtt_.find(peer);
  if (it == rtt_.end()) return std::nullopt;
  return it->second;
}

std::vector<core::peer_info> state::topic_candidates(const topic_id& wire_topic,
                                                     std::optional<duration> max_rtt) const {
  std::vector<std::pair<std::int64_t, core::peer_info>> ranked;
  for (const auto& n : catalog_.peers_with_topic(wire_topic)) {
    const auto* e = catalog_.find(n);
    if (!e || e->entry.addresses.empty()) continue;
    auto r = rtt(n);
    if (max_rtt && r && r->srtt > *max_rtt) continue;
    ranked.push_back({r ? r->srtt.count() : std::numeric_limits<std::int64_t>::max(), {n, e->entry.addresses}});
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<core::peer_info> out;
  for (auto& r : ranked) out.push_back(std::move(r.second));
  return out;
}

// ------------------------------------------------------------ our entry --

bool state::resign(const core::clock& c) {
  auto e = local_.entry;
  // Monotonic within one start even if the wall clock steps back.
  e.version.update_ms = std::max<std::uint64_t>(c.unix_ms, e.version.update_ms + 1);
  auto s = sign_entry(e, me_);
  if (!s) return false;  // unreachable: the lists were bounded when set
  local_ = std::move(*s);
  return true;
}

void state::on(const in::start&, const core::clock& c, std::vector<out::output>& out) {
  if (started_) return;
  started_ = true;
  resign(c);
  schedule_announce(c, out);
  out.push_back(out::schedule{cfg_.purge_check, timers::purge{}});
  if (cfg_.ping) out.push_back(out::schedule{cfg_.ping_interval, timers::ping{}});
  if (cfg_.chain) chain_poll(c, out);
}

void state::on(const in::set_addresses& a, const core::clock& c, std::vector<out::output>& out) {
  auto addrs = entry_addresses(a.addresses);
  if (addrs == local_.entry.addresses) return;
  local_.entry.addresses = std::move(addrs);
  if (!started_) return;
  announce(c, out);
  // Our chain slot (if we hold one) names addresses we no longer have: the
  // next round finds it stale and rewrites it.
  if (cfg_.chain && !claimed_addresses_.empty() && claimed_addresses_ != local_.entry.addresses) {
    ++chain_gen_;
    out.push_back(out::schedule{duration::zero(), timers::chain_poll{chain_gen_}});
  }
}

void state::on(const in::set_tags& t, const core::clock& c, std::vector<out::output>& out) {
  if (t.tags == local_.entry.tags) return;
  auto e = local_.entry;
  e.tags = t.tags;
  // The API checks tags before they get here; a bad list is ignored whole.
  if (!sign_entry(e, me_)) return;
  local_.entry.tags = t.tags;
  if (started_) announce(c, out);
}

void state::on(const in::set_topics& t, const core::clock& c, std::vector<out::output>& out) {
  auto topics = entry_topics(t.topics);
  if (topics == local_.entry.topics) return;
  local_.entry.topics = std::move(topics);
  if (started_) announce(c, out);
}

void state::schedule_announce(const core::clock& c, std::vector<out::output>& out) {
  (void)c;
  const double j = std::clamp(cfg_.announce_jitter, 0.0, 1.0);
  const double u = static_cast<double>(rng_.below(1'000'000)) / 1'000'000.0;
  const double factor = 1.0 - j + 2.0 * j * u;
  const auto after = duration(static_cast<duration::rep>(static_cast<double>(cfg_.announce_interval.count()) * factor));
  out.push_back(
      out::schedule{std::max(after, duration(std::chrono::milliseconds(1))), timers::announce{++announce_gen_}});
}

void state::announce(const core::clock& c, std::vector<out::output>& out) {
  if (!started_ || stopped_) return;
  if (last_announce_ && c.now - *last_announce_ < cfg_.min_announce_gap) {
    // Too soon after the last one: one announce when the gap is over.
    if (!announce_pending_) {
      announce_pending_ = true;
      out.push_back(
          out::schedule{cfg_.min_announce_gap - (c.now - *last_announce_), timers::announce{++announce_gen_}});
    }
    return;
  }
  announce_pending_ = false;
  // A fresh update time: gossip drops content it has seen, so each
  // announce must differ, and its time is what the drift check compares.
  resign(c);
  out.push_back(out::broadcast{wire::encode_announce(wire::announce_entry{local_.encoded})});
  ++c_.announces_sent;
  last_announce_ = c.now;
  schedule_announce(c, out);
}

void state::on(const in::stop&, const core::clock&, std::vector<out::output>& out) {
  if (started_) {
    if (auto d = sign_departure({wire_, me_.id(), local_.entry.version}, me_)) {
      out.push_back(out::broadcast{wire::encode_announce(wire::announce_departure{std::move(*d)})});
      ++c_.departures_sent;
    }
  }
  stopped_ = true;
}

// -------------------------------------------------------- entries coming --

void state::accept(signed_entry e, entry_source src, const core::clock& c, std::vector<out::output>& out) {
  const node_id peer = e.entry.node;
  peer_entry copy = e.entry;
  auto r = catalog_.upsert(std::move(e), c.unix_ms, src);
  switch (r.result) {
    case upsert_result::added:
      ++c_.added;
      break;
    case upsert_result::updated:
      ++c_.updated;
      break;
    case upsert_result::other_network:
      ++c_.other_network;
      break;
    case upsert_result::self:
      ++c_.self;
      break;
    case upsert_result::clock_ahead:
      ++c_.clock_ahead;
      break;
    case upsert_result::clock_behind:
      ++c_.clock_behind;
      break;
    case upsert_result::outdated:
      ++c_.outdated;
      break;
    case upsert_result::not_newer:
      ++c_.not_newer;
      break;
    case upsert_result::full:
      ++c_.full;
      break;
  }
  if (r.evicted) {
    ++c_.evicted;
    departed(*r.evicted, departure_cause::evicted, out);
  }
  if (r.result == upsert_result::added) {
    out.push_back(out::peer_discovered{std::move(copy)});
    chain_healthy(peer, c, out);
  } else if (r.result == upsert_result::updated) {
    out.push_back(out::peer_updated{std::move(copy)});
    chain_healthy(peer, c, out);
  }
}

void state::departed(const node_id& peer, departure_cause cause, std::vector<out::output>& out) {
  out.push_back(out::peer_departed{peer, cause});
  // A peer that comes back is a first contact again.
  synced_.erase(peer);
  if (!neighbors_.contains(peer)) rtt_.erase(peer);
}

void state::on(const in::announce_received& a, const core::clock& c, std::vector<out::output>& out) {
  auto m = wire::decode_announce(a.content);
  if (!m) {
    ++c_.announces_malformed;
    return;
  }
  ++c_.announces_received;
  if (auto* e = std::get_if<wire::announce_entry>(&*m)) {
    auto opened = open(e->entry);
    if (!opened) {
      ++c_.entries_invalid;
      return;
    }
    accept(std::move(*opened), entry_source::announce, c, out);
    return;
  }
  auto d = open_departure(std::get<wire::announce_departure>(*m).departure);
  if (!d) {
    ++c_.entries_invalid;
    return;
  }
  switch (catalog_.depart(*d)) {
    case departure_result::departed:
      ++c_.departures_honoured;
      departed(d->node, departure_cause::graceful, out);
      break;
    case departure_result::stale:
      ++c_.departures_stale;
      break;
    case departure_result::unknown:
      ++c_.departures_unknown;
      break;
    case departure_result::other_network:
      ++c_.other_network;
      break;
  }
}

// ------------------------------------------------------------ neighbours --

void state::on(const in::neighbor& n, const core::clock& c, std::vector<out::output>& out) {
  if (n.peer == me_.id()) return;
  if (n.up) {
    if (!neighbors_.insert(n.peer).second) return;
    chain_healthy(n.peer, c, out);
    // The network hears of us as soon as we are connected to it (and of
    // our new neighbour's view of us): one announce per gap.
    announce(c, out);
    want_sync(n.peer, c, out);
    if (!cfg_.ping) return;
    const auto nonce = rng_.next();
    pings_[nonce] = {n.peer, c.now};
    out.push_back(out::send{n.peer, wire::ping{nonce}});
    out.push_back(out::schedule{cfg_.ping_timeout, timers::ping_deadline{nonce}});
    ++c_.pings_sent;
    return;
  }
  if (!neighbors_.erase(n.peer)) return;
  if (syncs_.contains(n.peer)) finish_sync(n.peer, false, c, out);
  // A neighbour that comes back is a first contact again (a partition may
  // have hidden much); what it may ask of us starts afresh, bounded by the
  // neighbours we have.
  synced_.erase(n.peer);
  budgets_.erase(n.peer);
  sync_queue_.erase(std::remove(sync_queue_.begin(), sync_queue_.end(), n.peer), sync_queue_.end());
}

void state::on(const in::unreachable& u, const core::clock& c, std::vector<out::output>& out) {
  budgets_.erase(u.peer);
  if (syncs_.contains(u.peer)) finish_sync(u.peer, false, c, out);
  auto it = round_.probing.find(u.peer);
  if (it != round_.probing.end()) {
    for (auto s : it->second) round_.unhealthy.insert(s);
    ++c_.chain_peers_unhealthy;
    round_.probing.erase(it);
    chain_slot_done(c, out);
  }
}

// ------------------------------------------------------------------ sync --

std::uint32_t state::next_req() {
  if (++req_ == 0) ++req_;
  return req_;
}

void state::want_sync(const node_id& peer, const core::clock& c, std::vector<out::output>& out) {
  if (cfg_.max_syncs == 0) return;  // sync switched off: announces only
  if (synced_.contains(peer) || syncs_.contains(peer)) return;
  if (std::find(sync_queue_.begin(), sync_queue_.end(), peer) != sync_queue_.end()) return;
  sync_queue_.push_back(peer);
  start_syncs(c, out);
}

void state::start_syncs(const core::clock& c, std::vector<out::output>& out) {
  while (syncs_.size() < cfg_.max_syncs && !sync_queue_.empty()) {
    const node_id peer = sync_queue_.front();
    sync_queue_.pop_front();
    if (!neighbors_.contains(peer) || synced_.contains(peer)) continue;
    synced_.insert(peer);
    ++c_.syncs_started;
    request_page(peer, syncs_[peer], c, out);
  }
}

bool state::pace(const node_id& peer, sync_session& s, const core::clock& c, std::vector<out::output>& out) {
  if (cfg_.pace_rate <= 0) return true;
  const double burst = static_cast<double>(std::max<std::size_t>(cfg_.pace_burst, 1));
  if (s.tokens < 0) {
    s.tokens = burst;
  } else {
    const double dt = std::chrono::duration<double>(c.now - s.tokens_at).count();
    s.tokens = std::min(burst, s.tokens + std::max(0.0, dt) * cfg_.pace_rate);
  }
  s.tokens_at = c.now;
  if (s.tokens >= 1.0) {
    s.tokens -= 1.0;
    return true;
  }
  if (!s.pace_scheduled) {
    s.pace_scheduled = true;
    const auto wait = std::chrono::duration<double>((1.0 - s.tokens) / cfg_.pace_rate);
    out.push_back(out::schedule{std::chrono::duration_cast<duration>(wait) + duration(1), timers::sync_pace{peer}});
  }
  return false;
}

void state::request_page(const node_id& peer, sync_session& s, const core::clock& c, std::vector<out::output>& out) {
  if (!pace(peer, s, c, out)) {
    s.page_wanted = true;
    return;
  }
  s.page_wanted = false;
  s.page_req = next_req();
  out.push_back(
      out::send{peer, wire::digest_request{s.page_req, wire_, s.cursor, static_cast<std::uint16_t>(cfg_.page_size)}});
  out.push_back(out::schedule{cfg_.request_timeout, timers::request_deadline{peer, s.page_req}});
}

void state::pump_fetches(const node_id& peer, sync_session& s, const core::clock& c, std::vector<out::output>& out) {
  while (s.fetches.size() < cfg_.fetches_in_flight && !s.wanted.empty()) {
    if (!pace(peer, s, c, out)) break;
    wire::fetch_request f{next_req(), {}};
    auto& asked = s.fetches[f.req];
    while (f.nodes.size() < cfg_.fetch_size && !s.wanted.empty()) {
      f.nodes.push_back(s.wanted.front());
      asked.insert(s.wanted.front());
      s.wanted.pop_front();
    }
    const auto req = f.req;
    out.push_back(out::send{peer, std::move(f)});
    out.push_back(out::schedule{cfg_.request_timeout, timers::request_deadline{peer, req}});
  }
}

void state::on_page(const node_id& peer, const wire::digest_page& p, const core::clock& c,
                    std::vector<out::output>& out) {
  auto it = syncs_.find(peer);
  if (it == syncs_.end() || it->second.page_req == 0 || p.req != it->second.page_req) {
    ++c_.responses_unexpected;
    return;
  }
  auto& s = it->second;
  s.page_req = 0;
  ++s.pages;
  ++c_.pages_received;
  // A page must continue where we asked and hold no more than we asked for
  // (the codec checked the order within it).
  if (p.items.size() > cfg_.page_size || (s.cursor && !p.items.empty() && !(p.items.front().node > *s.cursor))) {
    finish_sync(peer, false, c, out);
    return;
  }
  for (const auto& d : p.items) {
    if (d.node == me_.id()) continue;
    if (catalog_.has_at_least(d.node, {d.start_ms, d.update_ms})) continue;
    if (requested_.contains(d.node)) continue;  // another sync fetches it already
    if (requested_.size() >= catalog_.config().max_peers) break;
    s.wanted.push_back(d.node);
    requested_[d.node] = peer;
  }
  const std::size_t max_pages = catalog_.config().max_peers / cfg_.page_size + 2;
  if (p.more && !p.items.empty() && s.pages < max_pages) {
    s.cursor = p.items.back().node;
    request_page(peer, s, c, out);
  } else {
    s.pages_done = true;
  }
  pump_fetches(peer, s, c, out);
  if (s.pages_done && s.wanted.empty() && s.fetches.empty()) finish_sync(peer, true, c, out);
}

void state::on_fetched(const node_id& peer, const wire::fetch_response& r, const core::clock& c,
                       std::vector<out::output>& out) {
  auto it = syncs_.find(peer);
  if (it == syncs_.end()) {
    ++c_.responses_unexpected;
    return;
  }
  auto f = it->second.fetches.find(r.req);
  if (f == it->second.fetches.end()) {
    ++c_.responses_unexpected;
    return;
  }
  auto asked = std::move(f->second);
  it->second.fetches.erase(f);
  for (const auto& b : r.entries) {
    // Whom the entry names is at a fixed place: one we did not ask for costs
    // no signature check.
    if (b.size() >= 65) {
      const auto named = *node_id::from_span(byte_span(b).subspan(33, 32));
      if (!asked.contains(named)) {
        ++c_.entries_unasked;
        continue;
      }
    }
    auto e = open(b);
    if (!e) {
      ++c_.entries_invalid;  // dropped alone; the rest of the page goes on
      continue;
    }
    if (!asked.erase(e->entry.node)) {
      ++c_.entries_unasked;
      continue;
    }
    ++c_.entries_fetched;
    requested_.erase(e->entry.node);
    accept(std::move(*e), entry_source::sync, c, out);
  }
  for (const auto& n : asked) requested_.erase(n);  // not delivered: announces will bring them
  // accept() may have ended this session (a departure cannot, but stay safe).
  it = syncs_.find(peer);
  if (it == syncs_.end()) return;
  pump_fetches(peer, it->second, c, out);
  if (it->second.pages_done && it->second.wanted.empty() && it->second.fetches.empty()) finish_sync(peer, true, c, out);
}

void state::finish_sync(const node_id& peer, bool ok, const core::clock& c, std::vector<out::output>& out) {
  auto it = syncs_.find(peer);
  if (it == syncs_.end()) return;
  auto forget = [&](const node_id& n) {
    auto r = requested_.find(n);
    if (r != requested_.end() && r->second == peer) requested_.erase(r);
  };
  for (const auto& n : it->second.wanted) forget(n);
  for (const auto& [req, nodes] : it->second.fetches)
    for (const auto& n : nodes) forget(n);
  syncs_.erase(it);
  if (ok) {
    ++c_.syncs_completed;
  } else {
    ++c_.syncs_failed;
    synced_.erase(peer);
    // Tried again while it stays a neighbour (and at its next first contact).
    if (neighbors_.contains(peer)) out.push_back(out::schedule{cfg_.sync_retry, timers::sync_retry{peer}});
  }
  start_syncs(c, out);
}

bool state::charge(const node_id& peer, const core::clock& c) {
  auto [it, fresh] = budgets_.try_emplace(peer);
  auto& b = it->second;
  const double burst = static_cast<double>(std::max<std::size_t>(cfg_.request_burst, 1));
  if (fresh) {
    b.tokens = burst;
  } else {
    const double dt = std::chrono::duration<double>(c.now - b.at).count();
    b.tokens = std::min(burst, b.tokens + std::max(0.0, dt) * cfg_.request_rate);
  }
  b.at = c.now;
  if (b.tokens < 1.0) {
    ++c_.requests_over_budget;
    return false;
  }
  b.tokens -= 1.0;
  return true;
}

void state::serve(const node_id& peer, const wire::digest_request& r, std::vector<out::output>& out) {
  if (r.network != wire_) {
    ++c_.requests_wrong_network;
    return;
  }
  const std::size_t max = std::clamp<std::size_t>(r.max, 1, wire::limits::max_digests_per_page);
  auto page = catalog_.digests(r.after, max);
  // Our own entry is part of what we serve, in its place in id order.
  const node_id self = me_.id();
  if (started_ && (!r.after || self > *r.after)) {
    const bool beyond = page.more && !page.items.empty() && self > page.items.back().node;
    if (!beyond) {
      auto pos = std::lower_bound(page.items.begin(), page.items.end(), self,
                                  [](const digest_item& d, const node_id& n) { return d.node < n; });
      page.items.insert(pos, digest_item{self, local_.entry.version});
      if (page.items.size() > max) {
        page.items.pop_back();
        page.more = true;
      }
    }
  }
  wire::digest_page p{r.req, page.more, {}};
  p.items.reserve(page.items.size());
  for (const auto& d : page.items) p.items.push_back({d.node, d.version.start_ms, d.version.update_ms});
  ++c_.requests_served;
  out.push_back(out::send{peer, std::move(p)});
}

void state::serve(const node_id& peer, const wire::fetch_request& r, std::vector<out::output>& out) {
  wire::fetch_response resp{r.req, {}};
  std::set<node_id> done;
  for (const auto& n : r.nodes) {
    if (!done.insert(n).second) continue;
    if (n == me_.id() && started_) {
      resp.entries.push_back(local_.encoded);
    } else if (const auto* e = catalog_.find(n)) {
      resp.entries.push_back(e->encoded);
    }
  }
  ++c_.requests_served;
  out.push_back(out::send{peer, std::move(resp)});
}

void state::on(const in::frame& f, const core::clock& c, std::vector<out::output>& out) {
  std::visit(overloaded{
                 [&](const wire::digest_request& r) {
                   if (charge(f.from, c)) serve(f.from, r, out);
                 },
                 [&](const wire::fetch_request& r) {
                   if (charge(f.from, c)) serve(f.from, r, out);
                 },
                 [&](const wire::ping& p) {
                   if (charge(f.from, c)) out.push_back(out::send{f.from, wire::pong{p.nonce}});
                 },
                 [&](const wire::digest_page& p) { on_page(f.from, p, c, out); },
                 [&](const wire::fetch_response& r) { on_fetched(f.from, r, c, out); },
                 [&](const wire::pong& p) {
                   auto it = pings_.find(p.nonce);
                   if (it == pings_.end() || it->second.peer != f.from) {
                     ++c_.responses_unexpected;
                     return;
                   }
                   add_rtt_sample(rtt_[f.from],
                                  std::chrono::duration_cast<std::chrono::microseconds>(c.now - it->second.sent));
                   pings_.erase(it);
                   ++c_.pongs_received;
                   chain_healthy(f.from, c, out);
                 },
             },
             f.msg);
}

// ---------------------------------------------------------------- timers --

void state::ping_all(const core::clock& c, std::vector<out::output>& out) {
  for (const auto& n : neighbors_) {
    const auto nonce = rng_.next();
    pings_[nonce] = {n, c.now};
    out.push_back(out::send{n, wire::ping{nonce}});
    out.push_back(out::schedule{cfg_.ping_timeout, timers::ping_deadline{nonce}});
    ++c_.pings_sent;
  }
}

void state::on(const in::timer_fired& t, const core::clock& c, std::vector<out::output>& out) {
  std::visit(overloaded{
                 [&](const timers::announce& a) {
                   if (a.gen == announce_gen_) announce(c, out);
                 },
                 [&](const timers::purge&) {
                   for (const auto& n : catalog_.purge(c.unix_ms)) {
                     ++c_.purged;
                     departed(n, departure_cause::purged, out);
                   }
                   out.push_back(out::schedule{cfg_.purge_check, timers::purge{}});
                 },
                 [&](const timers::ping&) {
                   ping_all(c, out);
                   out.push_back(out::schedule{cfg_.ping_interval, timers::ping{}});
                 },
                 [&](const timers::ping_deadline& d) {
                   if (pings_.erase(d.nonce)) ++c_.ping_timeouts;
                 },
                 [&](const timers::request_deadline& d) {
                   auto it = syncs_.find(d.peer);
                   if (it == syncs_.end()) return;
                   if (it->second.page_req == d.req || it->second.fetches.contains(d.req))
                     finish_sync(d.peer, false, c, out);
                 },
                 [&](const timers::chain_poll& p) {
                   if (p.gen == chain_gen_) chain_poll(c, out);
                 },
                 [&](const timers::sync_pace& p) {
                   auto it = syncs_.find(p.peer);
                   if (it == syncs_.end()) return;
                   auto& s = it->second;
                   s.pace_scheduled = false;
                   if (s.page_wanted) request_page(p.peer, s, c, out);
                   pump_fetches(p.peer, s, c, out);
                 },
                 [&](const timers::sync_retry& r) {
                   if (neighbors_.contains(r.peer)) want_sync(r.peer, c, out);
                 },
                 [&](const timers::chain_round_deadline& d) {
                   if (d.round != round_.id || round_.done) return;
                   // Lookups still out say nothing about their slots; peers
                   // still being probed did not answer in time.
                   for (const auto& [req, es] : round_.gets)
                     if (es.first == round_.epoch) round_.unknown.insert(es.second);
                   round_.gets.clear();
                   for (const auto& [peer, slots] : round_.probing) {
                     for (auto sl : slots) round_.unhealthy.insert(sl);
                     ++c_.chain_peers_unhealthy;
                   }
                   round_.probing.clear();
                   chain_decide(c, out);
                 },
                 [&](const timers::chain_probe_deadline& d) {
                   if (d.round != round_.id) return;
                   auto it = round_.probing.find(d.peer);
                   if (it == round_.probing.end()) return;
                   for (auto s : it->second) round_.unhealthy.insert(s);
                   ++c_.chain_peers_unhealthy;
                   round_.probing.erase(it);
                   chain_slot_done(c, out);
                 },
             },
             t.t);
}

// ----------------------------------------------------------------- chain --

const chain_slot& state::slot_keys(std::int64_t epoch, unsigned slot) {
  // Keep the keys of the epochs a round reads (this one and the one before).
  while (!chain_slots_.empty() && chain_slots_.begin()->first.first < epoch - 1)
    chain_slots_.erase(chain_slots_.begin());
  auto it = chain_slots_.find({epoch, slot});
  if (it == chain_slots_.end())
    it = chain_slots_.emplace(std::pair{epoch, slot}, chain_slot_for(chain_[slot], epoch)).first;
  return it->second;
}

void state::chain_schedule(const core::clock&, std::vector<out::output>& out) {
  const duration base = alone() ? cfg_.chain_poll_alone : cfg_.chain_poll_relaxed;
  // Up to a third more, so that nodes started together spread their polls.
  const auto spread = static_cast<std::size_t>(std::max<duration::rep>(base.count() / 3, 1));
  out.push_back(
      out::schedule{base + duration(static_cast<duration::rep>(rng_.below(spread))), timers::chain_poll{++chain_gen_}});
}

void state::chain_poll(const core::clock& c, std::vector<out::output>& out) {
  if (!cfg_.chain || stopped_) return;
  // A round that has not finished by now is abandoned: its late answers
  // no longer match a request of the new round.
  round_ = chain_round{};
  round_.id = ++rounds_;
  round_.epoch = epoch_of(static_cast<std::int64_t>(c.unix_ms));
  ++c_.chain_polls;
  std::vector<std::int64_t> epochs{round_.epoch};
  // Early in an epoch its slots are still being claimed: while alone, read
  // the previous epoch too (its records name peers that were there minutes
  // ago). A node that is not alone would only count them (it dials a
  // previous epoch's contact only while alone): 16 lookups for nothing.
  const auto into_epoch = static_cast<std::int64_t>(c.unix_ms) - round_.epoch * chain_epoch_ms;
  if (alone() && into_epoch < to_ms(cfg_.chain_record_ttl)) epochs.push_back(round_.epoch - 1);
  for (const auto e : epochs)
    for (unsigned i = 0; i < chain_depth; ++i) {
      const auto& k = slot_keys(e, i);
      const auto req = ++dht_req_;
      round_.gets[req] = {e, i};
      out.push_back(out::dht_get{req, k.signer.public_key(), k.salt, cfg_.dht_timeout});
      ++c_.chain_gets;
    }
  // The next poll is scheduled when this round is decided (a round is never
  // cut short by the next one); this bounds how long that can take.
  out.push_back(out::schedule{cfg_.dht_timeout + cfg_.chain_probe_timeout + std::chrono::seconds(1),
                              timers::chain_round_deadline{round_.id}});
}

void state::on(const in::dht_got& g, const core::clock& c, std::vector<out::output>& out) {
  auto it = round_.gets.find(g.request);
  if (it == round_.gets.end()) return;  // an abandoned round
  const auto [epoch, slot] = it->second;
  round_.gets.erase(it);
  const bool current = epoch == round_.epoch;
  std::optional<chain_contact> contact;
  if (g.value) {
    auto r = open_chain_record(*g.value, g.seq, wire_, epoch, slot, slot_keys(epoch, slot));
    if (r) {
      ++c_.chain_records_valid;
      contact = std::move(*r);
    } else {
      ++c_.chain_records_invalid;
    }
  }
  if (contact) {
    on_chain_contact(slot, epoch, *contact, c, out);
  } else if (current) {
    // Nothing (or garbage) found by a finished lookup: free to claim. A
    // lookup that timed out knows nothing: the slot may hold a live member.
    if (g.value || g.complete)
      round_.empty.insert(slot);
    else
      round_.unknown.insert(slot);
  }
  chain_slot_done(c, out);
}

void state::on_chain_contact(unsigned slot, std::int64_t epoch, const chain_contact& contact, const core::clock& c,
                             std::vector<out::output>& out) {
  const bool current = epoch == round_.epoch;
  if (contact.node == me_.id()) {
    if (!current) return;
    round_.self_present = true;
    if (contact.addresses != local_.entry.addresses) round_.own_stale = slot;
    return;
  }
  if (current) round_.occupied[slot] = {contact.node, contact.timestamp_ms};
  // A member we know is alive (a fresh catalog entry, a neighbour) is
  // healthy without a dial.
  if (catalog_.contains(contact.node) || neighbors_.contains(contact.node)) {
    ++c_.chain_peers_healthy;
    return;
  }
  // Otherwise join the network through it: healthy if it becomes a
  // neighbour, answers a ping or its entry reaches us in time. A peer found
  // only in the previous epoch is dialled only while we are alone.
  if (!current && !alone()) return;
  auto [p, fresh] = round_.probing.try_emplace(contact.node);
  if (current) p->second.insert(slot);
  if (!fresh) return;
  out.push_back(out::join{{core::peer_info{contact.node, contact.addresses}}});
  out.push_back(out::schedule{cfg_.chain_probe_timeout, timers::chain_probe_deadline{contact.node, round_.id}});
  (void)c;
}

void state::chain_healthy(const node_id& peer, const core::clock& c, std::vector<out::output>& out) {
  auto it = round_.probing.find(peer);
  if (it == round_.probing.end()) return;
  round_.probing.erase(it);
  ++c_.chain_peers_healthy;
  chain_slot_done(c, out);
}

void state::chain_slot_done(const core::clock& c, std::vector<out::output>& out) {
  if (round_.done || !round_.gets.empty() || !round_.probing.empty()) return;
  chain_decide(c, out);
}

void state::chain_decide(const core::clock& c, std::vector<out::output>& out) {
  round_.done = true;
  chain_schedule(c, out);
  chain_claim(c, out);
}

void state::chain_claim(const core::clock& c, std::vector<out::output>& out) {
  if (claim_put_) return;  // one claim at a time
  std::optional<unsigned> target;
  const auto now_ms = c.unix_ms;
  if (round_.own_stale) {
    target = round_.own_stale;  // rewrite our slot with our addresses now
  } else if (!round_.self_present &&
             (!last_claim_unix_ms_ ||
              now_ms - *last_claim_unix_ms_ >= static_cast<std::uint64_t>(to_ms(cfg_.chain_record_ttl)))) {
    std::vector<unsigned> candidates(round_.empty.begin(), round_.empty.end());
    for (auto s : round_.unhealthy)
      if (!round_.empty.contains(s)) candidates.push_back(s);
    if (!candidates.empty()) target = candidates[rng_.below(candidates.size())];
  }
  if (!target || local_.entry.addresses.empty()) return;
  const auto range = epoch_range(round_.epoch);
  std::int64_t ts = std::clamp(static_cast<std::int64_t>(now_ms), range.first, range.last);
  // A put replaces a slot only with a higher seq.
  if (auto occ = round_.occupied.find(*target); occ != round_.occupied.end() && occ->second.second >= ts)
    ts = occ->second.second + 1;
  if (!range.contains(ts)) {
    ++c_.chain_claims_failed;
    return;
  }
  const auto& k = slot_keys(round_.epoch, *target);
  // The nonce: random, and bound to us and the time, so two nodes seeded
  // alike (tests) never reuse one under a slot key.
  std::array<std::byte, 16> noise{};
  for (std::size_t i = 0; i < noise.size(); i += 8) {
    const auto r = rng_.next();
    for (std::size_t j = 0; j < 8; ++j) noise[i + j] = static_cast<std::byte>(r >> (8 * j));
  }
  std::array<std::byte, 8> tsb{};
  for (std::size_t j = 0; j < 8; ++j) tsb[j] = static_cast<std::byte>(static_cast<std::uint64_t>(ts) >> (8 * j));
  const auto id = me_.id();
  const auto h = crypto::sha512({id.span(), byte_span(tsb), byte_span(noise)});
  std::array<std::byte, chain_nonce_size> nonce{};
  std::copy_n(h.begin(), nonce.size(), nonce.begin());
  const chain_contact contact{id, ts, local_.entry.addresses};
  auto value = seal_chain_record(contact, me_, wire_, round_.epoch, *target, k, nonce);
  if (!value) {
    ++c_.chain_claims_failed;
    return;
  }
  const auto req = ++dht_req_;
  claim_put_ = req;
  last_claim_unix_ms_ = now_ms;
  claimed_addresses_ = local_.entry.addresses;
  ++c_.chain_claims;
  out.push_back(out::dht_put{req, k.signer, k.salt, std::move(*value), ts, cfg_.dht_timeout});
}

void state::on(const in::dht_put_done& p, const core::clock&, std::vector<out::output>&) {
  if (!claim_put_ || p.request != *claim_put_) return;
  claim_put_.reset();
  if (!p.stored) {
    ++c_.chain_claims_failed;
    last_claim_unix_ms_.reset();  // try again next round
    claimed_addresses_.clear();
  }
}

}  // namespace topicswarm::discovery
