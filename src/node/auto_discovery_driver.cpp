#include "node/auto_discovery_driver.hpp"

#include "node/discovery_driver.hpp"

#include "node/config_map.hpp"

#include <asio/co_spawn.hpp>

namespace topicswarm::detail {
namespace {

// A probe connection no topic adopted is closed after this long (a join it
// carries has long been answered by then).
constexpr std::chrono::seconds sweep_after{10};

// co_spawn needs a default-constructible value; a put's is whether a node stored it.
asio::awaitable<bool> stored(asio::awaitable<result<dht::put_result>> op) {
  auto r = co_await std::move(op);
  co_return r && r->nodes_stored > 0;
}

std::chrono::milliseconds to_ms(core::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d); }

}  // namespace

// What the tracker driver asks of the node for one topic.
class auto_discovery_driver::topic_directory final : public tracker::directory {
 public:
  topic_directory(shell& sh, gossip_driver& g, topic_id t) : sh_(sh), gossip_(g), topic_(t) {}
  std::vector<endpoint> own_addresses() const override { return sh_.record_addresses(); }
  // A neighbour's addresses in our signed record: only what the neighbour
  // said itself, or a dial proved (docs/PROTOCOL.md §13).
  std::vector<endpoint> addresses_of(const node_id& peer) const override { return sh_.book().find_first_hand(peer); }
  std::vector<node_id> gossip_views() const override { return gossip_.views(topic_); }

 private:
  shell& sh_;
  gossip_driver& gossip_;
  topic_id topic_;
};

auto_discovery_driver::auto_discovery_driver(shell& sh, gossip_driver& gossip, std::uint64_t seed)
    : sh_(sh), gossip_(gossip), seed_(seed) {}

auto_discovery_driver::~auto_discovery_driver() = default;

tracker::clock auto_discovery_driver::clock() const { return tracker::clock{sh_.now(), sh_.unix_ms()}; }

result<void> auto_discovery_driver::can_attach(const topic_id& t, const auto_discovery_config& cfg) const {
  if (sh_.stopped()) return error{errc::node_stopped};
  if (!sh_.dht())
    return error{errc::invalid_argument, "auto-discovery needs the DHT: enable node_config::dht (or attach_testnet)"};
  if (auto v = cfg.validate(); !v) return v.error();
  if (topics_.contains(t))
    return error{errc::invalid_argument, "auto-discovery already runs for topic " + t.to_string()};
  return {};
}

result<void> auto_discovery_driver::attach(const topic_id& t, auto_discovery_setup setup) {
  if (auto ok = can_attach(t, setup.config); !ok) return ok;
  if (!gossip_.has_topic(t)) return error{errc::topic_closed};
  auto& s = topics_[t];
  s.incarnation = ++incarnations_;
  s.dir = std::make_unique<topic_directory>(sh_, gossip_, t);
  const std::uint64_t seed = core::mix_seed(seed_ ^ std::hash<topic_id>{}(t) ^ s.incarnation);
  s.drv = std::make_unique<tracker::driver>(
      sh_.self(), record_codec(setup.topic, setup.secret, std::move(setup.rotation)), setup.config, seed, *s.dir);
  const auto& to = setup.config.timeouts;
  gossip_.set_timeouts(t, topic_timeouts{to.join_peer_timeout, to.broadcast_timeout, to.broadcast_neighbors_timeout});
  if (auto m = gossip_.mirror(t)) {
    std::lock_guard lock(m->mu);
    m->auto_discovery = true;
  }
  // Peers that joined us before we started count: tell the core.
  if (const auto* n = gossip_.neighbors(t))
    for (const auto& p : *n) feed(t, tracker::in::neighbor_up{p});
  if (catalog_ && !catalog_->topic_candidates(t).empty()) {
    ++catalog_first_;
    timers_.add(sh_.now() + catalog_->catalog_first_wait(), deferred_start{t, s.incarnation});
    sh_.timers_changed();
    return {};
  }
  feed(t, tracker::in::start{});
  return {};
}

