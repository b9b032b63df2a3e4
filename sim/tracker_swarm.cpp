#include "sim/tracker_swarm.hpp"

#include "crypto/hash.hpp"
#include "dht/bep44.hpp"
#include "gossip/plumtree.hpp"
#include "sim/overloaded.hpp"
#include "sim/sim_identity.hpp"

#include <stdexcept>

namespace topicswarm::sim {

// The shell's side of the driver at node n: addresses from the simulator's
// peer_info, gossip views mapped from simulator ids to identity keys.
class tracker_swarm::node_directory final : public tracker::directory {
 public:
  node_directory(const tracker_swarm& s, node_index n) : s_(s), n_(n) {}
  std::vector<endpoint> own_addresses() const override { return s_.sim_.info(n_).addresses; }
  std::vector<endpoint> addresses_of(const node_id& key) const override {
    const node_index idx = s_.index_of_key(key);
    return idx == no_node ? std::vector<endpoint>{} : s_.sim_.info(idx).addresses;
  }
  std::vector<node_id> gossip_views() const override {
    std::vector<node_id> known;
    const auto& proto = s_.sim_.protocol(n_);
    for (const auto& list : {proto.active_view(s_.topic_id_), proto.passive_view(s_.topic_id_)})
      for (const auto& id : list) {
        const node_index p = s_.sim_.index_of(id);
        if (p != no_node && p < s_.identities_.size()) known.push_back(s_.identities_[p].id());
      }
    return known;
  }

