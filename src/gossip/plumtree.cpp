#include "gossip/plumtree.hpp"

#include "crypto/hash.hpp"

#include <algorithm>

namespace topicswarm::gossip {
namespace {

bool contains(const std::vector<node_id>& v, const node_id& p) { return std::find(v.begin(), v.end(), p) != v.end(); }
void erase(std::vector<node_id>& v, const node_id& p) {
  if (auto it = std::find(v.begin(), v.end(), p); it != v.end()) v.erase(it);
}
std::uint16_t next_round(std::uint16_t r) { return r == 0xffff ? r : static_cast<std::uint16_t>(r + 1); }

}  // namespace

plumtree::plumtree(const node_id& me, const broadcast_config& cfg, std::size_t max_message_size,
                   std::uint64_t attempt_base)
    : me_(me),
      cfg_(cfg),
      max_message_size_(std::min(max_message_size, limits::max_content_size)),
      next_attempt_(attempt_base) {}

message_id plumtree::id_of(byte_span content) { return message_id(crypto::sha256(content)); }

bool plumtree::is_eager(const node_id& p) const { return contains(eager_, p); }
bool plumtree::is_lazy(const node_id& p) const { return contains(lazy_, p); }

void plumtree::make_eager(const node_id& p) {
  erase(lazy_, p);
  if (!contains(eager_, p)) eager_.push_back(p);
}

void plumtree::make_lazy(const node_id& p) {
  erase(eager_, p);
  if (!contains(lazy_, p)) lazy_.push_back(p);
}

void plumtree::neighbor_up(const node_id& peer) {
  if (!is_neighbor(peer)) eager_.push_back(peer);  // §3.3: neighbours start in the eager set
}

void plumtree::neighbor_down(const node_id& peer) {
  // Announcements the peer made stay in `missing_` and are skipped when their
  // turn comes: cheaper than scanning every missing id here.
  erase(eager_, peer);
  erase(lazy_, peer);
  lazy_queue_.erase(peer);
  graft_budget_.erase(peer);
}

void plumtree::send(const node_id& to, wire::message msg, std::vector<out::output>& out) {
  ++c_.messages_sent;
  out.push_back(out::send{to, std::move(msg)});
}

// ---------------------------------------------------------------- storage --

void plumtree::schedule_evict(instant now, std::vector<out::output>& out) {
  // The eviction timer runs only while something can expire, so idle topics
  // (and idle simulated nodes) cost no timer events.
  if (evict_timer_scheduled_) return;
  evict_timer_scheduled_ = true;
  evict_due_ = now + cfg_.cache_evict_interval;
  out.push_back(out::schedule{cfg_.cache_evict_interval, timers::evict_cache{}});
}

void plumtree::remember(const message_id& id, std::uint16_t round, const node_id& from, instant now,
                        std::vector<out::output>& out) {
  received_[id] = received_entry{now, round, from};
  received_order_.emplace_back(now, id);
  while (received_.size() > cfg_.message_id_capacity && !received_order_.empty()) {
    received_.erase(received_order_.front().second);
    received_order_.pop_front();
  }
  schedule_evict(now, out);
}

void plumtree::cache(const message_id& id, const bytes& content, scope sc, instant now, std::vector<out::output>& out) {
  if (cfg_.message_cache_capacity == 0 || cache_.contains(id)) return;
  cache_[id] = cache_entry{now, content, sc};
  cache_bytes_ += content.size();
  cache_order_.emplace_back(now, id);
  while ((cache_.size() > cfg_.message_cache_capacity || cache_bytes_ > cfg_.message_cache_bytes) &&
         !cache_order_.empty())
    evict_oldest_cached();
  schedule_evict(now, out);
}

void plumtree::evict_oldest_cached() {
  if (auto it = cache_.find(cache_order_.front().second); it != cache_.end()) {
    cache_bytes_ -= it->second.content.size();
    cache_.erase(it);
  }
  cache_order_.pop_front();
}

void plumtree::on_evict_timer(instant now, std::vector<out::output>& out) {
  // Stale (an earlier incarnation's): the live timer is due later. A quarter
  // interval of slack tolerates a driver firing slightly early.
  if (!evict_timer_scheduled_ || now + cfg_.cache_evict_interval / 4 < evict_due_) return;
  evict_timer_scheduled_ = false;
  // Each map entry has exactly one deque entry (inserted together, erased
  // together), and time only moves forward, so the deque front is the oldest.
  while (!cache_order_.empty() && now - cache_order_.front().first >= cfg_.message_cache_retention)
    evict_oldest_cached();
  while (!received_order_.empty() && now - received_order_.front().first >= cfg_.message_id_retention) {
    received_.erase(received_order_.front().second);
    received_order_.pop_front();
  }
  if (!cache_.empty() || !received_.empty()) schedule_evict(now, out);
}

// ------------------------------------------------------------------ pushes --

void plumtree::push(const message_id& id, const bytes& content, std::uint16_t round, const node_id& except,
                    std::vector<out::output>& out, const std::vector<std::pair<node_id, std::uint16_t>>* holders) {
  const auto has_it = [&](const node_id& p) {
    return p == except ||
           (holders && std::any_of(holders->begin(), holders->end(), [&](const auto& h) { return h.first == p; }));
  };
  for (const auto& p : eager_)
    if (!has_it(p)) send(p, wire::gossip{id, content, round, scope::swarm}, out);
  bool queued = false;
  for (const auto& p : lazy_) {
    if (has_it(p)) continue;
    auto& q = lazy_queue_[p];
    q.push_back(wire::ihave_entry{id, round});
    // A full batch goes out at once: the queue never exceeds one IHAVE.
    if (q.size() >= limits::max_ihave_entries) flush_ihaves(p, q, out);
    queued = true;
  }
  if (queued && !lazy_timer_scheduled_) {
    lazy_timer_scheduled_ = true;
    out.push_back(out::schedule{cfg_.lazy_push_interval, timers::lazy_push{}});
  }
}

void plumtree::flush_ihaves(const node_id& peer, std::vector<wire::ihave_entry>& q, std::vector<out::output>& out) {
  for (std::size_t i = 0; i < q.size(); i += limits::max_ihave_entries) {
    const std::size_t n = std::min(limits::max_ihave_entries, q.size() - i);
    wire::ihave msg;
    msg.entries.assign(q.begin() + static_cast<std::ptrdiff_t>(i), q.begin() + static_cast<std::ptrdiff_t>(i + n));
    ++c_.ihave_sent;
    send(peer, std::move(msg), out);
  }
  q.clear();
}

void plumtree::on_lazy_push_timer(std::vector<out::output>& out) {
  lazy_timer_scheduled_ = false;
  for (auto& [peer, q] : lazy_queue_)
    if (!q.empty() && is_neighbor(peer)) flush_ihaves(peer, q, out);
  lazy_queue_.clear();
}

// ------------------------------------------------------------------ inputs --

void plumtree::broadcast(bytes content, scope sc, instant now, std::vector<out::output>& out) {
  if (content.size() > max_message_size_) {
    ++c_.invalid_messages;
    return;
  }
  const message_id id = id_of(content);
  // The id is the content hash: a repeat of content already spread would be a
  // duplicate everywhere, so it is not sent again.
  if (has_received(id)) return;
  remember(id, 0, me_, now, out);
  if (sc == scope::neighbors) {
    // Direct neighbours only, eager and lazy alike; they do not forward it.
    for (const auto& p : eager_) send(p, wire::gossip{id, content, 0, scope::neighbors}, out);
    for (const auto& p : lazy_) send(p, wire::gossip{id, content, 0, scope::neighbors}, out);
    return;
  }
  cache(id, content, scope::swarm, now, out);
  push(id, content, 0, me_, out, nullptr);
}

void plumtree::on_gossip(const node_id& from, wire::gossip&& msg, instant now, std::vector<out::output>& out) {
  if (msg.content.size() > max_message_size_) {
    ++c_.invalid_messages;
    return;
  }
  // Duplicates are recognised by id before hashing: they are the bulk of the
  // traffic while the tree forms and need no content check (a forged copy of
  // a known id is dropped the same way).
  if (!has_received(msg.id) && id_of(msg.content) != msg.id) {
    ++c_.invalid_messages;
    return;
  }
  if (auto r = received_.find(msg.id); r != received_.end()) {
    ++c_.gossip_duplicates;
    // §3.4: a duplicate means `from` is a redundant tree link: make it lazy and
    // tell it to do the same. (neighbors-scope messages are not tree traffic.)
    //
    // Unlike the paper, only while the link that delivered the first copy is
    // still eager (or the message is our own). Under load many messages are in
    // flight on every link, so copies of consecutive messages win on
    // alternate links; pruning on every duplicate then prunes *both* links
    // and leaves the node off the tree, to be reattached by grafts, one per
    // message. A first copy that came over a link we already pruned is such an
    // in-flight leftover: the duplicate came over the link we still rely on.
    const node_id& first = r->second.from;
    if (msg.sc != scope::swarm || !is_neighbor(from)) return;
    if (first == me_ || (first != from && is_eager(first))) {
      make_lazy(from);
      ++c_.prune_sent;
      send(from, wire::prune{}, out);
    } else {
      ++c_.prunes_withheld;
    }
    return;
  }
  remember(msg.id, msg.round, from, now, out);
  ++c_.gossip_delivered;
  out.push_back(out::received{msg.content, from, msg.sc, msg.id, msg.round});
  if (msg.sc == scope::neighbors) return;

  // The paper makes the sender eager here. We do not: every sender we asked
  // (graft) or never pruned is eager already, and a pruned sender's copy is
  // one that was in flight when our PRUNE left. Making it eager again would
  // leave the link eager on our side and lazy on its side (it has our PRUNE),
  // and the next duplicate would prune the link we actually receive on.
  cache(msg.id, msg.content, scope::swarm, now, out);

  // §3.8 tree optimisation: an earlier IHAVE promised a path much shorter than
  // the one the message took; graft that announcer and prune the sender.
  std::vector<std::pair<node_id, std::uint16_t>> holders;
  if (auto m = missing_.find(msg.id); m != missing_.end()) {
    const std::pair<node_id, std::uint16_t>* best = nullptr;
    for (const auto& a : m->second.announcers)
      if (a.first != from && is_neighbor(a.first) && (!best || a.second < best->second)) best = &a;
    if (best && std::uint32_t{best->second} + cfg_.optimization_threshold < msg.round) {
      const node_id to = best->first;
      const std::uint16_t round = best->second;
      if (!is_eager(to)) {
        make_eager(to);
        ++c_.graft_sent;
        send(to, wire::graft{std::nullopt, round}, out);
      }
      if (is_neighbor(from)) {
        make_lazy(from);
        ++c_.prune_sent;
        send(from, wire::prune{}, out);
      }
    }
    // Every announcer has the message: sending it a copy would be a duplicate
    // and make it prune us. That matters after a graft: the peers we pushed
    // to before are often upstream of us (they announced it), and pruning us
    // for the copy would undo the tree link the graft was meant to keep.
    holders = std::move(m->second.announcers);
    erase_missing(m);  // any graft timer still pending is now stale
  }
  push(msg.id, msg.content, next_round(msg.round), from, out, &holders);
}

void plumtree::on_ihave(const node_id& from, const wire::ihave& msg, std::vector<out::output>& out) {
  if (!is_neighbor(from)) return;  // IHAVEs come from lazy neighbours; a stale one is moot
  for (const auto& e : msg.entries) {
    if (auto r = received_.find(e.id); r != received_.end()) {
      // Tree optimisation for an announcement that arrives after the message:
      // the lazy path is optimization_threshold rounds shorter than the eager one.
      received_entry& rec = r->second;
      if (rec.from != from && rec.from != me_ && is_eager(rec.from) &&
          std::uint32_t{e.round} + cfg_.optimization_threshold < rec.round) {
        if (!is_eager(from)) {
          make_eager(from);
          ++c_.graft_sent;
          send(from, wire::graft{std::nullopt, e.round}, out);
        }
        make_lazy(rec.from);
        ++c_.prune_sent;
        send(rec.from, wire::prune{}, out);
        rec.from = from;  // the swap happens once per message
        rec.round = e.round;
      }
      continue;
    }
    auto it = missing_.find(e.id);
    if (it == missing_.end()) {
      if (missing_.size() >= max_missing) continue;
      auto& created = missing_by_creator_[from];
      if (created >= max_missing_per_peer) {
        ++c_.ihave_ids_over_budget;
        continue;
      }
      ++created;
      missing_entry m;
      m.attempt = ++next_attempt_;
      m.announcers.emplace_back(from, e.round);
      m.creator = from;
      missing_.emplace(e.id, std::move(m));
      if (eager_.size() == 1 && eager_.front() == from) {
        // The one peer we count as eager announced it: it has us as lazy (a
        // PRUNE or GRAFT crossed ours), so it will not push it, and nobody
        // else pushes to us: waiting for a push is pointless. Graft it now;
        // that also makes the link eager on its side again.
        ++c_.eager_announcements;
        graft_next(e.id, 0, out);
        continue;
      }
      // §3.5: wait graft_timeout_1 for the message to arrive by eager push.
      out.push_back(out::schedule{cfg_.graft_timeout_1, timers::graft{e.id, 0, next_attempt_}});
      continue;
    }
    auto& ann = it->second.announcers;
    if (ann.size() < max_announcers &&
        std::none_of(ann.begin(), ann.end(), [&](const auto& a) { return a.first == from; }))
      ann.emplace_back(from, e.round);
  }
}

void plumtree::graft_next(const message_id& id, std::uint8_t stage, std::vector<out::output>& out) {
  auto it = missing_.find(id);
  if (it == missing_.end()) return;
  auto& m = it->second;
  auto& ann = m.announcers;
  // Ask an announcer we already push to first: typically one a graft for an
  // earlier message just made our tree parent. Spreading the grafts of the
  // messages missed in one burst over different announcers would make each
  // of them a parent in turn, and each new parent's copies would reach the
  // others as duplicates.
  if (auto e = std::find_if(ann.begin() + static_cast<std::ptrdiff_t>(m.next), ann.end(),
                            [&](const auto& a) { return is_eager(a.first); });
      e != ann.end())
    std::iter_swap(ann.begin() + static_cast<std::ptrdiff_t>(m.next), e);
  while (m.next < ann.size()) {
    const auto [peer, round] = ann[m.next++];
    if (!is_neighbor(peer)) continue;  // it left since it announced
    make_eager(peer);
    ++c_.graft_sent;
    send(peer, wire::graft{id, round}, out);
    // §3.5: if the message still does not come, try the next announcer after
    // the shorter graft_timeout_2 (about a round trip).
    m.attempt = ++next_attempt_;
    out.push_back(out::schedule{cfg_.graft_timeout_2, timers::graft{id, stage, m.attempt}});
    return;
  }
  erase_missing(it);  // nobody left to ask; a later IHAVE starts over
}

void plumtree::erase_missing(std::unordered_map<message_id, missing_entry>::iterator it) {
  if (auto c = missing_by_creator_.find(it->second.creator); c != missing_by_creator_.end() && --c->second == 0)
    missing_by_creator_.erase(c);
  missing_.erase(it);
}

void plumtree::on_graft_timer(const timers::graft& t, std::vector<out::output>& out) {
  auto it = missing_.find(t.id);
  if (it == missing_.end() || it->second.attempt != t.attempt) return;  // arrived meanwhile, or stale
  graft_next(t.id, t.stage == 0xff ? t.stage : static_cast<std::uint8_t>(t.stage + 1), out);
}

void plumtree::on_graft(const node_id& from, const wire::graft& msg, instant now, std::vector<out::output>& out) {
  // Only neighbours graft (§3.5: a GRAFT goes to a lazy neighbour that
  // announced the message); anyone else would make us send cached content
  // to a peer of its choice.
  if (!is_neighbor(from)) {
    ++c_.grafts_refused;
    return;
  }
  make_eager(from);
  if (!msg.id) return;
  auto it = cache_.find(*msg.id);
  if (it == cache_.end()) return;  // expired from the cache: nothing to give
  constexpr double rate = static_cast<double>(max_graft_bytes_per_second);
  auto [b, fresh] = graft_budget_.try_emplace(from);
  if (fresh) {
    b->second.tokens = 2 * rate;
  } else {
    const double secs = std::chrono::duration<double>(now - b->second.at).count();
    b->second.tokens = std::min(2 * rate, b->second.tokens + std::max(secs, 0.0) * rate);
  }
  b->second.at = now;
  const double cost = static_cast<double>(it->second.content.size());
  if (b->second.tokens < cost) {
    ++c_.grafts_over_budget;
    return;
  }
  b->second.tokens -= cost;
  send(from, wire::gossip{*msg.id, it->second.content, msg.round, it->second.sc}, out);
}

void plumtree::on_prune(const node_id& from) {
  if (is_neighbor(from)) make_lazy(from);
}

}  // namespace topicswarm::gossip
