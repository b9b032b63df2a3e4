#include "node/gossip_driver.hpp"

#include "gossip/codec.hpp"
#include "gossip/plumtree.hpp"
#include "gossip/topic_state.hpp"
#include "node/config_map.hpp"

#include <algorithm>

namespace topicswarm::detail {
namespace {

delivery_scope from_core(gossip::scope s) {
  return s == gossip::scope::neighbors ? delivery_scope::neighbors : delivery_scope::swarm;
}

}  // namespace

gossip_driver::gossip_driver(shell& sh, admission_driver& gate, gossip::config cfg, std::uint64_t seed,
                             topic_timeouts defaults)
    : sh_(sh), gate_(gate), cfg_(cfg), defaults_(defaults), router_(sh.me(), cfg_, seed) {}

// ------------------------------------------------------------ subscriptions --

void gossip_driver::attach(const topic_id& t, const secret_hash& key, std::shared_ptr<topic_mirror> m,
                           std::shared_ptr<receiver_state> r, std::vector<core::peer_info> bootstrap) {
  if (sh_.stopped()) return;
  auto [it, created] = topics_.try_emplace(t);
  auto& e = it->second;
  if (created) {
    e.timeouts = defaults_;
    gate_.add_topic(t, key);
  }
  ++e.handles;
  if (!e.mirror) e.mirror = std::move(m);
  if (r) e.receivers.push_back(std::move(r));
  // Also creates the topic's state in the router when there are no peers.
  router_.handle(t, gossip::in::join_peers{remember(std::move(bootstrap))}, sh_.now(), out_);
  process();
  if (created)
    for (auto* o : observers_) o->on_topic_attached(t);
}

std::vector<topic_id> gossip_driver::topics() const {
  std::vector<topic_id> v;
  for (const auto& [t, e] : topics_) v.push_back(t);
  return v;
}

std::vector<core::peer_info> gossip_driver::remember(std::vector<core::peer_info> peers, address_source from) {
  std::erase_if(peers, [&](const core::peer_info& p) { return p.id == sh_.me().id; });
  for (const auto& p : peers) sh_.book().add(p.id, p.addresses, from);
  return peers;
}

void gossip_driver::add_receiver(std::shared_ptr<receiver_state> r) {
  if (sh_.stopped()) return r->close(error{errc::node_stopped});
  auto it = topics_.find(r->topic);
  if (it == topics_.end()) return r->close(error{errc::topic_closed});
  it->second.receivers.push_back(std::move(r));
}

std::shared_ptr<topic_mirror> gossip_driver::mirror(const topic_id& t) const {
  auto it = topics_.find(t);
  return it == topics_.end() ? nullptr : it->second.mirror;
}

void gossip_driver::release(const topic_id& t) {
  auto it = topics_.find(t);
  if (it == topics_.end()) return;
  if (--it->second.handles > 0) return;
  if (!sh_.stopped()) {
    router_.leave(t, sh_.now(), out_);
    process();
  }
  auto& e = it->second;
  close_receivers(e, error{errc::topic_closed});
  for (auto& [id, w] : e.join_waiters) {
    w.timer->cancel();
    sh_.forget_abort(id);
    w.done(error{errc::topic_closed});
  }
  {
    std::lock_guard lock(e.mirror->mu);
    e.mirror->neighbors.clear();
  }
  for (auto* o : observers_) o->on_topic_left(t);
  topics_.erase(it);
  gate_.remove_topic(t);
  timers_.erase_if([&](const timer_token& k) { return k.topic == t; });
  for (auto b = backlog_.begin(); b != backlog_.end();) {
    if (b->topic == t) {
      sh_.forget_abort(b->done.id());
      if (b->deadline) b->deadline->cancel();
      b->done(error{errc::topic_closed});
      b = backlog_.erase(b);
    } else {
      ++b;
    }
  }
}

void gossip_driver::close_receivers(topic_entry& e, const error& why) {
  for (auto& w : e.receivers)
    if (auto r = w.lock()) r->close(why);
  e.receivers.clear();
}

void gossip_driver::join(const topic_id& t, std::vector<core::peer_info> peers, address_source from) {
  if (sh_.stopped() || !topics_.contains(t)) return;
  router_.handle(t, gossip::in::join_peers{remember(std::move(peers), from)}, sh_.now(), out_);
  process();  // a no-op when we are inside process(): its loop performs these
}

std::vector<node_id> gossip_driver::views(const topic_id& t) const {
  auto v = router_.active_view(t);
  for (const auto& p : router_.passive_view(t)) v.push_back(p);
  return v;
}

const std::set<node_id>* gossip_driver::neighbors(const topic_id& t) const {
  auto it = topics_.find(t);
  return it == topics_.end() ? nullptr : &it->second.neighbors;
}

bool gossip_driver::in_active_view(const node_id& peer) const {
  for (const auto& t : router_.topics())
    for (const auto& id : router_.active_view(t))
      if (id == peer) return true;
  return false;
}

// -------------------------------------------------------------- broadcasts --

void gossip_driver::set_timeouts(const topic_id& t, topic_timeouts d) {
  if (auto it = topics_.find(t); it != topics_.end()) it->second.timeouts = d;
}

void gossip_driver::broadcast(const topic_id& t, bytes content, gossip::scope sc, completion<result<void>> done) {
  if (sh_.stopped()) return done(error{errc::node_stopped});
  if (!topics_.contains(t)) return done(error{errc::topic_closed});
  // Back-pressure: wait until the slowest connection has drained.
  if (!backlog_.empty() || !sh_.transport().send_ready()) return hold_back(t, std::move(content), sc, done);
  for (auto* o : observers_) o->on_message(t, gossip::plumtree::id_of(content));
  router_.handle(t, gossip::in::broadcast{std::move(content), sc}, sh_.now(), out_);
  process();
  done(result<void>{});
}

void gossip_driver::hold_back(const topic_id& t, bytes content, gossip::scope sc, completion<result<void>> done) {
  const auto id = done.id();
  const auto& to = topics_.at(t).timeouts;
  const bool nb = sc == gossip::scope::neighbors;
  const auto limit = nb ? to.broadcast_neighbors : to.broadcast;
  auto deadline = std::make_shared<asio::steady_timer>(sh_.io(), limit);
  deadline->async_wait([this, id, limit, nb](std::error_code ec) {
    if (ec || sh_.stopped()) return;
    for (auto b = backlog_.begin(); b != backlog_.end(); ++b)
      if (b->done.id() == id) {
        auto late = b->done;
        backlog_.erase(b);
        sh_.forget_abort(id);
        late(error{errc::timeout,
                   "broadcast held back by a slow neighbour for " + std::to_string(limit.count()) +
                       (nb ? " ms (timeouts.broadcast_neighbors_timeout)" : " ms (timeouts.broadcast_timeout)")});
        return;
      }
  });
  backlog_.push_back(pending_broadcast{t, std::move(content), sc, done, deadline});
  sh_.on_abort(id, [this, id] {
    for (auto b = backlog_.begin(); b != backlog_.end(); ++b)
      if (b->done.id() == id) {
        if (b->deadline) b->deadline->cancel();
        b->done(error{errc::operation_aborted});
        backlog_.erase(b);
        return;
      }
  });
}

void gossip_driver::drain_broadcasts() {
  if (draining_) return;  // process() below calls back in here
  draining_ = true;
  while (!backlog_.empty() && !sh_.stopped() && sh_.transport().send_ready()) {
    auto b = std::move(backlog_.front());
    backlog_.pop_front();
    sh_.forget_abort(b.done.id());
    if (b.deadline) b.deadline->cancel();
    for (auto* o : observers_) o->on_message(b.topic, gossip::plumtree::id_of(b.content));
    router_.handle(b.topic, gossip::in::broadcast{std::move(b.content), b.sc}, sh_.now(), out_);
    process();
    b.done(result<void>{});
  }
  draining_ = false;
}

void gossip_driver::on_send_ready() {
  if (!backlog_.empty()) drain_broadcasts();
}

// ------------------------------------------------------------------ events --

void gossip_driver::deliver(topic_entry& e, const event& ev) {
  std::erase_if(e.receivers, [&](const std::weak_ptr<receiver_state>& w) {
    auto r = w.lock();
    if (!r) return true;
    r->push(ev, lagged_);
    return false;
  });
}

void gossip_driver::wait_joined(const topic_id& t, std::chrono::milliseconds timeout, completion<result<void>> done) {
  if (sh_.stopped()) return done(error{errc::node_stopped});
  auto it = topics_.find(t);
  if (it == topics_.end()) return done(error{errc::topic_closed});
  if (!it->second.neighbors.empty()) return done(result<void>{});
  add_join_waiter(t, {}, timeout, "no neighbour within " + std::to_string(timeout.count()) + " ms", std::move(done));
}

void gossip_driver::join_peers(const topic_id& t, std::vector<core::peer_info> peers, completion<result<void>> done) {
  if (sh_.stopped()) return done(error{errc::node_stopped});
  auto it = topics_.find(t);
  if (it == topics_.end()) return done(error{errc::topic_closed});
  std::set<node_id> ids;
  for (const auto& p : peers)
    if (p.id != sh_.me().id) ids.insert(p.id);
  if (ids.empty()) return done(error{errc::invalid_argument, "join_peers needs at least one peer other than us"});
  const auto& nbs = it->second.neighbors;
  if (std::any_of(ids.begin(), ids.end(), [&](const node_id& p) { return nbs.contains(p); })) {
    join(t, std::move(peers));
    return done(result<void>{});
  }
  const auto timeout = it->second.timeouts.join_peers;
  add_join_waiter(t, ids, timeout,
                  "none of " + std::to_string(ids.size()) + " peers became a neighbour within " +
                      std::to_string(timeout.count()) + " ms (timeouts.join_peer_timeout)",
                  std::move(done));
  join(t, std::move(peers));  // a neighbour_up on the way completes the waiter
}

void gossip_driver::add_join_waiter(const topic_id& t, std::set<node_id> peers, std::chrono::milliseconds timeout,
                                    std::string what, completion<result<void>> done) {
  const auto id = done.id();
  auto timer = std::make_shared<asio::steady_timer>(sh_.io(), timeout);
  topics_.at(t).join_waiters.emplace(id, join_waiter{done, timer, std::move(peers)});
  auto finish = [this, t, id](error why) {
    auto e = topics_.find(t);
    if (e == topics_.end()) return;
    auto w = e->second.join_waiters.find(id);
    if (w == e->second.join_waiters.end()) return;
    auto d = w->second.done;
    w->second.timer->cancel();
    e->second.join_waiters.erase(w);
    sh_.forget_abort(id);
    d(std::move(why));
  };
  timer->async_wait([finish, what = std::move(what)](std::error_code ec) {
    if (!ec) finish(error{errc::timeout, what});
  });
  sh_.on_abort(id, [finish] { finish(error{errc::operation_aborted}); });
}

void gossip_driver::neighbor_changed(const topic_id& t, const node_id& peer, bool up) {
  auto it = topics_.find(t);
  if (it == topics_.end()) return;
  auto& e = it->second;
  if (up)
    e.neighbors.insert(peer);
  else
    e.neighbors.erase(peer);
  {
    std::lock_guard lock(e.mirror->mu);
    e.mirror->neighbors.assign(e.neighbors.begin(), e.neighbors.end());
  }
  deliver(e, up ? event{events::neighbor_up{peer}} : event{events::neighbor_down{peer}});
  if (up) {
    for (auto w = e.join_waiters.begin(); w != e.join_waiters.end();) {
      if (!w->second.peers.empty() && !w->second.peers.contains(peer)) {
        ++w;
        continue;
      }
      w->second.timer->cancel();
      sh_.forget_abort(w->first);
      auto d = w->second.done;
      w = e.join_waiters.erase(w);
      d(result<void>{});
    }
  }
  for (auto* o : observers_) o->on_neighbor(t, peer, up);
}

// ------------------------------------------------------------------ effects --

void gossip_driver::send(const topic_id& t, gossip::out::send& s, std::vector<node_id>& unreachable) {
  frame_.clear();
  const auto start = net::begin_frame(frame_, net::frame_kind::gossip);
  gossip::encode_to(frame_, t, s.msg);
  net::end_frame(frame_, start);
  // Sent when the peer has proven the topic on its connection; otherwise
  // held while admission runs (dialling the peer if needed).
  if (gate_.send(s.to, t, frame_) == admission_driver::route::no_route) unreachable.push_back(s.to);
}

void gossip_driver::process() {
  // Transport callbacks made while we perform outputs (a connection closed
  // by a full send queue, say) append to out_ and return; this loop, the
  // only one, picks their outputs up.
  if (processing_) return;
  processing_ = true;
  std::vector<node_id> unreachable;
  for (std::size_t i = 0; i < out_.size(); ++i) {
    // Move out: handling may append to out_ (and reallocate it).
    gossip::routed r = std::move(out_[i]);
    std::visit(
        [&](auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, gossip::out::send>) {
            send(r.topic, o, unreachable);
          } else if constexpr (std::is_same_v<T, gossip::out::neighbor_up>) {
            neighbor_changed(r.topic, o.peer, true);
          } else if constexpr (std::is_same_v<T, gossip::out::neighbor_down>) {
            neighbor_changed(r.topic, o.peer, false);
          } else if constexpr (std::is_same_v<T, gossip::out::received>) {
            auto it = topics_.find(r.topic);
            if (it == topics_.end()) return;
            for (auto* ob : observers_) {
              ob->on_message(r.topic, o.id);
              ob->on_received(r.topic, o.delivered_from, o.content);
            }
            deliver(it->second, event{events::received{std::move(o.content), o.delivered_from, from_core(o.sc)}});
          } else if constexpr (std::is_same_v<T, gossip::out::schedule>) {
            timers_.add(sh_.now() + o.after, timer_token{r.topic, std::move(o.t)});
          } else if constexpr (std::is_same_v<T, gossip::out::drop_peer>) {
            sh_.close(o.peer, "closed by us: no topic needs the peer any more");
          } else if constexpr (std::is_same_v<T, gossip::out::peer_data>) {
            // First-hand: the peer's own entry in a message it sent us.
            if (o.info.id != sh_.me().id)
              sh_.book().add(o.info.id, o.info.addresses,
                             o.first_hand ? address_source::first_hand : address_source::hearsay);
          }
        },
        r.o);
    // Peers we cannot reach (no address known): tell the router, whose
    // reactions (other peers to ask) this loop then performs.
    if (i + 1 == out_.size() && !unreachable.empty()) {
      auto peers = std::move(unreachable);
      unreachable.clear();
      for (const auto& p : peers) router_.peer_disconnected(p, sh_.now(), out_);
    }
  }
  out_.clear();
  processing_ = false;
  sh_.timers_changed();
  // A connection that held back broadcasts may have closed or been dropped
  // just now: nothing else would wake the waiting broadcasts.
  if (!backlog_.empty()) drain_broadcasts();
}

