#include "node/node_impl.hpp"

#include "node/config_map.hpp"

#include "dht/bep44.hpp"
#include "gossip/codec.hpp"
#include "gossip/plumtree.hpp"
#include "gossip/topic_state.hpp"

#include <asio/co_spawn.hpp>

#include <algorithm>
#include <random>

namespace topicswarm::detail {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;

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
  if (released) return;
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

node_impl::~node_impl() { shutdown(); }

result<std::shared_ptr<node_impl>> node_impl::create(node_config cfg) {
  if (auto v = validate(cfg); !v) return v.error();
  std::shared_ptr<node_impl> n(new node_impl(std::move(cfg)));
  const std::size_t max_payload = 1 + gossip::max_encoded_size(n->gcfg_.max_message_size);
  auto t =
      net::transport::create(n->io_, n->identity_.keys(), n->cfg_.listen, to_net(n->cfg_.transport, max_payload), *n);
  if (!t) return t.error();
  n->transport_ = std::move(*t);
  n->transport_->handle_kind(net::frame_kind::gossip,
                             [raw = n.get()](const node_id& p, byte_span b) { raw->on_gossip(p, b); });
  n->listen_ = n->transport_->local_endpoints();
  n->me_.id = n->identity_.id();
  if (!n->cfg_.advertise.empty()) {
    for (auto a : n->cfg_.advertise) {
      if (a.port == 0) {
        auto bound =
            std::find_if(n->listen_.begin(), n->listen_.end(), [&](const endpoint& l) { return l.fam == a.fam; });
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
  const std::uint64_t seed =
      n->cfg_.rng_seed ? *n->cfg_.rng_seed : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  n->rng_seed_ = seed;
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
  std::vector<core::peer_info> peers;
  for (auto& p : bootstrap) {
    if (p.id == me_.id) continue;
    book_.add(p.id, p.addresses);
    peers.push_back(core::peer_info{p.id, p.addresses});
  }
  // Also creates the topic's state in the router when there are no peers.
  router_->handle(t, gossip::in::join_peers{std::move(peers)}, now(), out_);
  process();
}

result<void> node_impl::attach_auto_discovery(const topic_id& t, std::shared_ptr<receiver_state> r, auto_discovery_setup setup) {
  if (stopped_) return error{errc::node_stopped};
  if (!dht_)
    return error{errc::invalid_argument, "auto-discovery needs the DHT: enable node_config::dht (or attach_testnet)"};
  if (auto v = setup.config.validate(); !v) return v.error();
  if (auto it = topics_.find(t); it != topics_.end() && it->second.disc)
    return error{errc::invalid_argument, "auto-discovery already runs for topic " + t.to_string()};
  attach(t, std::move(r), {});
  auto& e = topics_.at(t);
  const std::uint64_t seed = core::mix_seed(rng_seed_ ^ std::hash<topic_id>{}(t) ^ ++discovery_incarnations_);
  e.disc =
      std::make_unique<auto_discovery_state>(tracker::tracker(me_.id, setup.config, seed),
                                  record_codec(t, setup.secret, std::move(setup.rotation)), discovery_incarnations_,
                                  setup.config.timeouts);
  {
    std::lock_guard lock(e.mirror->mu);
    e.mirror->auto_discovery = true;
  }
  // Peers that joined us before we started count: tell the core.
  for (const auto& p : e.neighbors) feed_tracker(t, tracker::in::neighbor_up{p});
  feed_tracker(t, tracker::in::start{});
  return {};
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
    e.mirror->auto_discovery = false;
    e.mirror->records_seen = 0;
  }
  topics_.erase(it);
  for (auto p = probes_.begin(); p != probes_.end();) {
    p->second.erase(t);
    p = p->second.empty() ? probes_.erase(p) : std::next(p);
  }
  for (auto i = timers_.begin(); i != timers_.end();) i = i->second.topic == t ? timers_.erase(i) : std::next(i);
  for (auto b = backlog_.begin(); b != backlog_.end();) {
    if (b->topic == t) {
      aborts_.erase(b->done.id());
      if (b->deadline) b->deadline->cancel();
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
  std::vector<core::peer_info> infos;
  for (auto& p : peers) {
    if (p.id == me_.id) continue;
    book_.add(p.id, p.addresses);
    infos.push_back(core::peer_info{p.id, p.addresses});
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
    std::shared_ptr<asio::steady_timer> deadline;
    if (const auto& d = topics_.at(t).disc) {
      const auto limit = sc == gossip::scope::neighbors ? d->timeouts.broadcast_neighbors_timeout
                                                        : d->timeouts.broadcast_timeout;
      deadline = std::make_shared<asio::steady_timer>(io_, limit);
      deadline->async_wait([this, id, limit](std::error_code ec) {
        if (ec || stopped_) return;
        for (auto b = backlog_.begin(); b != backlog_.end(); ++b)
          if (b->done.id() == id) {
            auto done = b->done;
            backlog_.erase(b);
            aborts_.erase(id);
            done(error{errc::timeout, "broadcast held back by a slow neighbour for " + std::to_string(limit.count()) +
                                          " ms (timeouts.broadcast_timeout)"});
            return;
          }
      });
    }
    backlog_.push_back(pending_broadcast{t, std::move(content), sc, done, deadline});
    aborts_[id] = [this, id] {
      for (auto b = backlog_.begin(); b != backlog_.end(); ++b)
        if (b->done.id() == id) {
          if (b->deadline) b->deadline->cancel();
          b->done(error{errc::operation_aborted});
          backlog_.erase(b);
          return;
        }
    };
    return;
  }
  if (topics_.at(t).disc) feed_tracker(t, tracker::in::message_seen{gossip::plumtree::id_of(content)});
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
    if (b.deadline) b.deadline->cancel();
    if (auto it = topics_.find(b.topic); it != topics_.end() && it->second.disc)
      feed_tracker(b.topic, tracker::in::message_seen{gossip::plumtree::id_of(b.content)});
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
    if (!ec) finish(error{errc::timeout, "no neighbour within " + std::to_string(timeout.count()) + " ms"});
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
            feed_tracker(r.topic, tracker::in::neighbor_up{o.peer});
          } else if constexpr (std::is_same_v<T, gossip::out::neighbor_down>) {
            neighbor_changed(r.topic, o.peer, false);
            feed_tracker(r.topic, tracker::in::neighbor_down{o.peer});
          } else if constexpr (std::is_same_v<T, gossip::out::received>) {
            auto it = topics_.find(r.topic);
            if (it == topics_.end()) return;
            if (it->second.disc) feed_tracker(r.topic, tracker::in::message_seen{o.id});
            deliver(it->second, event{events::received{std::move(o.content), o.delivered_from, from_core(o.sc)}});
          } else if constexpr (std::is_same_v<T, gossip::out::schedule>) {
            timers_.emplace(now() + o.after, timer_entry{r.topic, std::move(o.t)});
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
    if (auto* g = std::get_if<gossip::timers::timer>(&e.t))
      router_->handle(e.topic, gossip::in::timer_fired{std::move(*g)}, t, out_);
    else if (auto* k = std::get_if<tracker::timers::timer>(&e.t))
      feed_tracker(e.topic, tracker::in::timer_fired{std::move(*k)});
    else if (auto* w = std::get_if<sweep_peer>(&e.t))
      sweep(w->peer);
  }
  process();
}

// --------------------------------------------------------------- transport --

void node_impl::on_connected(const node_id& peer) { probe_answered(peer, true); }

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
  probe_answered(peer, false);
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
  probes_.clear();
  dht_.reset();  // completes its pending operations (their answers are dropped: stopped_)
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
  for (auto& b : backlog_) {
    if (b.deadline) b.deadline->cancel();
    b.done(error{errc::node_stopped});
  }
  backlog_.clear();
  aborts_.clear();
  work_.reset();
}

node_stats node_impl::stats() const {
  node_stats s;
  s.transport = from_net(transport_->stats());
  if (dht_) s.dht = dht_->stats();
  s.unknown_topic_messages = unknown_topic_;
  s.undecodable_messages = undecodable_;
  s.lagged_events = lagged_;
  s.topics = topics_.size();
  for (const auto& t : router_->topics()) {
    const auto* st = router_->find(t);
    add_to(s.gossip, router_->counters(t), st ? st->broadcast().eager().size() : 0,
           st ? st->broadcast().lazy().size() : 0);
  }
  s.auto_discovery.dht_ops_in_flight = dht_ops_;
  for (const auto& [t, e] : topics_)
    if (e.disc) add_to(s.auto_discovery, e.disc->core.stats());
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

// ------------------------------------------------------------ auto-discovery --

namespace {
// A tracker-dialled connection no topic adopted is closed after this long
// (a join it carries has long been answered by then).
constexpr std::chrono::seconds sweep_after{10};
// Slot keys of this many (window, slot) pairs are kept per topic; a round
// needs 2 x max_bootstrap_records of them.
constexpr std::size_t max_cached_slots = 256;

// co_spawn needs a default-constructible value; a put's is whether a node stored it.
asio::awaitable<bool> stored(asio::awaitable<result<dht::put_result>> op) {
  auto r = co_await std::move(op);
  co_return r && r->nodes_stored > 0;
}
}  // namespace

const record_slot& node_impl::auto_discovery_state::slot(std::uint64_t window, unsigned index) {
  auto it = slots.find({window, index});
  if (it == slots.end()) {
    if (slots.size() >= max_cached_slots) slots.erase(slots.begin());  // the oldest window first
    it = slots.emplace(std::make_pair(window, index), record_slot_for(codec.topic(), window, index)).first;
  }
  return it->second;
}

tracker::clock node_impl::tracker_clock() const {
  const auto unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  return tracker::clock{now(), static_cast<std::uint64_t>(unix_ms)};
}

void node_impl::feed_tracker(const topic_id& t, tracker::in::input in) {
  if (stopped_) return;
  auto it = topics_.find(t);
  if (it == topics_.end() || !it->second.disc) return;
  std::vector<tracker::out::output> outs;
  // Only a DHT read changes what records we have seen; every delivered
  // message also comes through here, so the mirror is not touched for those.
  const bool read = std::holds_alternative<tracker::in::get_done>(in);
  it->second.disc->core.handle(std::move(in), tracker_clock(), outs);
  if (read) {
    std::lock_guard lock(it->second.mirror->mu);
    it->second.mirror->records_seen = it->second.disc->core.status().records_seen;
  }
  perform_tracker(t, outs);
}

void node_impl::perform_tracker(const topic_id& t, std::vector<tracker::out::output>& outs) {
  for (auto& o : outs) {
    std::visit(
        [&](auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, tracker::out::dht_get>) {
            tracker_get(t, x);
          } else if constexpr (std::is_same_v<T, tracker::out::dht_put>) {
            tracker_put(t, x);
          } else if constexpr (std::is_same_v<T, tracker::out::dial>) {
            tracker_dial(t, x.peer);
          } else if constexpr (std::is_same_v<T, tracker::out::join>) {
            for (const auto& p : x.peers) book_.add(p.id, p.addresses);
            router_->handle(t, gossip::in::join_peers{std::move(x.peers)}, now(), out_);
            process();  // a no-op when we are inside process(): its loop performs these
          } else if constexpr (std::is_same_v<T, tracker::out::schedule>) {
            timers_.emplace(now() + x.after, timer_entry{t, std::move(x.t)});
            arm_timer();
          } else if constexpr (std::is_same_v<T, tracker::out::joined>) {
            // Waiters are woken by the neighbour event itself (neighbor_changed).
          } else if constexpr (std::is_same_v<T, tracker::out::view_wanted>) {
            tracker::in::view v;
            v.known = router_->active_view(t);
            for (const auto& p : router_->passive_view(t)) v.known.push_back(p);
            feed_tracker(t, std::move(v));
          }
        },
        o);
  }
}

void node_impl::tracker_get(const topic_id& t, const tracker::out::dht_get& g) {
  auto& d = *topics_.at(t).disc;
  const record_slot& sl = d.slot(g.window, g.slot);
  ++dht_ops_;
  auto op = dht_->get_mutable(sl.key(), sl.salt, std::chrono::duration_cast<std::chrono::milliseconds>(g.timeout));
  asio::co_spawn(io_, std::move(op), [this, t, inc = d.incarnation, g](std::exception_ptr e, dht::get_result r) {
    --dht_ops_;
    if (e || stopped_) return;
    auto it = topics_.find(t);
    if (it == topics_.end() || !it->second.disc || it->second.disc->incarnation != inc) return;
    tracker::in::get_done done{g.request, tracker::get_outcome::empty, std::nullopt};
    if (!r.item) {
      // A lookup that ended found nothing; one cut short by its deadline knows nothing.
      done.outcome = r.complete ? tracker::get_outcome::empty : tracker::get_outcome::timeout;
    } else if (auto rec = it->second.disc->codec.open(r.item->value, g.window)) {
      done.outcome = tracker::get_outcome::record;
      done.record = std::move(*rec);
    } else {
      done.outcome = tracker::get_outcome::invalid;
    }
    feed_tracker(t, std::move(done));
    process();
  });
}

std::vector<endpoint> node_impl::record_addresses() const {
  if (!me_.addresses.empty()) return me_.addresses;
  std::vector<endpoint> a;
  if (!dht_) return a;
  if (auto ext = dht_->external_address()) {
    for (const auto& l : listen_)
      if (l.fam == ext->fam) {
        endpoint e = *ext;
        e.port = l.port;
        a.push_back(e);
        break;
      }
  }
  return a;
}

void node_impl::tracker_put(const topic_id& t, const tracker::out::dht_put& p) {
  auto& d = *topics_.at(t).disc;
  topic_record rec;
  rec.topic = t;
  rec.window = p.window;
  rec.publisher = me_.id;
  rec.addresses = record_addresses();
  if (rec.addresses.size() > max_record_addresses) rec.addresses.resize(max_record_addresses);
  for (const auto& id : p.neighbors) {
    auto addrs = book_.find(id);
    if (addrs.empty()) continue;  // a neighbour nobody can dial is no use to a reader
    if (addrs.size() > max_record_addresses) addrs.resize(max_record_addresses);
    rec.neighbors.push_back(record_neighbor{id, std::move(addrs)});
  }
  rec.recent_messages = p.recent_messages;
  rec.timestamp_ms = static_cast<std::uint64_t>(p.seq);
  auto sealed = d.codec.seal(rec, identity_);
  if (!sealed) {  // only if our own lists broke the format's limits: report a failed put
    post([this, t, inc = d.incarnation, req = p.request] {
      auto it = topics_.find(t);
      if (it != topics_.end() && it->second.disc && it->second.disc->incarnation == inc) {
        feed_tracker(t, tracker::in::put_done{req, false});
        process();
      }
    });
    return;
  }
  const record_slot& sl = d.slot(p.window, p.slot);
  ++dht_ops_;
  auto op = dht_->put_mutable(sl.signer, sl.salt, std::move(*sealed), p.seq,
                              std::chrono::duration_cast<std::chrono::milliseconds>(p.timeout));
  asio::co_spawn(io_, stored(std::move(op)),
                 [this, t, inc = d.incarnation, req = p.request](std::exception_ptr e, bool ok) {
                   --dht_ops_;
                   if (e || stopped_) return;
                   auto it = topics_.find(t);
                   if (it == topics_.end() || !it->second.disc || it->second.disc->incarnation != inc) return;
                   feed_tracker(t, tracker::in::put_done{req, ok});
                   process();
                 });
}

void node_impl::tracker_dial(const topic_id& t, const core::peer_info& peer) {
  if (transport_->connected(peer.id)) {
    // Answer on a later turn: the core is still handing out its outputs.
    post([this, t, id = peer.id] {
      feed_tracker(t, tracker::in::dial_done{id, true});
      process();
    });
    return;
  }
  book_.add(peer.id, peer.addresses);
  probes_[peer.id].insert(t);
  transport_->dial(peer.id, peer.addresses);
  if (!transport_->dialling(peer.id) && !transport_->connected(peer.id)) {
    // Refused at once (e.g. the connection cap): a failed dial.
    probes_[peer.id].erase(t);
    if (probes_[peer.id].empty()) probes_.erase(peer.id);
    post([this, t, id = peer.id] {
      feed_tracker(t, tracker::in::dial_done{id, false});
      process();
    });
  }
}

void node_impl::probe_answered(const node_id& peer, bool ok) {
  auto it = probes_.find(peer);
  if (it == probes_.end()) return;
  const auto topics = std::move(it->second);
  probes_.erase(it);
  for (const auto& t : topics) feed_tracker(t, tracker::in::dial_done{peer, ok});
  if (ok) {
    timers_.emplace(now() + std::chrono::duration_cast<core::duration>(sweep_after),
                    timer_entry{topic_id{}, sweep_peer{peer}});
    arm_timer();
  }
}

void node_impl::sweep(const node_id& peer) {
  if (stopped_ || !transport_->connected(peer) || probes_.contains(peer)) return;
  for (const auto& t : router_->topics()) {
    for (const auto& id : router_->active_view(t))
      if (id == peer) return;
  }
  transport_->close_after_flush(peer);
}

}  // namespace topicswarm::detail
