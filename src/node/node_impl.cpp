#include "node/node_impl.hpp"

#include "node/interfaces.hpp"

#include "discovery/wire.hpp"
#include "gossip/codec.hpp"
#include "node/config_map.hpp"

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

std::optional<bool> forced(dial_policy::mode m) {
  switch (m) {
    case dial_policy::mode::always:
      return true;
    case dial_policy::mode::never:
      return false;
    case dial_policy::mode::automatic:
      break;
  }
  return std::nullopt;
}

core::address_policy::overrides to_overrides(const dial_policy& d) {
  return {forced(d.loopback), forced(d.private_networks)};
}

}  // namespace

topic_shared::~topic_shared() {
  if (released) return;
  auto n = node;
  n->post([n, t = wire] { n->release(t); });
}

node_impl::node_impl(node_config cfg)
    : cfg_(std::move(cfg)),
      identity_(cfg_.id ? *cfg_.id : identity::generate()),
      work_(io_.get_executor()),
      epoch_(std::chrono::steady_clock::now()),
      book_(cfg_.address_book_capacity),
      timer_(io_),
      interfaces_timer_(io_) {}

node_impl::~node_impl() { shutdown(); }

result<std::shared_ptr<node_impl>> node_impl::create(node_config cfg, std::vector<extra_kind> extra_kinds) {
  if (auto v = validate(cfg); !v) return v.error();
  std::shared_ptr<node_impl> n(new node_impl(std::move(cfg)));
  const gossip::config gcfg = to_core(n->cfg_.gossip);
  // The largest frame either side sends: a gossip message at the size
  // limit, or a full discovery frame (a fetch response of 16 entries).
  const std::size_t max_payload =
      1 + std::max(gossip::max_encoded_size(gcfg.max_message_size), discovery::wire::limits::max_frame_body);
  auto ncfg = to_net(n->cfg_.transport, max_payload);
  ncfg.reverse_timeout = n->cfg_.reachability.reversal_timeout;
  ncfg.relay_max_bytes = n->cfg_.reachability.relay_max_bytes;
  ncfg.relay_max_duration = n->cfg_.reachability.relay_max_duration;
  auto t = net::transport::create(n->io_, n->identity_.keys(), n->cfg_.listen, ncfg, *n);
  if (!t) return t.error();
  n->transport_ = std::move(*t);
  n->listen_ = n->transport_->local_endpoints();
  n->me_.id = n->identity_.id();
  n->set_addresses(n->current_addresses());
  const std::uint64_t seed =
      n->cfg_.rng_seed ? *n->cfg_.rng_seed : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  if (n->cfg_.dht.enabled) {
    auto dcfg = n->cfg_.dht.client;
    if (n->cfg_.reachability.enabled && n->cfg_.reachability.port_mapping) dcfg.port_mapping = true;
    auto d = dht::client::start(n->io_.get_executor(), dcfg);
    if (!d) return d.error();
    n->dht_ = std::move(*d);
    n->dht_endpoints_ = n->dht_->listen_endpoints();
  }
  // The drivers: one per protocol core.
  const auto& to = n->cfg_.timeouts;
  n->admission_ =
      std::make_unique<admission_driver>(*n, to_admission(n->cfg_.transport), n->cfg_.transport.max_dial_queue_bytes);
  n->gossip_ = std::make_unique<gossip_driver>(
      *n, *n->admission_, gcfg, seed,
      topic_timeouts{to.join_peer_timeout, to.broadcast_timeout, to.broadcast_neighbors_timeout});
  n->admission_->set_listener(n->gossip_.get());
  n->auto_discovery_ = std::make_unique<auto_discovery_driver>(*n, *n->gossip_, seed);
  n->gossip_->add_observer(n->auto_discovery_.get());
  n->discovery_ = std::make_unique<discovery_driver>(*n, *n->gossip_, *n->admission_, seed);
  n->gossip_->add_observer(n->discovery_.get());
  n->auto_discovery_->set_catalog(n->discovery_.get());
  n->drivers_ = {n->admission_.get(), n->gossip_.get(), n->auto_discovery_.get(), n->discovery_.get()};
  n->local_addresses_ = n->current_addresses();
  if (n->cfg_.reachability.enabled) {
    n->nat_ = std::make_unique<nat_driver>(*n, n->cfg_.reachability, seed ^ 0x6e6174);
    n->nat_->attach(*n->transport_);
    n->nat_->set_policy(n->book_.policy());
    n->nat_->set_local(n->local_addresses_, n->listen_);
    n->nat_->on_changed([raw = n.get()] { raw->reachability_changed(); });
    n->drivers_.push_back(n->nat_.get());
    if (n->dht_ && n->cfg_.reachability.port_mapping) {
      n->dht_->on_port_mapping([raw = n.get()](const dht::port_mapping_event& e) { raw->on_port_mapping(e); });
      // The listen port of the first IPv4 listener (the one NAT-PMP and
      // UPnP IGD v1 can map).
      for (const auto& l : n->listen_)
        if (l.is_v4()) {
          n->dht_->map_tcp_port(l.port);
          break;
        }
    }
  }
  if (n->cfg_.lan.enabled) {
    n->lan_ = std::make_unique<lan_driver>(*n, *n->gossip_, n->cfg_.lan);
    if (auto ok = n->lan_->start(n->listen_); !ok) return ok.error();
    n->gossip_->add_observer(n->lan_.get());
    n->drivers_.push_back(n->lan_.get());
  }
  // Frames by kind: what the hello tells peers we speak.
  n->transport_->handle_kind(net::frame_kind::gossip,
                             [raw = n->gossip_.get()](const node_id& p, byte_span b) { raw->on_frame(p, b); });
  n->transport_->handle_kind(net::frame_kind::catalog,
                             [raw = n->discovery_.get()](const node_id& p, byte_span b) { raw->on_frame(p, b); });
  n->transport_->handle_kind(
      net::frame_kind::admission,
      net::link_frame_handler([raw = n->admission_.get()](const node_id& p, const net::link_info& l, byte_span b) {
        raw->on_frame(p, l, b);
      }));
  for (auto& x : extra_kinds) n->transport_->handle_kind(x.kind, std::move(x.handler));

  n->transport_->run();
  n->watch_interfaces();  // armed before the thread runs the loop
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

bool node_impl::run_hashing(std::function<void()> job) {
  std::lock_guard lock(hashing_mu_);
  if (hashing_closed_) return false;
  if (!hashing_) hashing_ = std::make_unique<asio::thread_pool>(1);
  asio::post(*hashing_, std::move(job));
  return true;
}

void node_impl::shutdown() {
  std::unique_ptr<asio::thread_pool> hashing;
  {
    std::lock_guard lock(hashing_mu_);
    hashing_closed_ = true;
    hashing = std::move(hashing_);
  }
  if (hashing) hashing->join();  // a hash in progress finishes; its caller's executor gets the result
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

std::uint64_t node_impl::unix_ms() const {
  const auto ms = duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return static_cast<std::uint64_t>(ms);
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

std::vector<endpoint> node_impl::current_addresses() const {
  std::vector<endpoint> out;
  if (!cfg_.advertise.empty()) {
    for (auto a : cfg_.advertise) {
      if (a.port == 0) {
        auto bound = std::find_if(listen_.begin(), listen_.end(), [&](const endpoint& l) { return l.fam == a.fam; });
        if (bound == listen_.end()) continue;  // nothing of that family listens
        a.port = bound->port;
      }
      out.push_back(a);
    }
  } else {
    for (const auto& e : listen_) {
      if (!unspecified(e)) {
        out.push_back(e);
      } else if (cfg_.advertise_interfaces) {
        for (const auto& i : interface_addresses(e.fam, e.port))
          if (std::find(out.begin(), out.end(), i) == out.end()) out.push_back(i);
      }
    }
  }
  if (out.size() > gossip::limits::max_addresses) out.resize(gossip::limits::max_addresses);
  return out;
}

void node_impl::set_addresses(std::vector<endpoint> a) {
  me_.addresses = std::move(a);
  // The networks we are on, from our own addresses: which hints we dial.
  std::vector<endpoint> own = listen_;
  own.insert(own.end(), me_.addresses.begin(), me_.addresses.end());
  // LAN discovery beacons on every IPv4 interface when we listen on
  // 0.0.0.0: the members it finds there are on those networks, so their
  // (private) addresses may be dialled.
  if (cfg_.lan.enabled)
    for (const auto& l : listen_)
      if (l.is_v4() && unspecified(l))
        for (const auto& i : interface_addresses(endpoint::family::v4, 0))
          if (!i.is_loopback()) own.push_back(i);
  book_.set_policy(core::address_policy(own, to_overrides(cfg_.dialing)));
  if (nat_) nat_->set_policy(book_.policy());
  std::lock_guard lock(advertised_mu_);
  advertised_ = me_.addresses;
}

void node_impl::watch_interfaces() {
  if (stopped_ || !cfg_.advertise_interfaces || !cfg_.advertise.empty()) return;
  interfaces_timer_.expires_after(cfg_.interface_check_interval);
  interfaces_timer_.async_wait([this](std::error_code ec) {
    if (ec || stopped_) return;
    auto now = current_addresses();
    if (now != local_addresses_) {
      local_addresses_ = std::move(now);
      // Connections from an address we no longer hold are dead: close them
      // now, so the overlay repairs at once instead of after the idle timeout.
      transport_->close_stranded();
      // The DHT's sockets are bound to interface addresses: the old one is
      // gone, and the new one needs a socket and a routing table.
      if (dht_) dht_->network_changed();
      if (nat_) nat_->set_local(local_addresses_, listen_);  // may advertise anew (reachability_changed)
      if (chosen_addresses() != me_.addresses) {
        set_addresses(chosen_addresses());
        addresses_updated();
      }
    }
    watch_interfaces();
  });
}

std::vector<endpoint> node_impl::chosen_addresses() const {
  if (!cfg_.advertise.empty() || !nat_) return local_addresses_;
  auto a = nat_->advertised();
  if (a.size() > gossip::limits::max_addresses) a.resize(gossip::limits::max_addresses);
  return a;
}

void node_impl::addresses_updated() {
  gossip_->set_my_addresses(me_.addresses);
  discovery_->addresses_changed();
  // Records name the addresses of their put (record_addresses()): each
  // topic publishes once, soon, rather than at its next refresh.
  auto_discovery_->addresses_changed();
}

void node_impl::reachability_changed() {
  if (stopped_) return;
  auto a = chosen_addresses();
  if (a != me_.addresses) {
    set_addresses(std::move(a));
    addresses_updated();
  }
  emit(events::reachability_changed{nat_->status(), me_.addresses});
}

topicswarm::network_status node_impl::network_status() const {
  topicswarm::network_status s;
  if (nat_) s = nat_->network_status();
  s.advertised = me_.addresses;
  for (const auto& [via, m] : mappings_) s.mappings.push_back(m);
  if (transport_) {
    for (const auto& peer : transport_->connected_peers()) {
      auto l = transport_->link(peer);
      if (!l) continue;
      s.connections.push_back(connection_status{peer, l->remote, l->local,
                                                l->path == net::link_path::punched   ? "punched"
                                                : l->path == net::link_path::relayed ? "relayed"
                                                                                     : "direct",
                                                l->client});
    }
  }
  return s;
}

void node_impl::on_port_mapping(const dht::port_mapping_event& e) {
  if (stopped_ || !nat_) return;
  events::port_mapping m{e.ok, e.via, e.local_port, e.external, e.error};
  auto& last = mappings_[e.via];
  // A mapping that moved or went is no candidate any more.
  if (last.ok && last.external && (!e.ok || last.external != e.external)) nat_->mapping(*last.external, true);
  if (e.ok && e.external) nat_->mapping(*e.external, false);
  const bool news = last.ok != m.ok || last.external != m.external || last.error != m.error;
  last = m;
  if (news) emit(m);  // renewals of the same mapping are not news
}

std::vector<endpoint> node_impl::record_addresses() const {
  // Only addresses we chose ourselves (advertised, else listened on) go into
  // our signed record: never one a third party told us. The DHT's view of
  // our external address is such a claim (any DHT node we talked to may have
  // made it up), so it is published only once the reachability core
  // confirmed it by dial-back (me_.addresses then holds it: PROTOCOL §19).
  std::vector<endpoint> a;
  for (const auto& e : me_.addresses)
    if (!unspecified(e)) a.push_back(e);
  return a;
}

// ------------------------------------------------------------ subscriptions --

namespace {
std::vector<core::peer_info> to_core(std::vector<peer_addr> peers) {
  std::vector<core::peer_info> infos;
  infos.reserve(peers.size());
  for (auto& p : peers) infos.push_back(core::peer_info{p.id, std::move(p.addresses)});
  return infos;
}
}  // namespace

void node_impl::attach(const topic_id& wire, const secret_hash& key, std::shared_ptr<receiver_state> r,
                       std::vector<peer_addr> bootstrap) {
  gossip_->attach(wire, key, mirror_for(wire), std::move(r), to_core(std::move(bootstrap)));
  if (lan_) lan_->add_topic(wire, key);
}

result<void> node_impl::attach_auto_discovery(const topic_id& wire, std::shared_ptr<receiver_state> r,
                                              auto_discovery_setup setup) {
  if (auto ok = auto_discovery_->can_attach(wire, setup.config); !ok) return ok;
  attach(wire, setup.secret, std::move(r), {});
  return auto_discovery_->attach(wire, std::move(setup));
}

void node_impl::add_addresses(const peer_addr& p) {
  // The user's own word: dialled whatever the address policy says.
  if (p.id != me_.id) book_.add(p.id, p.addresses, address_source::user);
}

void node_impl::join_peers(const topic_id& t, std::vector<peer_addr> peers, completion<result<void>> done) {
  gossip_->join_peers(t, to_core(std::move(peers)), std::move(done));
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

// ------------------------------------------------------------------ timers --

void node_impl::arm_timer() {
  if (stopped_) return;
  std::optional<core::instant> first;
  for (const auto* d : drivers_)
    if (auto t = d->next_timer(); t && (!first || *t < *first)) first = t;
  if (!first) {
    if (timer_armed_for_) {
      timer_.cancel();
      timer_armed_for_.reset();
    }
    return;
  }
  if (timer_armed_for_ && *timer_armed_for_ <= *first) return;
  timer_armed_for_ = first;
  timer_.expires_at(epoch_ + first->time_since_epoch());
  timer_.async_wait([this](std::error_code ec) {
    if (ec || stopped_) return;
    timer_armed_for_.reset();
    on_timer();
  });
}

void node_impl::on_timer() {
  const auto t = now();
  for (auto* d : drivers_) d->fire_timers(t);
  arm_timer();
}

// --------------------------------------------------------------- transport --

void node_impl::on_connected(const node_id& peer) {
  if (connected_.insert(peer).second) emit(events::peer_connected{peer});
  for (auto* d : drivers_) d->on_connected(peer);
}

void node_impl::on_link(const node_id& peer, const net::link_info& link) {
  // We dialled the peer there and TLS proved its id: a first-hand address.
  if (link.dialled) book_.confirm(peer, *link.dialled);
  gossip_->on_link(peer, link);
  admission_->on_link(peer, link);
  if (nat_) nat_->on_link(peer, link);
}

void node_impl::on_upgrade_failed(const node_id& peer, const error& /*why: counted by the transport*/) {
  if (stopped_) return;
  if (nat_) nat_->upgrade_failed(peer);
}

void node_impl::on_disconnected(const node_id& peer, const error& why) {
  if (stopped_) return;
  if (connected_.erase(peer) > 0)
    emit(events::peer_disconnected{peer, why});
  else
    emit(events::dial_failed{peer, why});
  // Auto-discovery first: a failed probe is answered before gossip reacts.
  for (auto it = drivers_.rbegin(); it != drivers_.rend(); ++it) (*it)->on_disconnected(peer, why);
}

void node_impl::on_send_ready() {
  for (auto* d : drivers_) d->on_send_ready();
}

// ------------------------------------------------------------- node events --

void node_impl::close(const node_id& peer, const char* why) {
  // The transport reports only closes it did not start: report ours here.
  transport_->close_after_flush(peer);
  admission_->closed_by_us(peer);
  if (nat_) nat_->closed_by_us(peer);
  if (connected_.erase(peer) > 0) emit(events::peer_disconnected{peer, error{errc::connection_closed, why}});
}

void node_impl::add_node_receiver(std::shared_ptr<node_event_channel> c) {
  if (stopped_) return c->close(error{errc::node_stopped});
  node_receivers_.push_back(std::move(c));
}

void node_impl::emit(const node_event& ev) {
  std::erase_if(node_receivers_, [&](const std::weak_ptr<node_event_channel>& w) {
    auto c = w.lock();
    if (!c) return true;
    c->push(ev, node_events_lagged_);
    return false;
  });
}

// -------------------------------------------------------------------- stop --

void node_impl::begin_stop() {
  if (stopped_) return;
  // Our network departure first, while the network topic still runs.
  discovery_->begin_stop();
  for (auto* d : drivers_) d->begin_stop();
  stopped_ = true;
  {
    std::lock_guard lock(post_mu_);
    accepting_posts_ = false;
  }
  // Give the connections a moment to flush what the drivers said last.
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
  dht_.reset();  // completes its pending operations (their answers are dropped: stopped_)
  timer_.cancel();
  interfaces_timer_.cancel();
  for (auto* d : drivers_) d->finish_stop();
  for (auto& w : node_receivers_)
    if (auto c = w.lock()) c->close(error{errc::node_stopped});
  node_receivers_.clear();
  aborts_.clear();
  work_.reset();
}

node_stats node_impl::stats() const {
  node_stats s;
  s.transport = from_net(transport_->stats());
  if (dht_) s.dht = dht_->stats();
  for (const auto* d : drivers_) {
    d->add_stats(s);
    s.timers += d->timers();
  }
  s.lagged_events += node_events_lagged_;
  for (const auto& w : node_receivers_)
    if (auto c = w.lock()) {
      ++s.receivers;
      if (c->waiting()) ++s.waiters;
    }
  s.tasks = transport_->tasks();
  s.waiters += aborts_.size();
  s.address_book = book_.size();
  s.addresses_refused_scope = book_.refused();
  return s;
}

}  // namespace topicswarm::detail