 private:
  const tracker_swarm& s_;
  node_index n_;
};

tracker_swarm::tracker_swarm(simulator& sim, topic_index topic, auto_discovery_config cfg, dht_model_config dht)
    : sim_(sim),
      topic_(topic),
      topic_id_(sim.topic(topic)),
      cfg_(std::move(cfg)),
      dht_(dht),
      rng_(mix64(sim.seed() ^ 0x74726b72ULL)) {
  if (auto v = cfg_.validate(); !v) throw std::invalid_argument(v.error().message());
  sim_.add_output_hook([this](node_index n, const gossip::routed& r) {
    if (r.topic != topic_id_ || n >= nodes_.size() || !nodes_[n].drv) return;
    std::optional<tracker::in::input> input;
    if (auto* u = std::get_if<gossip::out::neighbor_up>(&r.o)) {
      const node_index p = sim_.index_of(u->peer);
      if (p != no_node && p < identities_.size()) input = tracker::in::neighbor_up{identities_[p].id()};
    } else if (auto* d = std::get_if<gossip::out::neighbor_down>(&r.o)) {
      const node_index p = sim_.index_of(d->peer);
      if (p != no_node && p < identities_.size()) input = tracker::in::neighbor_down{identities_[p].id()};
    } else if (auto* m = std::get_if<gossip::out::received>(&r.o)) {
      input = tracker::in::message_seen{m->id};
    }
    // One event later: the router is in the middle of dispatching its outputs.
    if (input) later(n, core::duration::zero(), [this, n, i = std::move(*input)] { feed(n, i); });
  });
}

tracker_swarm::~tracker_swarm() = default;

std::uint64_t tracker_swarm::unix_ms() const {
  return dht_.unix_ms_at_zero + static_cast<std::uint64_t>(core::to_micros(sim_.now()) / 1000);
}

tracker::clock tracker_swarm::clock() const { return tracker::clock{sim_.now(), unix_ms()}; }

core::duration tracker_swarm::draw(core::duration lo, core::duration hi) { return draw_latency(rng_, lo, hi); }

void tracker_swarm::start(node_index n, const std::string& secret) {
  while (identities_.size() <= n) {
    const std::uint64_t i = identities_.size();
    identities_.push_back(sim_identity(i));
    by_key_.emplace(identities_.back().id(), static_cast<node_index>(i));
  }
  if (nodes_.size() <= n) nodes_.resize(n + 1);
  auto& cache = opened_[secret];
  if (!cache) cache = std::make_shared<tracker::opened_values>();
  auto key = keys_.find(secret);
  if (key == keys_.end()) {
    auto h = hash_secret(topic_id_, std::string_view(secret), cfg_.secret_hashing);
    if (!h) throw std::runtime_error("tracker_swarm: " + h.error().message());
    key = keys_.emplace(secret, *h).first;
  }
  node_state& s = nodes_[n];
  ++s.incarnation;
  if (!s.dir) s.dir = std::make_unique<node_directory>(*this, n);
  s.drv = std::make_unique<tracker::driver>(identities_[n], record_codec(topic_id_, key->second), cfg_,
                                            mix64(sim_.seed() ^ (0x7472ULL << 40) ^ n), *s.dir, cache);
  s.started = sim_.now();
  s.joined.reset();
  sim_.join(n, topic_, {});
  feed(n, tracker::in::start{});
}

void tracker_swarm::stop(node_index n) {
  if (n >= nodes_.size()) return;
  nodes_[n].drv.reset();
  ++nodes_[n].incarnation;
}

std::uint32_t tracker_swarm::broadcast(node_index n, bytes content, bool measured) {
  const message_id id = gossip::plumtree::id_of(content);
  const auto number = sim_.broadcast(n, topic_, std::move(content), measured);
  feed(n, tracker::in::message_seen{id});
  return number;
}

const tracker::tracker* tracker_swarm::core(node_index n) const {
  return n < nodes_.size() && nodes_[n].drv ? &nodes_[n].drv->core() : nullptr;
}
std::optional<core::instant> tracker_swarm::started_at(node_index n) const {
  return n < nodes_.size() ? nodes_[n].started : std::nullopt;
}
std::optional<core::instant> tracker_swarm::joined_at(node_index n) const {
  return n < nodes_.size() ? nodes_[n].joined : std::nullopt;
}
std::uint64_t tracker_swarm::node_gets(node_index n) const { return n < nodes_.size() ? nodes_[n].gets : 0; }
std::uint64_t tracker_swarm::node_puts(node_index n) const { return n < nodes_.size() ? nodes_[n].puts : 0; }

node_index tracker_swarm::index_of_key(const node_id& key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? no_node : it->second;
}

void tracker_swarm::later(node_index n, core::duration after, std::function<void()> fn) {
  const std::uint64_t inc = nodes_[n].incarnation;
  sim_.schedule(after, [this, n, inc, fn = std::move(fn)] {
    if (nodes_[n].drv && nodes_[n].incarnation == inc && sim_.is_up(n)) fn();
  });
}

void tracker_swarm::feed(node_index n, tracker::in::input input) {
  if (n >= nodes_.size() || !nodes_[n].drv) return;
  std::vector<tracker::effect::effect> effects;
  nodes_[n].drv->handle(std::move(input), clock(), effects);
  perform(n, effects);
}

void tracker_swarm::perform(node_index n, std::vector<tracker::effect::effect>& effects) {
  for (auto& e : effects) {
    std::visit(overloaded{
                   [&](tracker::effect::dht_get& g) { do_get(n, g); },
                   [&](tracker::effect::dht_put& p) { do_put(n, p); },
                   [&](tracker::effect::dial& d) { do_dial(n, d.peer); },
                   [&](tracker::effect::join& j) {
                     gossip::in::join_peers jp;
                     for (const auto& p : j.peers) {
                       const node_index idx = index_of_key(p.id);
                       if (idx != no_node) jp.peers.push_back(sim_.info(idx));
                     }
                     c_.joins += jp.peers.size();
                     if (!jp.peers.empty()) sim_.inject(n, topic_, std::move(jp));
                   },
                   [&](tracker::effect::schedule& s) {
                     later(n, s.after, [this, n, t = s.t] { feed(n, tracker::in::timer_fired{t}); });
                   },
                   [&](tracker::effect::joined&) {
                     if (!nodes_[n].joined) nodes_[n].joined = sim_.now();
                   },
               },
               e);
  }
}

void tracker_swarm::do_get(node_index n, const tracker::effect::dht_get& g) {
  ++c_.gets;
  ++nodes_[n].gets;
  const core::duration latency = draw(dht_.get_min, dht_.get_max);
  const bool lost =
      dht_.get_timeout_rate > 0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < dht_.get_timeout_rate;
  auto answer = [this, n](std::uint64_t req, std::optional<dht::mutable_item> item, bool complete) {
    std::vector<tracker::effect::effect> effects;
    std::optional<tracker::stored_value> value;
    if (item) value = tracker::stored_value{item->value, item->seq};
    const auto outcome = nodes_[n].drv->on_get(req, value, complete, clock(), effects);
    if (outcome == tracker::get_outcome::record) ++c_.records;
    if (outcome == tracker::get_outcome::invalid) ++c_.invalid;
    if (outcome == tracker::get_outcome::empty) ++c_.empty;
    perform(n, effects);
  };
  if (lost || latency > g.timeout) {
    ++c_.get_timeouts;
    later(n, g.timeout, [answer, req = g.request] { answer(req, std::nullopt, false); });
    return;
  }
  const core::duration half = latency / 2;
  // The lookup reaches the storing nodes halfway, and answers at the end.
  sim_.schedule(half, [this, n, answer, req = g.request, key = g.key, salt = g.salt, rest = latency - half] {
    std::optional<dht::mutable_item> item;
    if (auto got = store_.get(key, salt)) item = *got;
    later(n, rest, [answer, req, item = std::move(item)] { answer(req, item, true); });
  });
}

void tracker_swarm::do_put(node_index n, tracker::effect::dht_put& p) {
  ++c_.puts;
  ++nodes_[n].puts;
  dht::mutable_item item;
  item.key = p.signer.public_key();
  item.salt = p.salt;
  item.value = std::move(p.value);
  item.seq = p.seq;
  item.sig = p.signer.sign(dht::detail::signed_buffer(item.salt, item.seq, item.value));
  const core::duration latency = draw(dht_.put_min, dht_.put_max);
  const core::duration half = latency / 2;
  sim_.schedule(half, [this, n, req = p.request, item = std::move(item), rest = latency - half] {
    const bool ok = store_.put(item) == put_status::stored;
    ++(ok ? c_.puts_stored : c_.puts_refused);
    later(n, rest, [this, n, req, ok] {
      std::vector<tracker::effect::effect> effects;
      nodes_[n].drv->on_put(req, ok, clock(), effects);
      perform(n, effects);
    });
  });
}

void tracker_swarm::do_dial(node_index n, const core::peer_info& peer) {
  ++c_.dials;
  const node_index idx = index_of_key(peer.id);
  const bool ok = idx != no_node && idx != n && sim_.is_member(idx, topic_) && sim_.reachable(n, idx);
  core::duration delay = sim_.links().config().dial_failure_delay;
  if (ok) {
    // TCP connect plus the TLS handshake: (1 + handshake_rtts) round trips.
    const core::duration one_way = sim_.links().latency(n, idx, rng_);
    delay = one_way * 2 * (1 + static_cast<std::int64_t>(sim_.links().config().handshake_rtts));
  } else {
    ++c_.dial_failures;
  }
  later(n, delay, [this, n, id = peer.id, ok] { feed(n, tracker::in::dial_done{id, ok}); });
}

}  // namespace topicswarm::sim
