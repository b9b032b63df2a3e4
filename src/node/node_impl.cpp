#include "node/node_impl.hpp"

#include "gossip/codec.hpp"
#include "gossip/topic_state.hpp"

#include <asio/co_spawn.hpp>

#include <algorithm>
#include <random>

namespace topicswarm::detail {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;

gossip::config to_core(const gossip_config& g) {
  gossip::config c;
  c.membership.active_view_capacity = g.active_view_capacity;
  c.membership.passive_view_capacity = g.passive_view_capacity;
  c.membership.active_random_walk_length = g.active_random_walk_length;
  c.membership.passive_random_walk_length = g.passive_random_walk_length;
  c.membership.shuffle_interval = duration_cast<microseconds>(g.shuffle_interval);
  c.membership.neighbor_request_timeout = duration_cast<microseconds>(g.neighbor_request_timeout);
  c.broadcast.lazy_push_interval = duration_cast<microseconds>(g.lazy_push_interval);
  c.broadcast.graft_timeout_1 = duration_cast<microseconds>(g.graft_timeout_1);
  c.broadcast.graft_timeout_2 = duration_cast<microseconds>(g.graft_timeout_2);
  c.broadcast.optimization_threshold = g.optimization_threshold;
  c.broadcast.message_cache_retention = duration_cast<microseconds>(g.message_cache_retention);
  c.broadcast.message_id_retention = duration_cast<microseconds>(g.message_id_retention);
  c.broadcast.message_cache_capacity = g.message_cache_capacity;
  c.broadcast.message_cache_bytes = g.message_cache_bytes;
  c.broadcast.message_id_capacity = g.message_id_capacity;
  c.max_message_size = g.max_message_size;
  return c;
}

result<void> validate(const node_config& c) {
  const auto& g = c.gossip;
  if (g.max_message_size == 0 || g.max_message_size > gossip::limits::max_content_size)
    return {errc::invalid_argument, "gossip.max_message_size must be between 1 and " +
                                        std::to_string(gossip::limits::max_content_size) + " bytes"};
  if (g.active_view_capacity == 0) return {errc::invalid_argument, "gossip.active_view_capacity must be at least 1"};
  if (g.lazy_push_interval.count() <= 0 || g.graft_timeout_1.count() <= 0 || g.graft_timeout_2.count() <= 0 ||
      g.shuffle_interval.count() <= 0 || g.neighbor_request_timeout.count() <= 0)
    return {errc::invalid_argument, "gossip intervals and timeouts must be positive"};
  const auto& t = c.transport;
  if (t.max_connections == 0 || t.max_pending_handshakes == 0)
    return {errc::invalid_argument, "transport.max_connections and max_pending_handshakes must be at least 1"};
  if (t.connect_timeout.count() <= 0 || t.handshake_timeout.count() <= 0 || t.idle_timeout.count() <= 0 ||
      t.keepalive_interval.count() <= 0 || t.send_stall_timeout.count() <= 0)
    return {errc::invalid_argument, "transport timeouts must be positive"};
  if (t.keepalive_interval >= t.idle_timeout)
    return {errc::invalid_argument, "transport.keepalive_interval must be shorter than idle_timeout"};
  if (t.send_backpressure_bytes == 0 || t.send_backpressure_bytes > t.max_send_queue_bytes)
    return {errc::invalid_argument, "transport.send_backpressure_bytes must be in (0, max_send_queue_bytes]"};
  if (c.event_queue_capacity == 0) return {errc::invalid_argument, "event_queue_capacity must be at least 1"};
  return {};
}

bool unspecified(const endpoint& e) {
  return std::all_of(e.ip.begin(), e.ip.begin() + (e.is_v4() ? 4 : 16), [](std::uint8_t b) { return b == 0; });
}

delivery_scope from_core(gossip::scope s) {
  return s == gossip::scope::neighbors ? delivery_scope::neighbors : delivery_scope::swarm;
}

}  // namespace

// ------------------------------------------------------------ receiver_state --