auto_discovery_driver::session* auto_discovery_driver::find(const topic_id& t, std::uint64_t incarnation) {
  auto it = topics_.find(t);
  if (it == topics_.end() || it->second.incarnation != incarnation) return nullptr;
  return &it->second;
}

void auto_discovery_driver::feed(const topic_id& t, tracker::in::input in) {
  if (sh_.stopped()) return;
  auto it = topics_.find(t);
  if (it == topics_.end()) return;
  std::vector<tracker::effect::effect> effects;
  it->second.drv->handle(std::move(in), clock(), effects);
  perform(t, it->second, effects);
}

void auto_discovery_driver::addresses_changed() {
  std::vector<topic_id> ts;  // feeding may end a session: walk a copy of the keys
  ts.reserve(topics_.size());
  for (const auto& [t, s] : topics_) ts.push_back(t);
  for (const auto& t : ts) feed(t, tracker::in::addresses_changed{});
}

void auto_discovery_driver::mirror_records(const topic_id& t, const session& s) {
  if (auto m = gossip_.mirror(t)) {
    std::lock_guard lock(m->mu);
    m->records_seen = s.drv->core().status().records_seen;
  }
}

void auto_discovery_driver::perform(const topic_id& t, session& s, std::vector<tracker::effect::effect>& effects) {
  const std::uint64_t inc = s.incarnation;
  for (auto& e : effects) {
    // An effect may end the session (a join that fails the topic): stop then.
    if (!find(t, inc)) return;
    if (auto* g = std::get_if<tracker::effect::dht_get>(&e)) {
      get(t, s, *g);
    } else if (auto* p = std::get_if<tracker::effect::dht_put>(&e)) {
      put(t, s, *p);
    } else if (auto* d = std::get_if<tracker::effect::dial>(&e)) {
      dial(t, s, d->peer);
    } else if (auto* j = std::get_if<tracker::effect::join>(&e)) {
      gossip_.join(t, std::move(j->peers), address_source::hearsay);  // from records
    } else if (auto* k = std::get_if<tracker::effect::schedule>(&e)) {
      timers_.add(sh_.now() + k->after, tracker_timer{t, inc, std::move(k->t)});
      sh_.timers_changed();
    }
    // joined: waiters are woken by the neighbour event itself (gossip driver).
  }
}

void auto_discovery_driver::get(const topic_id& t, session& s, tracker::effect::dht_get& g) {
  ++dht_ops_;
  auto op = sh_.dht()->get_mutable(g.key, std::move(g.salt), to_ms(g.timeout));
  asio::co_spawn(sh_.io(), std::move(op),
                 [this, t, inc = s.incarnation, req = g.request](std::exception_ptr e, dht::get_result r) {
                   --dht_ops_;
                   if (e || sh_.stopped()) return;
                   auto* s = find(t, inc);
                   if (!s) return;
                   std::vector<tracker::effect::effect> effects;
                   std::optional<tracker::stored_value> value;
                   if (r.item) value = tracker::stored_value{r.item->value, r.item->seq};
                   s->drv->on_get(req, value, r.complete, clock(), effects);
                   // Only a DHT read changes what records we have seen.
                   mirror_records(t, *s);
                   perform(t, *s, effects);
                 });
}

void auto_discovery_driver::put(const topic_id& t, session& s, tracker::effect::dht_put& p) {
  ++dht_ops_;
  auto op = sh_.dht()->put_mutable(p.signer, std::move(p.salt), std::move(p.value), p.seq, to_ms(p.timeout));
  asio::co_spawn(sh_.io(), stored(std::move(op)),
                 [this, t, inc = s.incarnation, req = p.request](std::exception_ptr e, bool ok) {
                   --dht_ops_;
                   if (e || sh_.stopped()) return;
                   auto* s = find(t, inc);
                   if (!s) return;
                   std::vector<tracker::effect::effect> effects;
                   s->drv->on_put(req, ok, clock(), effects);
                   perform(t, *s, effects);
                 });
}

