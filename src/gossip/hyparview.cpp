#include "gossip/hyparview.hpp"

#include "core/address_policy.hpp"

#include <algorithm>

namespace topicswarm::gossip {
namespace {

template <class V>
auto find_id(V& v, const node_id& id) {
  return std::find_if(v.begin(), v.end(), [&](const peer_info& p) { return p.id == id; });
}

std::vector<endpoint> capped(const std::vector<endpoint>& a) {
  if (a.size() <= limits::max_addresses) return a;
  return {a.begin(), a.begin() + limits::max_addresses};
}

peer_info capped(const peer_info& p) { return {p.id, capped(p.addresses)}; }

}  // namespace

std::vector<endpoint> hyparview::cap_addresses(const std::vector<endpoint>& a) { return capped(a); }

namespace {

std::uint8_t clamp_ttl(std::uint8_t ttl) { return std::min(ttl, limits::max_ttl); }

}  // namespace

hyparview::hyparview(const peer_info& me, const membership_config& cfg, core::rng& random, std::uint64_t attempt_base,
                     std::shared_ptr<const peer_sources> sources)
    : me_(capped(me)), cfg_(cfg), rng_(random), sources_(std::move(sources)), next_attempt_(attempt_base) {}

bool hyparview::active_range_full(const node_id& id) const {
  if (!sources_) return false;
  auto range = [&](const node_id& p) -> std::optional<core::address_range> {
    auto it = sources_->find(p);
    if (it == sources_->end()) return std::nullopt;
    return core::range_of(it->second, cfg_.limit_local_ranges);
  };
  const auto mine = range(id);
  if (!mine) return false;
  std::size_t same = 0;
  for (const auto& a : active_)
    if (a.id != id && range(a.id) == mine) ++same;
  return same >= cfg_.max_active_per_range;
}

bool hyparview::passive_range_full(const std::vector<endpoint>& addresses) const {
  if (addresses.empty()) return false;
  const auto mine = core::range_of(addresses.front(), cfg_.limit_local_ranges);
  if (!mine) return false;
  std::size_t same = 0;
  for (const auto& p : passive_)
    if (!p.addresses.empty() && core::range_of(p.addresses.front(), cfg_.limit_local_ranges) == mine) ++same;
  return same >= cfg_.max_passive_per_range;
}

void hyparview::start(instant now, std::vector<out::output>& out) {
  next_shuffle_at_ = now + cfg_.shuffle_interval;
  out.push_back(out::schedule{cfg_.shuffle_interval, timers::shuffle{}});
  arm_refill(out);
}

// ------------------------------------------------------------------ queries --

bool hyparview::is_active(const node_id& id) const { return find_id(active_, id) != active_.end(); }
bool hyparview::is_passive(const node_id& id) const { return find_id(passive_, id) != passive_.end(); }

std::vector<node_id> hyparview::active_ids() const {
  std::vector<node_id> ids;
  for (const auto& p : active_) ids.push_back(p.id);
  return ids;
}

std::vector<node_id> hyparview::passive_ids() const {
  std::vector<node_id> ids;
  for (const auto& p : passive_) ids.push_back(p.id);
  return ids;
}

// Walks (forward_join, shuffle) travel over active links. One may also come
// from a peer we just moved to the passive view (we dropped it to make room,
// and its walk crossed our disconnect) or are asking to be our neighbour;
// anyone else is a stranger whose walk is refused.
bool hyparview::walk_sender(const node_id& id) const { return is_active(id) || is_pending(id) || is_passive(id); }

// A node asks at most this many peers at once: it bounds the state a burst of
// forward_join walks ending here can create.
std::size_t hyparview::max_pending() const noexcept { return 2 * cfg_.active_view_capacity + 2; }

// Answers to walks from non-neighbours per shuffle period. Each node starts
// about one walk per period (more while it refills), and walks end at random
// nodes, so an honest overlay stays far below this; it bounds the dials a
// flood of walks (from an insider) can cause.
std::size_t hyparview::max_temporary_replies() const noexcept { return 2 * cfg_.active_view_capacity + 2; }

// ------------------------------------------------------------ view changes --

void hyparview::send(const node_id& to, wire::message msg, std::vector<out::output>& out) {
  ++c_.messages_sent;
  out.push_back(out::send{to, std::move(msg)});
}

void hyparview::drop_if_unused(const node_id& id, std::vector<out::output>& out) {
  if (!uses(id)) out.push_back(out::drop_peer{id});
}

bool hyparview::learn(peer_info& stored, const std::vector<endpoint>& addresses, std::vector<out::output>& out,
                      bool first_hand) {
  if (addresses.empty()) return false;
  auto a = capped(addresses);
  const bool changed = a != stored.addresses;
  // Unchanged addresses are announced again only when the peer itself now
  // confirms what we had heard from others: the shell keeps provenance.
  if (!changed && !(first_hand && !first_hand_.contains(stored.id))) return false;
  stored.addresses = std::move(a);
  if (first_hand)
    note_first_hand(stored.id);
  else
    first_hand_.erase(stored.id);
  out.push_back(out::peer_data{stored, first_hand});
  return true;
}

void hyparview::note_first_hand(const node_id& id) {
  first_hand_.insert(id);
  // Bounded by the views: forget peers we no longer keep.
  if (first_hand_.size() > cfg_.active_view_capacity + cfg_.passive_view_capacity + max_pending())
    std::erase_if(first_hand_, [&](const node_id& k) { return !is_active(k) && !is_passive(k) && !is_pending(k); });
}

void hyparview::add_active(const peer_info& info, std::vector<out::output>& out, bool first_hand) {
  if (info.id == me_.id || is_active(info.id) || cfg_.active_view_capacity == 0) return;
  // Checked before anyone is evicted: a peer over the range rule changes nothing.
  if (active_range_full(info.id)) {
    ++c_.active_range_refusals;
    return;
  }
  // "A node that receives a join request will start by adding the new node to
  // its active view, even if it has to drop a random node from it" (§4.2): the
  // dropped node hears a disconnect and keeps us in its passive view.
  while (active_.size() >= cfg_.active_view_capacity) {
    node_id victim = active_[rng_.below(active_.size())].id;
    send(victim, wire::disconnect{true}, out);
    remove_active(victim, true, out);
  }
  peer_info entry{info.id, {}};
  if (auto it = find_id(passive_, info.id); it != passive_.end()) {
    entry = *it;
    passive_.erase(it);
  }
  learn(entry, info.addresses, out, first_hand);
  active_.push_back(std::move(entry));
  ++c_.neighbor_up;
  out.push_back(out::neighbor_up{info.id});
}

bool hyparview::remove_active(const node_id& id, bool alive, std::vector<out::output>& out) {
  auto it = find_id(active_, id);
  if (it == active_.end()) return false;
  peer_info info = std::move(*it);
  active_.erase(it);
  if (active_.empty()) tried_.clear();  // isolated: everyone is worth a high-priority try
  refill_delay_ = duration{};          // a loss: refill quickly again
  if (alive) remember(info);
  ++c_.neighbor_down;
  out.push_back(out::neighbor_down{id});
  if (alive) {
    add_passive(info, out);
  } else {
    remove_passive(id);  // kept in recent_ unless it said it left (on_disconnect)
  }
  drop_if_unused(id, out);
  arm_refill(out);
  return true;
}

bool hyparview::add_passive(const peer_info& info, std::vector<out::output>& out,
                            const std::vector<node_id>* prefer_evict, bool first_hand) {
  if (info.id == me_.id || is_active(info.id) || cfg_.passive_view_capacity == 0) return false;
  if (auto it = find_id(passive_, info.id); it != passive_.end()) return learn(*it, info.addresses, out, first_hand);
  if (passive_range_full(info.addresses)) {
    ++c_.passive_range_refusals;
    return false;
  }
  if (passive_.size() >= cfg_.passive_view_capacity) {
    std::size_t victim = passive_.size();
    if (prefer_evict && !prefer_evict->empty()) {
      std::vector<std::size_t> preferred;
      for (std::size_t i = 0; i < passive_.size(); ++i)
        if (std::find(prefer_evict->begin(), prefer_evict->end(), passive_[i].id) != prefer_evict->end())
          preferred.push_back(i);
      if (!preferred.empty()) victim = preferred[rng_.below(preferred.size())];
    }
    if (victim == passive_.size()) victim = rng_.below(passive_.size());
    remember(passive_[victim]);
    passive_.erase(passive_.begin() + static_cast<std::ptrdiff_t>(victim));
  }
  peer_info entry{info.id, {}};
  const bool announced = learn(entry, info.addresses, out, first_hand);
  passive_.push_back(std::move(entry));
  return announced;
}

void hyparview::remember(const peer_info& info) {
  if (info.id == me_.id) return;
  if (auto it = find_id(recent_, info.id); it != recent_.end()) recent_.erase(it);
  recent_.push_back(capped(info));
  const std::size_t cap = cfg_.passive_view_capacity + cfg_.active_view_capacity + 1;
  while (recent_.size() > cap) recent_.pop_front();
}

void hyparview::forget(const node_id& id) {
  if (auto it = find_id(recent_, id); it != recent_.end()) recent_.erase(it);
}

void hyparview::remove_passive(const node_id& id) {
  if (auto it = find_id(passive_, id); it != passive_.end()) passive_.erase(it);
}

// ----------------------------------------------------------------- requests --

void hyparview::request(const peer_info& info, priority prio, request_kind kind, std::vector<out::output>& out) {
  if (info.id == me_.id || is_active(info.id) || is_pending(info.id) || pending_.size() >= max_pending()) return;
  const std::uint64_t attempt = ++next_attempt_;
  pending_[info.id] = pending_request{capped(info), attempt, kind};
  // The end of a forward_join walk asks a joiner it usually never heard of:
  // the shell can dial it only at the addresses the walk carried, so they go
  // to its address book first (HyParView §4.2: the node "adds the new node
  // to its active view", which needs a connection to it).
  if (kind == request_kind::forward_join) out.push_back(out::peer_data{capped(info)});
  if (kind == request_kind::join) {
    awaiting_shuffle_reply_ = true;  // the contact answers with a list of peers
    send(info.id, wire::join{me_.addresses}, out);
  }
  else
    send(info.id, wire::neighbor{prio, me_.addresses}, out);
  out.push_back(out::schedule{cfg_.neighbor_request_timeout, timers::neighbor_request{info.id, attempt}});
}

void hyparview::send_join(const peer_info& info, std::vector<out::output>& out) {
  request(info, priority::high, request_kind::join, out);
}

void hyparview::maintain(std::vector<out::output>& out, const node_id* exclude, bool tick) {
  const bool urgent = tick && active_.size() == 1;
  const auto join_pending = [&] {
    return std::any_of(pending_.begin(), pending_.end(),
                       [](const auto& kv) { return kv.second.kind == request_kind::join; });
  };
  if (active_.empty()) {
    if (join_pending()) return;  // wait for the join to be answered
    // Isolated: a join (which also spreads us through forward_join walks)
    // beats a lone neighbour request; try the next fallback contact first.
    while (!join_candidates_.empty()) {
      peer_info c = std::move(join_candidates_.front());
      join_candidates_.pop_front();
      if (c.id == me_.id || is_active(c.id) || is_pending(c.id)) continue;
      if (exclude && c.id == *exclude) continue;
      send_join(c, out);
      return;
    }
  }
  while (active_.size() + pending_.size() < cfg_.active_view_capacity && pending_.size() < max_pending()) {
    // While isolated, one high-priority request at a time: each one forces the
    // receiver to accept (possibly evicting a neighbour), so do not fire many.
    if (active_.empty() && !pending_.empty()) break;
    // An isolated node falls back to the excluded peer (the one that just
    // dropped us) rather than stay alone: its high-priority request cannot be
    // refused. (The tried set was reset when it became isolated, since
    // refusals of earlier low-priority requests say nothing about that.)
    const bool isolated = active_.empty();
    std::vector<std::size_t> candidates, fallback;
    for (std::size_t i = 0; i < passive_.size(); ++i) {
      const node_id& id = passive_[i].id;
      if (is_pending(id) || tried_.count(id)) continue;
      (exclude && id == *exclude ? fallback : candidates).push_back(i);
    }
    if (candidates.empty() && isolated) candidates = fallback;
    if (candidates.empty()) {
      // Isolated with no passive candidate left: retry peers we knew
      // (dropped alive, evicted from the passive view, former contacts),
      // oldest first, cycling, one per call.
      if (!isolated || !tick) break;
      bool sent = false;
      for (std::size_t n = recent_.size(); n > 0 && !sent; --n) {
        peer_info r = recent_.front();
        recent_.pop_front();
        recent_.push_back(r);
        if (r.id == me_.id || is_active(r.id) || is_pending(r.id)) continue;
        request(r, priority::high, request_kind::refill, out);
        sent = is_pending(r.id);
      }
      break;
    }
    const peer_info c = passive_[candidates[rng_.below(candidates.size())]];
    tried_.insert(c.id);
    // HyParView §4.3: high priority when we have no neighbour at all (the
    // receiver must accept), low otherwise (accepted only if it has room).
    // `urgent` (the refill tick of a node with a single neighbour, which may
    // be a two-node island) also asks with high priority, once per tick.
    const std::size_t before = pending_.size();
    const bool high = active_.empty() || urgent;
    request(c, high ? priority::high : priority::low, request_kind::refill, out);
    if (pending_.size() == before) break;  // not sent (bound reached): never spin
    if (urgent) break;
  }
  arm_refill(out);
  // The tried set only ever names passive peers; keep it from outgrowing them.
  if (tried_.size() > 2 * cfg_.passive_view_capacity + 8) tried_.clear();
}

// ------------------------------------------------------------------ inputs --

void hyparview::join(const std::vector<peer_info>& peers, std::vector<out::output>& out) {
  const std::size_t max_candidates = cfg_.passive_view_capacity + cfg_.active_view_capacity;
  for (const auto& p : peers) {
    if (p.id == me_.id || is_active(p.id)) continue;
    const peer_info info = capped(p);
    remember(info);
    add_passive(info, out);
    if (find_id(join_candidates_, info.id) == join_candidates_.end()) join_candidates_.push_back(info);
    while (join_candidates_.size() > max_candidates) join_candidates_.pop_front();
  }
  // One join at a time: every join makes the contact fan out ARWL walks that
  // end in high-priority neighbour requests to us, so joining several
  // contacts at once would only churn our (and their) active views.
  for (const auto& kv : pending_)
    if (kv.second.kind == request_kind::join) return;
  while (!join_candidates_.empty()) {
    peer_info c = std::move(join_candidates_.front());
    join_candidates_.pop_front();
    if (is_active(c.id) || is_pending(c.id)) continue;
    send_join(c, out);
    return;
  }
}

void hyparview::on_message(const node_id& from, const wire::message& msg, std::vector<out::output>& out) {
  if (auto* m = std::get_if<wire::join>(&msg)) return on_join(from, *m, out);
  if (auto* m = std::get_if<wire::forward_join>(&msg)) return on_forward_join(from, *m, out);
  if (auto* m = std::get_if<wire::neighbor>(&msg)) return on_neighbor(from, *m, out);
  if (auto* m = std::get_if<wire::neighbor_reply>(&msg)) return on_neighbor_reply(from, *m, out);
  if (auto* m = std::get_if<wire::disconnect>(&msg)) return on_disconnect(from, *m, out);
  if (auto* m = std::get_if<wire::shuffle>(&msg)) return on_shuffle(from, *m, out);
  if (auto* m = std::get_if<wire::shuffle_reply>(&msg)) return on_shuffle_reply(from, *m, out);
}

void hyparview::on_join(const node_id& from, const wire::join& m, std::vector<out::output>& out) {
  // A join and a neighbour request carry the sender's own addresses: first-hand.
  if (auto it = find_id(active_, from); it != active_.end()) {
    learn(*it, m.addresses, out, true);
    send(from, wire::neighbor_reply{true}, out);
    return;
  }
  pending_.erase(from);  // its join supersedes a request of ours to it
  add_active({from, capped(m.addresses)}, out, true);
  if (!is_active(from)) {  // an active view capacity of 0, or the range rule
    send(from, wire::neighbor_reply{false}, out);
    drop_if_unused(from, out);
    return;
  }
  send(from, wire::neighbor_reply{true}, out);
  // Seed the newcomer's passive view at once (a shuffle_reply it expects
  // since it sent the join): if its contact and first neighbours crash
  // before its own shuffle walk returns, it still knows live peers.
  {
    std::vector<peer_info> pool;
    for (const auto& p : passive_)
      if (p.id != from) pool.push_back(p);
    for (const auto& a : active_)
      if (a.id != from) pool.push_back(a);
    const std::size_t n = std::min(cfg_.shuffle_active_view_count + cfg_.shuffle_passive_view_count,
                                   limits::max_shuffle_nodes);
    auto list = rng_.sample(std::move(pool), n);
    if (!list.empty()) send(from, wire::shuffle_reply{std::move(list)}, out);
  }
  // §4.2: the contact sends a ForwardJoin with ttl = ARWL to all its other
  // active peers; their random walks spread the joiner through the overlay.
  // Once per peer and shuffle period: each join fans out to every neighbour.
  if (joins_forwarded_.contains(from) || joins_forwarded_.size() >= max_period_peers) {
    ++c_.joins_not_forwarded;
    return;
  }
  joins_forwarded_.insert(from);
  const peer_info joiner = *find_id(active_, from);
  const std::uint8_t ttl = clamp_ttl(cfg_.active_random_walk_length);
  for (const auto& id : active_ids())
    if (id != from) send(id, wire::forward_join{joiner, ttl}, out);
}

void hyparview::on_forward_join(const node_id& from, const wire::forward_join& m, std::vector<out::output>& out) {
  // A walk travels over active links (§4.2); from a stranger it would make
  // us dial addresses of its choice: dropped and counted (see walk_sender).
  if (!walk_sender(from)) {
    ++c_.walks_refused;
    return;
  }
  const peer_info p = capped(m.peer);
  if (p.id == me_.id) return;
  const std::uint8_t ttl = clamp_ttl(m.ttl);
  if (auto it = find_id(active_, p.id); it != active_.end()) {
    // Already its neighbour. The paper's walk would end here; in small or
    // dense overlays walks hit the contact's neighbourhood often, and a joiner
    // whose walks all die keeps a single link (lost at the next eviction). So
    // the walk goes on, to someone who may not know the joiner yet.
    learn(*it, p.addresses, out);
    if (ttl == 0) return;
    std::vector<node_id> next;
    for (const auto& a : active_)
      if (a.id != from && a.id != p.id) next.push_back(a.id);
    if (!next.empty())
      send(next[rng_.below(next.size())], wire::forward_join{p, static_cast<std::uint8_t>(ttl - 1)}, out);
    return;
  }
  // §4.2 i): at the end of the walk, or when we have at most one neighbour,
  // the new node joins our active view. We dial it at the addresses the walk
  // carried and ask it (high priority: it must accept), and add it when it
  // answers, so an unreachable joiner never enters. A joiner that gave no
  // address cannot be dialled: the walk ends without a link. At most
  // max_pending() such requests are open at once (request() refuses more).
  if (ttl == 0 || active_.size() <= 1) {
    if (!p.addresses.empty()) request(p, priority::high, request_kind::forward_join, out);
    return;
  }
  // ii) at ttl == PRWL the new node goes to our passive view.
  if (ttl == cfg_.passive_random_walk_length) add_passive(p, out);
  // iii, iv) decrement and forward to a random neighbour other than the sender.
  std::vector<node_id> next;
  for (const auto& a : active_)
    if (a.id != from && a.id != p.id) next.push_back(a.id);
  if (next.empty()) {
    if (!p.addresses.empty()) request(p, priority::high, request_kind::forward_join, out);
    return;
  }
  send(next[rng_.below(next.size())], wire::forward_join{p, static_cast<std::uint8_t>(ttl - 1)}, out);
}

void hyparview::on_neighbor(const node_id& from, const wire::neighbor& m, std::vector<out::output>& out) {
  if (auto it = find_id(active_, from); it != active_.end()) {
    learn(*it, m.addresses, out, true);
    pending_.erase(from);
    send(from, wire::neighbor_reply{true}, out);
    return;
  }
  // §4.3: a high-priority request is always accepted (dropping a random
  // neighbour if needed); a low-priority one only if there is a free slot.
  // A request that would evict counts once per peer and shuffle period; a
  // second one is low priority.
  const bool full = active_.size() >= cfg_.active_view_capacity;
  bool high = m.prio == priority::high;
  if (high && full) {
    if (evicted_for_.contains(from) || evicted_for_.size() >= max_period_peers) {
      ++c_.neighbor_requests_downgraded;
      high = false;
    } else {
      evicted_for_.insert(from);
    }
  }
  if (high || !full) {
    pending_.erase(from);
    add_active({from, capped(m.addresses)}, out, true);
    if (is_active(from)) {
      send(from, wire::neighbor_reply{true}, out);
      return;
    }
  }
  send(from, wire::neighbor_reply{false}, out);
  add_passive({from, capped(m.addresses)}, out, nullptr, true);
  drop_if_unused(from, out);
}

void hyparview::on_neighbor_reply(const node_id& from, const wire::neighbor_reply& m, std::vector<out::output>& out) {
  auto it = pending_.find(from);
  if (m.accepted) {
    if (it != pending_.end()) {
      const pending_request req = std::move(it->second);
      pending_.erase(it);
      if (!is_active(from)) add_active(req.info, out);
      if (!is_active(from)) {
        // The range rule (its connection comes from a range that has its
        // share of our neighbours): declined like a late acceptance; it keeps
        // us as a passive peer. Not asked again until the tried set resets.
        send(from, wire::disconnect{true}, out);
        tried_.insert(from);
        drop_if_unused(from, out);
        if (req.kind != request_kind::forward_join) maintain(out, &from);
        return;
      }
      if (req.kind == request_kind::join) {
        join_candidates_.clear();  // joined: fallbacks not needed
        // Seed the newcomer's passive view now rather than at the first
        // periodic shuffle: a walk through the contact brings back a list.
        send_shuffle(out);
      }
      if (req.kind == request_kind::refill) maintain(out);           // keep filling
      return;
    }
    if (is_active(from)) return;
    // An acceptance that arrives after our request timed out (or the
    // connection closed): the peer has added us, but when the request timed
    // out we let the connection go (drop_peer), and the peer will see it
    // close and drop us. Taking the link now would leave it in our view only;
    // tell the peer we will not (it keeps us as a passive peer), so both
    // views stay symmetric.
    send(from, wire::disconnect{true}, out);
    drop_if_unused(from, out);
    return;
  }
  if (it != pending_.end()) {
    const pending_request req = std::move(it->second);
    pending_.erase(it);
    add_passive(req.info, out);  // alive, just full
    tried_.insert(from);
    drop_if_unused(from, out);
    if (req.kind != request_kind::forward_join) maintain(out, &from);
    return;
  }
  // A refusal without a pending request is stale: our requests crossed, we
  // accepted theirs (dropping our pending entry) and they refused ours. They
  // add us when our acceptance arrives, so an active peer stays active.
  drop_if_unused(from, out);
}

void hyparview::on_disconnect(const node_id& from, const wire::disconnect& m, std::vector<out::output>& out) {
  if (is_active(from)) {
    // alive: the peer only dropped us (e.g. to make room): keep it in the
    // passive view; otherwise it left and is forgotten.
    remove_active(from, m.alive, out);
    if (!m.alive) forget(from);
    tried_.clear();
    maintain(out, &from);
    return;
  }
  if (auto it = pending_.find(from); it != pending_.end()) {
    const pending_request req = std::move(it->second);
    const request_kind kind = req.kind;
    pending_.erase(it);
    if (m.alive) {
      add_passive(req.info, out);
    } else {
      remove_passive(from);
      forget(from);
    }
    drop_if_unused(from, out);
    if (kind != request_kind::forward_join) maintain(out, &from);
    return;
  }
  if (!m.alive) {
    remove_passive(from);
    forget(from);
  }
  drop_if_unused(from, out);
}

void hyparview::on_shuffle(const node_id& from, const wire::shuffle& m, std::vector<out::output>& out) {
  // Like forward_join, a shuffle walks over active links; a stranger's would
  // make us answer (dial) an origin of its choice.
  if (!walk_sender(from)) {
    ++c_.walks_refused;
    drop_if_unused(from, out);
    return;
  }
  const peer_info origin = capped(m.origin);
  if (origin.id == me_.id) {  // our own walk came back
    drop_if_unused(from, out);
    return;
  }
  const std::uint8_t ttl = clamp_ttl(m.ttl);
  // §4.4: while the walk has ttl left and we have more than one neighbour,
  // forward it to a random neighbour other than the sender.
  if (ttl > 0 && active_.size() > 1) {
    std::vector<node_id> next;
    for (const auto& a : active_)
      if (a.id != from && a.id != origin.id) next.push_back(a.id);
    if (!next.empty()) {
      send(next[rng_.below(next.size())], wire::shuffle{origin, static_cast<std::uint8_t>(ttl - 1), m.nodes}, out);
      return;
    }
  }
  // Accept: answer the origin with as many of our passive peers (topped up
  // with active ones) as it sent us, then integrate its list, evicting
  // preferably the entries we just sent.
  //
  // §4.4: the answer goes straight to the origin "using a temporary TCP
  // connection", neighbour or not. Unless the origin is connected already
  // (it sent the walk itself, or is our neighbour), the shell dials it at the
  // addresses the shuffle carried (handed over as peer_data before the
  // answer); the origin does not become a neighbour, and drop_peer lets the
  // connection go once the answer is out. What a walk can make us do is
  // bounded: one answer per shuffle, only to addresses that came in it, and
  // at most max_temporary_replies() dials per shuffle period; beyond that, or
  // with no address to dial, the answer is withheld (counted).
  const bool connected = origin.id == from || is_active(origin.id);
  bool answer = true;
  if (!connected) {
    if (origin.addresses.empty() || temporary_replies_ >= max_temporary_replies()) {
      answer = false;
      ++c_.shuffle_replies_withheld;
    } else {
      ++temporary_replies_;
    }
  }
  const std::size_t want = std::min(m.nodes.size(), limits::max_shuffle_nodes);
  std::vector<peer_info> pool;
  for (const auto& p : passive_)
    if (p.id != origin.id) pool.push_back(p);
  std::vector<peer_info> reply = rng_.sample(std::move(pool), want);
  if (reply.size() < want) {
    std::vector<peer_info> act;
    for (const auto& a : active_)
      if (a.id != origin.id) act.push_back(a);
    for (auto& a : rng_.sample(std::move(act), want - reply.size())) reply.push_back(std::move(a));
  }
  std::vector<node_id> sent;
  for (const auto& p : reply) sent.push_back(p.id);
  // The origin joins our passive view (announcing its addresses to the shell
  // when they are new to us); the shell must know them before the answer.
  const bool announced = add_passive(origin, out, &sent, origin.id == from);
  if (answer) {
    if (!connected && !announced) out.push_back(out::peer_data{origin});
    send(origin.id, wire::shuffle_reply{std::move(reply)}, out);
  }
  for (const auto& n : m.nodes) add_passive(capped(n), out, &sent, n.id == from);
  drop_if_unused(origin.id, out);
  if (from != origin.id) drop_if_unused(from, out);
}

void hyparview::on_shuffle_reply(const node_id& from, const wire::shuffle_reply& m, std::vector<out::output>& out) {
  // Only the answer to a walk we started is integrated: an unsolicited reply
  // could otherwise flood our passive view with names of the sender's choice.
  if (awaiting_shuffle_reply_) {
    remember({from, {}});  // it answered: alive, worth a retry when isolated
    for (const auto& n : m.nodes) add_passive(capped(n), out, &last_shuffle_sent_, n.id == from);
    last_shuffle_sent_.clear();
    awaiting_shuffle_reply_ = false;
  }
  drop_if_unused(from, out);
  if (active_.size() < cfg_.active_view_capacity) maintain(out);
}

// ------------------------------------------------------------------ timers --

void hyparview::on_shuffle_timer(instant now, std::vector<out::output>& out) {
  // Stale (the live chain fires later); a quarter period of slack lets a
  // driver fire a little early without breaking the chain.
  if (now + cfg_.shuffle_interval / 4 < next_shuffle_at_) return;
  next_shuffle_at_ = now + cfg_.shuffle_interval;
  out.push_back(out::schedule{cfg_.shuffle_interval, timers::shuffle{}});
  tried_.clear();          // periodic retry of peers that were full last time
  temporary_replies_ = 0;  // a new period's budget of answers to non-neighbours
  joins_forwarded_.clear();
  evicted_for_.clear();
  send_shuffle(out);
  maintain(out);
}

void hyparview::send_shuffle(std::vector<out::output>& out) {
  if (!active_.empty()) {
    const node_id target = active_[rng_.below(active_.size())].id;
    std::vector<peer_info> act, pas;
    for (const auto& a : active_)
      if (a.id != target) act.push_back(a);
    for (const auto& p : passive_)
      if (p.id != target) pas.push_back(p);
    std::vector<peer_info> nodes{me_};
    for (auto& a : rng_.sample(std::move(act), cfg_.shuffle_active_view_count)) nodes.push_back(std::move(a));
    for (auto& p : rng_.sample(std::move(pas), cfg_.shuffle_passive_view_count)) nodes.push_back(std::move(p));
    if (nodes.size() > limits::max_shuffle_nodes) nodes.resize(limits::max_shuffle_nodes);
    last_shuffle_sent_.clear();
    for (std::size_t i = 1; i < nodes.size(); ++i) last_shuffle_sent_.push_back(nodes[i].id);
    awaiting_shuffle_reply_ = true;
    ++c_.shuffles;
    send(target, wire::shuffle{me_, clamp_ttl(cfg_.shuffle_random_walk_length), std::move(nodes)}, out);
  }
}

// The paper refills only on failures and shuffles; here a node below
// capacity also retries on a short tick (1 s doubling to a quarter shuffle
// period, with seeded jitter), so a node left with an empty or useless
// passive view does not wait a whole shuffle period. One live chain: a timer
// whose generation is not the current one is ignored (never cancelled).
void hyparview::arm_refill(std::vector<out::output>& out) {
  // Only a node with at most one neighbour ticks (isolated, or possibly a
  // two-node island); fuller nodes refill on losses and shuffles as in the
  // paper, so the tick never churns a healthy overlay.
  if (refill_armed_ || cfg_.active_view_capacity == 0 || active_.size() > 1) return;
  const duration base = std::chrono::seconds(1);
  const duration cap = std::max(base, cfg_.shuffle_interval / 4);
  refill_delay_ = refill_delay_ == duration{} ? base : std::min(cap, refill_delay_ * 2);
  const auto jitter_us = static_cast<std::size_t>(refill_delay_.count() / 2);
  const duration after = refill_delay_ + duration(jitter_us ? rng_.below(jitter_us) : 0);
  refill_armed_ = true;
  refill_generation_ = ++next_attempt_;
  out.push_back(out::schedule{after, timers::refill{refill_generation_}});
}

void hyparview::on_refill_timer(std::uint64_t generation, std::vector<out::output>& out) {
  if (!refill_armed_ || generation != refill_generation_) return;  // stale chain
  refill_armed_ = false;
  if (active_.size() > 1) return;  // re-armed when a loss leaves at most one neighbour
  bool untried = false;
  for (const auto& p : passive_)
    if (!is_pending(p.id) && !tried_.count(p.id)) untried = true;
  if (!untried) {
    // Every passive peer refused (full) or is gone: ask them again, and
    // learn fresh names through a shuffle walk.
    tried_.clear();
    send_shuffle(out);
  }
  maintain(out, nullptr, true);
  arm_refill(out);  // maintain may return early (e.g. a join is pending)
}

void hyparview::on_neighbor_request_timer(const timers::neighbor_request& t, std::vector<out::output>& out) {
  auto it = pending_.find(t.peer);
  if (it == pending_.end() || it->second.attempt != t.attempt) return;  // answered, or an older request
  const request_kind kind = it->second.kind;
  pending_.erase(it);
  // No answer in time: treat the peer as unreachable (§4.3: "removed from the
  // passive view") and try the next candidate.
  remove_passive(t.peer);
  tried_.insert(t.peer);
  drop_if_unused(t.peer, out);
  if (kind != request_kind::forward_join) maintain(out, &t.peer);
}

void hyparview::on_peer_disconnected(const node_id& peer, std::vector<out::output>& out) {
  if (is_active(peer)) {
    remove_active(peer, false, out);
    tried_.clear();
    maintain(out, &peer);
    return;
  }
  if (auto it = pending_.find(peer); it != pending_.end()) {
    const request_kind kind = it->second.kind;
    pending_.erase(it);
    remove_passive(peer);
    tried_.insert(peer);
    if (kind != request_kind::forward_join) maintain(out, &peer);
  }
}

void hyparview::quit(std::vector<out::output>& out) {
  for (const auto& id : active_ids()) {
    send(id, wire::disconnect{false}, out);
    ++c_.neighbor_down;
    out.push_back(out::neighbor_down{id});
  }
  // Peers we asked may accept after we are gone: tell them too.
  std::vector<node_id> asked;
  for (const auto& kv : pending_) asked.push_back(kv.first);
  for (const auto& id : asked) send(id, wire::disconnect{false}, out);
  const auto active = active_ids();
  refill_armed_ = false;  // a late refill tick is then ignored
  recent_.clear();
  tried_.clear();
  active_.clear();
  pending_.clear();
  passive_.clear();
  join_candidates_.clear();
  for (const auto& id : active) out.push_back(out::drop_peer{id});
  for (const auto& id : asked) out.push_back(out::drop_peer{id});
}

}  // namespace topicswarm::gossip