void receiver_state::push(const event& ev, std::uint64_t& lagged) {
  waiter_fn w;
  {
    std::lock_guard lock(mu_);
    if (waiter_) {
      w = std::move(waiter_);
      waiter_ = nullptr;
    } else {
      if (queue_.size() >= capacity) {
        queue_.pop_front();
        ++missed_;
        ++lagged;
      }
      queue_.push_back(ev);
    }
  }
  if (w) w(ev);
}

void receiver_state::close(const error& why) {
  waiter_fn w;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = why;
    w = std::move(waiter_);  // a waiter implies an empty queue
    waiter_ = nullptr;
  }
  if (w) w(why);
}

bool receiver_state::waiting() const {
  std::lock_guard lock(mu_);
  return static_cast<bool>(waiter_);
}

std::optional<result<event>> receiver_state::take_locked() {
  if (missed_ > 0) {
    const auto m = missed_;
    missed_ = 0;
    return result<event>{event{events::lagged{m}}};
  }
  if (!queue_.empty()) {
    event ev = std::move(queue_.front());
    queue_.pop_front();
    return result<event>{std::move(ev)};
  }
  if (closed_) return result<event>{*closed_};
  return std::nullopt;
}

std::optional<result<event>> receiver_state::try_take() {
  std::lock_guard lock(mu_);
  return take_locked();
}

bool receiver_state::set_waiter(waiter_fn w, std::uint64_t id) {
  std::lock_guard lock(mu_);
  if (waiter_ || !queue_.empty() || missed_ > 0 || closed_) return false;
  waiter_ = std::move(w);
  waiter_id_ = id;
  return true;
}

void receiver_state::cancel(std::uint64_t id) {
  waiter_fn w;
  {
    std::lock_guard lock(mu_);
    if (!waiter_ || waiter_id_ != id) return;
    w = std::move(waiter_);
    waiter_ = nullptr;
  }
  w(error{errc::operation_aborted});
}

// -------------------------------------------------------------- topic_shared --

topic_shared::~topic_shared() {
  auto n = node;
  n->post([n, t = id] { n->release(t); });
}

node_impl::node_impl(node_config cfg)
    : cfg_(std::move(cfg)),
      gcfg_(to_core(cfg_.gossip)),
      identity_(cfg_.id ? *cfg_.id : identity::generate()),
      work_(io_.get_executor()),
      epoch_(std::chrono::steady_clock::now()),
      book_(cfg_.address_book_capacity),
      timer_(io_) {}

node_impl::~node_impl() {
  shutdown();
}

result<std::shared_ptr<node_impl>> node_impl::create(node_config cfg) {
  if (auto v = validate(cfg); !v) return v.error();
  std::shared_ptr<node_impl> n(new node_impl(std::move(cfg)));
  const std::size_t max_payload = 1 + gossip::max_encoded_size(n->gcfg_.max_message_size);
  auto t = net::transport::create(n->io_, n->identity_.keys(), n->cfg_.listen, n->cfg_.transport, max_payload, *n);
  if (!t) return t.error();
  n->transport_ = std::move(*t);
  n->listen_ = n->transport_->local_endpoints();
  n->me_.id = n->identity_.id();
  if (!n->cfg_.advertise.empty()) {
    for (auto a : n->cfg_.advertise) {
      if (a.port == 0) {
        auto bound = std::find_if(n->listen_.begin(), n->listen_.end(), [&](const endpoint& l) { return l.fam == a.fam; });
        if (bound == n->listen_.end()) continue;  // nothing of that family listens
        a.port = bound->port;
      }
      n->me_.addresses.push_back(a);
    }
  } else {
    for (const auto& e : n->listen_)
      if (!unspecified(e)) n->me_.addresses.push_back(e);
  }
  if (n->me_.addresses.size() > gossip::limits::max_addresses) n->me_.addresses.resize(gossip::limits::max_addresses);
  const std::uint64_t seed = n->cfg_.rng_seed ? *n->cfg_.rng_seed : (std::uint64_t{std::random_device{}()} << 32) ^
                                                                          std::random_device{}();
  n->router_.emplace(n->me_, n->gcfg_, seed);
  if (n->cfg_.dht.enabled) {
    auto d = dht::client::start(n->io_.get_executor(), n->cfg_.dht.client);
    if (!d) return d.error();
    n->dht_ = std::move(*d);
    n->dht_endpoints_ = n->dht_->listen_endpoints();
  }
  n->transport_->run();
  n->thread_ = std::thread([raw = n.get()] {
    raw->io_.run();
    raw->exited_.set_value();
  });
  return n;
}