void auto_discovery_driver::dial(const topic_id& t, session& s, const core::peer_info& peer) {
  auto& tr = sh_.transport();
  auto answer_later = [this, t, inc = s.incarnation, id = peer.id](bool ok) {
    // On a later turn: the core is still handing out its outputs.
    sh_.post([this, t, inc, id, ok] {
      if (find(t, inc)) feed(t, tracker::in::dial_done{id, ok});
    });
  };
  if (tr.connected(peer.id)) return answer_later(true);
  // Addresses from a record are hints: only those the address policy allows
  // are dialled (TLS then proves the id), none if it allows none.
  // With none, only a connection reversal can start the dial (a private
  // peer's record lists addresses of its own network only).
  auto addresses = sh_.book().admit(peer.addresses);
  if (!addresses.empty()) sh_.book().add(peer.id, addresses, address_source::hearsay);
  probes_[peer.id].insert(t);
  tr.dial(peer.id, std::move(addresses));
  if (!tr.dialling(peer.id) && !tr.connected(peer.id)) {
    // Refused at once (e.g. the connection cap): a failed dial.
    probes_[peer.id].erase(t);
    if (probes_[peer.id].empty()) probes_.erase(peer.id);
    answer_later(false);
  }
}

void auto_discovery_driver::probe_answered(const node_id& peer, bool ok) {
  auto it = probes_.find(peer);
  if (it == probes_.end()) return;
  const auto topics = std::move(it->second);
  probes_.erase(it);
  for (const auto& t : topics) feed(t, tracker::in::dial_done{peer, ok});
  if (ok) {
    timers_.add(sh_.now() + std::chrono::duration_cast<core::duration>(sweep_after), sweep{peer});
    sh_.timers_changed();
  }
}

void auto_discovery_driver::do_sweep(const node_id& peer) {
  auto& tr = sh_.transport();
  if (sh_.stopped() || !tr.connected(peer) || probes_.contains(peer)) return;
  if (gossip_.in_active_view(peer)) return;
  sh_.close(peer, "closed by us: an auto-discovery probe no topic adopted");
}

void auto_discovery_driver::fire_timers(core::instant now) {
  for (auto& k : timers_.take_due(now)) {
    if (auto* tt = std::get_if<tracker_timer>(&k)) {
      if (find(tt->topic, tt->incarnation)) feed(tt->topic, tracker::in::timer_fired{std::move(tt->t)});
    } else if (auto* d = std::get_if<deferred_start>(&k)) {
      if (find(d->topic, d->incarnation)) feed(d->topic, tracker::in::start{});
    } else {
      do_sweep(std::get<sweep>(k).peer);
    }
  }
}

// ------------------------------------------------------------------ topics --

void auto_discovery_driver::on_neighbor(const topic_id& t, const node_id& peer, bool up) {
  if (!topics_.contains(t)) return;
  if (up)
    feed(t, tracker::in::neighbor_up{peer});
  else
    feed(t, tracker::in::neighbor_down{peer});
}

void auto_discovery_driver::on_message(const topic_id& t, const message_id& id) {
  if (topics_.contains(t)) feed(t, tracker::in::message_seen{id});
}

void auto_discovery_driver::on_topic_left(const topic_id& t) {
  if (auto m = gossip_.mirror(t)) {
    std::lock_guard lock(m->mu);
    m->auto_discovery = false;
    m->records_seen = 0;
  }
  topics_.erase(t);
  timers_.erase_if([&](const timer_token& k) {
    const auto* tt = std::get_if<tracker_timer>(&k);
    return tt && tt->topic == t;
  });
  for (auto p = probes_.begin(); p != probes_.end();) {
    p->second.erase(t);
    p = p->second.empty() ? probes_.erase(p) : std::next(p);
  }
}

void auto_discovery_driver::finish_stop() {
  probes_.clear();
  timers_.clear();
}

void auto_discovery_driver::add_stats(node_stats& s) const {
  s.auto_discovery.dht_ops_in_flight = dht_ops_;
  for (const auto& [t, ses] : topics_) {
    add_to(s.auto_discovery, ses.drv->core().stats());
    add_to(s.auto_discovery, ses.drv->counters());
  }
}

}  // namespace topicswarm::detail
