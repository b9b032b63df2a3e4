#include "sim/tracker_swarm.hpp"

#include "crypto/hash.hpp"
#include "dht/bep44.hpp"
#include "gossip/plumtree.hpp"
#include "sim/overloaded.hpp"

#include <stdexcept>

namespace topicswarm::sim {
namespace {

// Opened values kept for reuse; cleared when full (a run reads the same few
// records many times, so even a small cache saves most of the HPKE work).
constexpr std::size_t opened_cache_limit = 20'000;

}  // namespace

tracker_swarm::tracker_swarm(simulator& sim, topic_index topic, auto_discovery_config cfg, dht_model_config dht)
    : sim_(sim),
      topic_(topic),
      topic_id_(sim.topic(topic)),
      cfg_(std::move(cfg)),
      dht_(dht),
      rng_(mix64(sim.seed() ^ 0x74726b72ULL)) {
  if (auto v = cfg_.validate(); !v) throw std::invalid_argument(v.error().message());
  sim_.add_output_hook([this](node_index n, const gossip::routed& r) {
    if (r.topic != topic_id_ || n >= nodes_.size() || !nodes_[n].core) return;
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

std::uint64_t tracker_swarm::unix_ms() const {
  return dht_.unix_ms_at_zero + static_cast<std::uint64_t>(core::to_micros(sim_.now()) / 1000);
}

tracker::clock tracker_swarm::clock() const { return tracker::clock{sim_.now(), unix_ms()}; }

core::duration tracker_swarm::draw(core::duration lo, core::duration hi) {
  if (hi <= lo) return lo;
  const auto span = static_cast<std::uint64_t>((hi - lo).count()) + 1;
  return lo + core::duration(static_cast<core::duration::rep>(rng_() % span));
}

void tracker_swarm::start(node_index n, const std::string& secret) {
  while (identities_.size() <= n) {
    const std::uint64_t i = identities_.size();
    std::array<std::byte, 16> material{};
    const char tag[8] = {'s', 'i', 'm', '-', 'k', 'e', 'y', 0};
    for (std::size_t b = 0; b < 8; ++b) material[b] = static_cast<std::byte>(tag[b]);
    for (std::size_t b = 0; b < 8; ++b) material[8 + b] = static_cast<std::byte>((i >> (8 * b)) & 0xff);
    identities_.push_back(identity::from_seed(ed25519_seed(crypto::sha256(material))));
    by_key_.emplace(identities_.back().id(), static_cast<node_index>(i));
  }
  if (nodes_.size() <= n) nodes_.resize(n + 1);
  auto& codec = codecs_[secret];
  if (!codec) codec = std::make_shared<record_codec>(topic_id_, secret_hash_from(secret));
  node_state& s = nodes_[n];
  ++s.incarnation;
  s.codec = codec;
  s.core = std::make_unique<tracker::tracker>(identities_[n].id(), cfg_, mix64(sim_.seed() ^ (0x7472ULL << 40) ^ n));
  s.started = sim_.now();
  s.joined.reset();
  sim_.join(n, topic_, {});
  feed(n, tracker::in::start{});
}

void tracker_swarm::stop(node_index n) {
  if (n >= nodes_.size()) return;
  nodes_[n].core.reset();
  ++nodes_[n].incarnation;
}

std::uint32_t tracker_swarm::broadcast(node_index n, bytes content, bool measured) {
  const message_id id = gossip::plumtree::id_of(content);
  const auto number = sim_.broadcast(n, topic_, std::move(content), measured);
  feed(n, tracker::in::message_seen{id});
  return number;
}

const tracker::tracker* tracker_swarm::core(node_index n) const {
  return n < nodes_.size() ? nodes_[n].core.get() : nullptr;
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
    if (nodes_[n].core && nodes_[n].incarnation == inc && sim_.is_up(n)) fn();
  });
}

void tracker_swarm::feed(node_index n, tracker::in::input input) {
  if (n >= nodes_.size() || !nodes_[n].core) return;
  std::vector<tracker::out::output> outs;
  nodes_[n].core->handle(std::move(input), clock(), outs);
  perform(n, outs);
}

void tracker_swarm::perform(node_index n, std::vector<tracker::out::output>& outs) {
  for (auto& o : outs) {
    std::visit(overloaded{
                   [&](tracker::out::dht_get& g) { do_get(n, g); },
                   [&](tracker::out::dht_put& p) { do_put(n, p); },
                   [&](tracker::out::dial& d) { do_dial(n, d.peer); },
                   [&](tracker::out::join& j) {
                     gossip::in::join_peers jp;
                     for (const auto& p : j.peers) {
                       const node_index idx = index_of_key(p.id);
                       if (idx != no_node) jp.peers.push_back(sim_.info(idx));
                     }
                     c_.joins += jp.peers.size();
                     if (!jp.peers.empty()) sim_.inject(n, topic_, std::move(jp));
                   },
                   [&](tracker::out::schedule& s) {
                     later(n, s.after, [this, n, t = s.t] { feed(n, tracker::in::timer_fired{t}); });
                   },
                   [&](tracker::out::joined&) {
                     if (!nodes_[n].joined) nodes_[n].joined = sim_.now();
                   },
                   [&](tracker::out::view_wanted&) {
                     tracker::in::view v;
                     const auto& proto = sim_.protocol(n);
                     for (const auto& list : {proto.active_view(topic_id_), proto.passive_view(topic_id_)})
                       for (const auto& id : list) {
                         const node_index p = sim_.index_of(id);
                         if (p != no_node && p < identities_.size()) v.known.push_back(identities_[p].id());
                       }
                     feed(n, std::move(v));  // the core has returned: feeding it again is safe
                   },
               },
               o);
  }
}

const record_slot& tracker_swarm::slot(std::uint64_t window, unsigned index) {
  auto it = slots_.find({window, index});
  if (it == slots_.end()) {
    if (slots_.size() > 4096) slots_.clear();
    it = slots_.emplace(std::make_pair(window, index), record_slot_for(topic_id_, window, index)).first;
  }
  return it->second;
}

std::optional<topic_record> tracker_swarm::open_cached(const record_codec& codec, const bytes& value,
                                                       std::uint64_t window, bool& invalid) {
  auto key = std::make_tuple(&codec, window, value);
  auto it = opened_.find(key);
  if (it == opened_.end()) {
    if (opened_.size() >= opened_cache_limit) opened_.clear();
    auto r = codec.open(value, window);
    it = opened_.emplace(std::move(key), r ? std::optional<topic_record>(std::move(*r)) : std::nullopt).first;
  }
  invalid = !it->second.has_value();
  return it->second;
}

void tracker_swarm::do_get(node_index n, const tracker::out::dht_get& g) {
  ++c_.gets;
  ++nodes_[n].gets;
  const core::duration latency = draw(dht_.get_min, dht_.get_max);
  const bool lost =
      dht_.get_timeout_rate > 0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < dht_.get_timeout_rate;
  if (lost || latency > g.timeout) {
    ++c_.get_timeouts;
    later(n, g.timeout, [this, n, req = g.request] {
      feed(n, tracker::in::get_done{req, tracker::get_outcome::timeout, std::nullopt});
    });
    return;
  }
  const core::duration half = latency / 2;
  const record_slot& sl = slot(g.window, g.slot);
  auto codec = nodes_[n].codec;
  // The lookup reaches the storing nodes halfway, and answers at the end.
  sim_.schedule(half, [this, n, req = g.request, window = g.window, key = sl.key(), salt = sl.salt, codec,
                       rest = latency - half] {
    tracker::in::get_done done{req, tracker::get_outcome::empty, std::nullopt};
    if (auto item = store_.get(key, salt)) {
      bool invalid = false;
      done.record = open_cached(*codec, item->value, window, invalid);
      done.outcome = invalid ? tracker::get_outcome::invalid : tracker::get_outcome::record;
      ++(invalid ? c_.invalid : c_.records);
    } else {
      ++c_.empty;
    }
    later(n, rest, [this, n, done = std::move(done)] { feed(n, done); });
  });
}

void tracker_swarm::do_put(node_index n, const tracker::out::dht_put& p) {
  ++c_.puts;
  ++nodes_[n].puts;
  topic_record rec;
  rec.topic = topic_id_;
  rec.window = p.window;
  rec.publisher = identities_[n].id();
  rec.addresses = sim_.info(n).addresses;
  for (const auto& id : p.neighbors) {
    const node_index idx = index_of_key(id);
    if (idx != no_node) rec.neighbors.push_back(record_neighbor{id, sim_.info(idx).addresses});
  }
  rec.recent_messages = p.recent_messages;
  rec.timestamp_ms = static_cast<std::uint64_t>(p.seq);
  auto sealed = nodes_[n].codec->seal(rec, identities_[n]);
  if (!sealed) throw std::logic_error("tracker_swarm: sealing a record failed: " + sealed.error().message());
  const record_slot& sl = slot(p.window, p.slot);
  dht::mutable_item item;
  item.key = sl.key();
  item.salt = sl.salt;
  item.value = std::move(*sealed);
  item.seq = p.seq;
  item.sig = sl.signer.sign(dht::detail::signed_buffer(item.salt, item.seq, item.value));
  const core::duration latency = draw(dht_.put_min, dht_.put_max);
  const core::duration half = latency / 2;
  sim_.schedule(half, [this, n, req = p.request, item = std::move(item), rest = latency - half] {
    const bool ok = store_.put(item) == put_status::stored;
    ++(ok ? c_.puts_stored : c_.puts_refused);
    later(n, rest, [this, n, req, ok] { feed(n, tracker::in::put_done{req, ok}); });
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