bool node_impl::post(std::function<void()> f) {
  std::lock_guard lock(post_mu_);
  if (!accepting_posts_) return false;
  asio::post(io_, std::move(f));
  return true;
}

void node_impl::shutdown() {
  if (!thread_.joinable()) return;
  if (std::this_thread::get_id() == thread_.get_id()) {
    // Only possible if the last reference dies on the node thread itself;
    // the thread cannot join itself, so it is left to finish on its own.
    thread_.detach();
    return;
  }
  post([this] { begin_stop(); });
  // Everything ends once the transport's coroutines see their sockets
  // closed; should anything linger, stop the loop rather than hang.
  auto f = exited_.get_future();
  if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) io_.stop();
  thread_.join();
}

core::instant node_impl::now() const {
  return core::instant(duration_cast<microseconds>(std::chrono::steady_clock::now() - epoch_));
}

std::shared_ptr<topic_mirror> node_impl::mirror_for(const topic_id& t) {
  std::lock_guard lock(mirrors_mu_);
  auto& w = mirrors_[t];
  auto m = w.lock();
  if (!m) {
    m = std::make_shared<topic_mirror>();
    w = m;
  }
  return m;
}

// ------------------------------------------------------------ subscriptions --

void node_impl::attach(const topic_id& t, std::shared_ptr<receiver_state> r, std::vector<peer_addr> bootstrap) {
  if (stopped_) return;
  auto& e = topics_[t];
  ++e.handles;
  if (!e.mirror) e.mirror = mirror_for(t);
  if (r) e.receivers.push_back(r);
  std::vector<gossip::peer_info> peers;
  for (auto& p : bootstrap) {
    if (p.id == me_.id) continue;
    book_.add(p.id, p.addresses);
    peers.push_back(gossip::peer_info{p.id, p.addresses});
  }
  // Also creates the topic's state in the router when there are no peers.
  router_->handle(t, gossip::in::join_peers{std::move(peers)}, now(), out_);
  process();
}

void node_impl::add_receiver(std::shared_ptr<receiver_state> r) {
  if (stopped_) return r->close(error{errc::node_stopped});
  auto it = topics_.find(r->topic);
  if (it == topics_.end()) return r->close(error{errc::topic_closed});
  it->second.receivers.push_back(std::move(r));
}

void node_impl::release(const topic_id& t) {
  auto it = topics_.find(t);
  if (it == topics_.end()) return;
  if (--it->second.handles > 0) return;
  if (!stopped_) {
    router_->leave(t, now(), out_);
    process();
  }
  auto& e = it->second;
  close_receivers(e, error{errc::topic_closed});
  for (auto& [id, w] : e.join_waiters) {
    w.timer->cancel();
    aborts_.erase(id);
    w.done(error{errc::topic_closed});
  }
  {
    std::lock_guard lock(e.mirror->mu);
    e.mirror->neighbors.clear();
  }
  topics_.erase(it);
  for (auto i = timers_.begin(); i != timers_.end();) i = i->second.topic == t ? timers_.erase(i) : std::next(i);
  for (auto b = backlog_.begin(); b != backlog_.end();) {
    if (b->topic == t) {
      aborts_.erase(b->done.id());
      b->done(error{errc::topic_closed});
      b = backlog_.erase(b);
    } else {
      ++b;
    }
  }
  arm_timer();
}

void node_impl::close_receivers(topic_entry& e, const error& why) {
  for (auto& w : e.receivers)
    if (auto r = w.lock()) r->close(why);
  e.receivers.clear();
}