void gossip_driver::fire_timers(core::instant now) {
  for (auto& k : timers_.take_due(now)) {
    // A neighbour request's time runs once the peer can answer: while the
    // transport still dials it (a reversal, a hole punch and then a relay
    // can take seconds, docs/PROTOCOL.md §19.7-19.9), the request waits on.
    // Bounded by the dial's own limits (connect timeouts, the reversal wait,
    // the punch window, the relay wait).
    if (const auto* r = std::get_if<gossip::timers::neighbor_request>(&k.t);
        r && sh_.transport().dialling(r->peer) && !sh_.transport().connected(r->peer)) {
      timers_.add(now + cfg_.membership.neighbor_request_timeout, std::move(k));
      continue;
    }
    router_.handle(k.topic, gossip::in::timer_fired{std::move(k.t)}, now, out_);
  }
  process();
}

// --------------------------------------------------------------- transport --

void gossip_driver::on_frame(const node_id& peer, byte_span body) {
  auto d = gossip::decode(body, cfg_.max_message_size);
  if (!d) {
    ++undecodable_;
    return;
  }
  auto& [topic, msg] = *d;
  if (!topics_.contains(topic)) {
    ++unknown_topic_;
    return;
  }
  if (!gate_.accepts(peer, topic)) {
    // The peer has not proven it holds this topic's key on its connection.
    gate_.count_not_admitted();
    return;
  }
  router_.handle(topic, gossip::in::received{peer, std::move(msg)}, sh_.now(), out_);
  process();
}