void node_impl::add_addresses(const peer_addr& p) {
  if (p.id != me_.id) book_.add(p.id, p.addresses);
}

void node_impl::join_peers(const topic_id& t, std::vector<peer_addr> peers) {
  if (stopped_ || !topics_.contains(t)) return;
  std::vector<gossip::peer_info> infos;
  for (auto& p : peers) {
    if (p.id == me_.id) continue;
    book_.add(p.id, p.addresses);
    infos.push_back(gossip::peer_info{p.id, p.addresses});
  }
  router_->handle(t, gossip::in::join_peers{std::move(infos)}, now(), out_);
  process();
}

// -------------------------------------------------------------- broadcasts --

void node_impl::broadcast(const topic_id& t, bytes content, gossip::scope sc, completion<result<void>> done) {
  if (stopped_) return done(error{errc::node_stopped});
  if (!topics_.contains(t)) return done(error{errc::topic_closed});
  if (!backlog_.empty() || !transport_->send_ready()) {
    // Back-pressure: wait until the slowest connection has drained.
    const auto id = done.id();
    backlog_.push_back(pending_broadcast{t, std::move(content), sc, done});
    aborts_[id] = [this, id] {
      for (auto b = backlog_.begin(); b != backlog_.end(); ++b)
        if (b->done.id() == id) {
          b->done(error{errc::operation_aborted});
          backlog_.erase(b);
          return;
        }
    };
    return;
  }
  router_->handle(t, gossip::in::broadcast{std::move(content), sc}, now(), out_);
  process();
  done(result<void>{});
}

void node_impl::drain_broadcasts() {
  if (draining_) return;  // process() below calls back in here
  draining_ = true;
  while (!backlog_.empty() && !stopped_ && transport_->send_ready()) {
    auto b = std::move(backlog_.front());
    backlog_.pop_front();
    aborts_.erase(b.done.id());
    router_->handle(b.topic, gossip::in::broadcast{std::move(b.content), b.sc}, now(), out_);
    process();
    b.done(result<void>{});
  }
  draining_ = false;
}

void node_impl::on_send_ready() {
  if (!backlog_.empty()) drain_broadcasts();
}

// ------------------------------------------------------------------ events --

void node_impl::deliver(topic_entry& e, const event& ev) {
  std::erase_if(e.receivers, [&](const std::weak_ptr<receiver_state>& w) {
    auto r = w.lock();
    if (!r) return true;
    r->push(ev, lagged_);
    return false;
  });
}

void node_impl::wait_joined(const topic_id& t, std::chrono::milliseconds timeout, completion<result<void>> done) {
  if (stopped_) return done(error{errc::node_stopped});
  auto it = topics_.find(t);
  if (it == topics_.end()) return done(error{errc::topic_closed});
  if (!it->second.neighbors.empty()) return done(result<void>{});
  const auto id = done.id();
  auto timer = std::make_shared<asio::steady_timer>(io_, timeout);
  it->second.join_waiters.emplace(id, join_waiter{done, timer});
  auto finish = [this, t, id](error why) {
    auto e = topics_.find(t);
    if (e == topics_.end()) return;
    auto w = e->second.join_waiters.find(id);
    if (w == e->second.join_waiters.end()) return;
    auto d = w->second.done;
    w->second.timer->cancel();
    e->second.join_waiters.erase(w);
    aborts_.erase(id);
    d(std::move(why));
  };
  timer->async_wait([finish, timeout](std::error_code ec) {
    if (!ec)
      finish(error{errc::timeout, "no neighbour within " + std::to_string(timeout.count()) + " ms"});
  });
  aborts_[id] = [finish] { finish(error{errc::operation_aborted}); };
}

void node_impl::wait_dht(int min_nodes, std::chrono::milliseconds timeout, completion<result<int>> done) {
  if (stopped_) return done(error{errc::node_stopped});
  if (!dht_) return done(error{errc::invalid_argument, "the DHT is not enabled (node_config::dht)"});
  auto wait = dht_->wait_bootstrapped(min_nodes, timeout);
  asio::co_spawn(io_, std::move(wait), [done](std::exception_ptr, int n) { done(n); });
}

void node_impl::abort_waiter(std::uint64_t id) {
  auto it = aborts_.find(id);
  if (it == aborts_.end()) return;
  auto f = std::move(it->second);
  aborts_.erase(it);
  f();
}

// ------------------------------------------------------------ router output --

void node_impl::process() {
  // Transport callbacks made while we perform outputs (a connection closed
  // by a full send queue, say) append to out_ and return; this loop, the
  // only one, picks their outputs up.
  if (processing_) return;
  processing_ = true;
  std::vector<node_id> unreachable;
  for (std::size_t i = 0; i < out_.size(); ++i) {
    // Copy out: handling may append to out_ (and reallocate it).
    gossip::routed r = std::move(out_[i]);
    std::visit(
        [&](auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, gossip::out::send>) {
            frame_.clear();
            const auto start = net::begin_frame(frame_, net::frame_kind::gossip);
            gossip::encode_to(frame_, r.topic, o.msg);
            net::end_frame(frame_, start);
            auto st = transport_->send(o.to, frame_);
            if (st == net::transport::send_status::no_route) {
              auto addrs = book_.find(o.to);
              if (addrs.empty()) {
                unreachable.push_back(o.to);
              } else {
                transport_->dial(o.to, std::move(addrs));
                transport_->send(o.to, frame_);
              }
            }
          } else if constexpr (std::is_same_v<T, gossip::out::neighbor_up>) {
            neighbor_changed(r.topic, o.peer, true);
          } else if constexpr (std::is_same_v<T, gossip::out::neighbor_down>) {
            neighbor_changed(r.topic, o.peer, false);
          } else if constexpr (std::is_same_v<T, gossip::out::received>) {
            auto it = topics_.find(r.topic);
            if (it == topics_.end()) return;
            deliver(it->second,
                    event{events::received{std::move(o.content), o.delivered_from, from_core(o.sc)}});
          } else if constexpr (std::is_same_v<T, gossip::out::schedule>) {
            timers_.emplace(now() + o.after, timer_entry{r.topic, o.t});
          } else if constexpr (std::is_same_v<T, gossip::out::drop_peer>) {
            transport_->close_after_flush(o.peer);
          } else if constexpr (std::is_same_v<T, gossip::out::peer_data>) {
            if (o.info.id != me_.id) book_.add(o.info.id, o.info.addresses);
          }
        },
        r.o);
    // Peers we cannot reach (no address known): tell the cores, whose
    // reactions (other peers to ask) this loop then performs.
    if (i + 1 == out_.size() && !unreachable.empty()) {
      auto peers = std::move(unreachable);
      unreachable.clear();
      for (const auto& p : peers) router_->peer_disconnected(p, now(), out_);
    }
  }
  out_.clear();
  processing_ = false;
  arm_timer();
  // A connection that held back broadcasts may have closed or been dropped
  // just now: nothing else would wake the waiting broadcasts.
  if (!backlog_.empty()) drain_broadcasts();
}

void node_impl::neighbor_changed(const topic_id& t, const node_id& peer, bool up) {
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
  if (!up) return;
  for (auto& [id, w] : e.join_waiters) {
    w.timer->cancel();
    aborts_.erase(id);
    w.done(result<void>{});
  }
  e.join_waiters.clear();
}

// ------------------------------------------------------------------ timers --

void node_impl::arm_timer() {
  if (stopped_) return;
  if (timers_.empty()) {
    if (timer_armed_for_) {
      timer_.cancel();
      timer_armed_for_.reset();
    }
    return;
  }
  const auto first = timers_.begin()->first;
  if (timer_armed_for_ && *timer_armed_for_ <= first) return;
  timer_armed_for_ = first;
  timer_.expires_at(epoch_ + first.time_since_epoch());
  timer_.async_wait([this](std::error_code ec) {
    if (ec || stopped_) return;
    timer_armed_for_.reset();
    on_timer();
  });
}