void gossip_driver::on_link(const node_id& peer, const net::link_info& link) {
  router_.peer_source(peer, link.remote);
}

void gossip_driver::on_disconnected(const node_id& peer, const error&) {
  if (sh_.stopped()) return;
  router_.peer_disconnected(peer, sh_.now(), out_);
  process();  // a no-op when called from inside process(), which continues with these outputs
}

void gossip_driver::on_refused(const topic_id& t, const node_id& peer) {
  if (sh_.stopped() || !topics_.contains(t)) return;
  router_.handle(t, gossip::in::peer_disconnected{peer}, sh_.now(), out_);
  process();
}

// -------------------------------------------------------------------- stop --

void gossip_driver::begin_stop() {
  // Leave every topic so neighbours hear a disconnect before the
  // connections close.
  for (auto& [t, e] : topics_) router_.leave(t, sh_.now(), out_);
  process();
}

void gossip_driver::finish_stop() {
  timers_.clear();
  for (auto& [t, e] : topics_) {
    close_receivers(e, error{errc::node_stopped});
    for (auto& [id, w] : e.join_waiters) {
      w.timer->cancel();
      w.done(error{errc::node_stopped});
    }
    e.join_waiters.clear();
    std::lock_guard lock(e.mirror->mu);
    e.mirror->neighbors.clear();
  }
  for (auto& b : backlog_) {
    if (b.deadline) b.deadline->cancel();
    b.done(error{errc::node_stopped});
  }
  backlog_.clear();
}

void gossip_driver::add_stats(node_stats& s) const {
  s.unknown_topic_messages = unknown_topic_;
  s.undecodable_messages = undecodable_;
  s.lagged_events = lagged_;
  s.topics = topics_.size();
  for (const auto& t : router_.topics()) {
    const auto* st = router_.find(t);
    add_to(s.gossip, router_.counters(t), st ? st->broadcast().eager().size() : 0,
           st ? st->broadcast().lazy().size() : 0);
  }
  for (const auto& [t, e] : topics_)
    for (const auto& w : e.receivers)
      if (auto r = w.lock()) {
        ++s.receivers;
        if (r->waiting()) ++s.waiters;
      }
}

}  // namespace topicswarm::detail