void node_impl::on_timer() {
  const auto t = now();
  while (!timers_.empty() && timers_.begin()->first <= t) {
    auto e = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    router_->handle(e.topic, gossip::in::timer_fired{std::move(e.t)}, t, out_);
  }
  process();
}

// --------------------------------------------------------------- transport --

void node_impl::on_connected(const node_id&) {}

void node_impl::on_gossip(const node_id& peer, byte_span body) {
  auto d = gossip::decode(body, gcfg_.max_message_size);
  if (!d) {
    ++undecodable_;
    return;
  }
  auto& [topic, msg] = *d;
  if (!topics_.contains(topic)) {
    ++unknown_topic_;
    return;
  }
  router_->handle(topic, gossip::in::received{peer, std::move(msg)}, now(), out_);
  process();
}

void node_impl::on_disconnected(const node_id& peer, const error&) {
  if (stopped_) return;
  router_->peer_disconnected(peer, now(), out_);
  process();  // a no-op when called from inside process(), which continues with these outputs
}

// -------------------------------------------------------------------- stop --

void node_impl::begin_stop() {
  if (stopped_) return;
  // Leave every topic so neighbours hear a disconnect, then give the
  // connections a moment to flush it before closing them all.
  for (auto& [t, e] : topics_) router_->leave(t, now(), out_);
  process();
  stopped_ = true;
  {
    std::lock_guard lock(post_mu_);
    accepting_posts_ = false;
  }
  auto flush = std::make_shared<asio::steady_timer>(io_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
  auto wait = std::make_shared<std::function<void()>>();
  *wait = [this, flush, deadline, wait] {
    if (transport_->stats().queued_bytes == 0 || std::chrono::steady_clock::now() >= deadline) {
      finish_stop();
      *wait = nullptr;  // break the cycle
      return;
    }
    flush->expires_after(std::chrono::milliseconds(5));
    flush->async_wait([wait](std::error_code) {
      if (*wait) (*wait)();
    });
  };
  (*wait)();
}

void node_impl::finish_stop() {
  transport_->stop();
  dht_.reset();  // completes its pending operations
  timer_.cancel();
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
  for (auto& b : backlog_) b.done(error{errc::node_stopped});
  backlog_.clear();
  aborts_.clear();
  work_.reset();
}

node_stats node_impl::stats() const {
  node_stats s;
  s.transport = transport_->stats();
  if (dht_) s.dht = dht_->stats();
  s.unknown_topic_messages = unknown_topic_;
  s.undecodable_messages = undecodable_;
  s.lagged_events = lagged_;
  s.topics = topics_.size();
  for (const auto& t : router_->topics()) {
    const auto c = router_->counters(t);
    s.gossip.messages_sent += c.messages_sent;
    s.gossip.messages_received += c.messages_received;
    s.gossip.delivered += c.gossip_delivered;
    s.gossip.duplicates += c.gossip_duplicates;
    s.gossip.ihave_sent += c.ihave_sent;
    s.gossip.graft_sent += c.graft_sent;
    s.gossip.prune_sent += c.prune_sent;
    s.gossip.prunes_withheld += c.prunes_withheld;
    s.gossip.eager_announcements += c.eager_announcements;
    s.gossip.invalid_messages += c.invalid_messages;
    s.gossip.neighbor_up += c.neighbor_up;
    s.gossip.neighbor_down += c.neighbor_down;
    s.gossip.shuffles += c.shuffles;
    if (const auto* st = router_->find(t)) {
      s.gossip.eager_links += st->broadcast().eager().size();
      s.gossip.lazy_links += st->broadcast().lazy().size();
    }
  }
  s.timers = timers_.size();
  s.tasks = transport_->tasks();
  s.waiters = aborts_.size();
  s.address_book = book_.size();
  for (const auto& [t, e] : topics_)
    for (const auto& w : e.receivers)
      if (auto r = w.lock()) {
        ++s.receivers;
        if (r->waiting()) ++s.waiters;
      }
  return s;
}

}  // namespace topicswarm::detail
