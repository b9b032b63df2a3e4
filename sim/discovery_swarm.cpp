#include "sim/discovery_swarm.hpp"

#include "crypto/hash.hpp"
#include "dht/bep44.hpp"
#include "gossip/codec.hpp"
#include "net/frame.hpp"
#include "sim/overloaded.hpp"
#include "sim/sim_identity.hpp"

#include <algorithm>
#include <stdexcept>

namespace topicswarm::sim {
namespace {

// The transport's framing around a body: length (4) and kind (1).
constexpr std::uint64_t frame_overhead = net::frame_header_size + 1;

constexpr const char* discovery_names[] = {"digest_request", "digest_page", "fetch_request",
                                           "fetch_response", "ping",        "pong"};
static_assert(std::size(discovery_names) == discovery_message_types, "a discovery message type has no name");

// discovery::counters holds only uint64 fields: as many as the list names.
#define TOPICSWARM_SIM_COUNT(f) +1
static_assert(sizeof(discovery::counters) ==
                  (0 TOPICSWARM_DISCOVERY_COUNTERS(TOPICSWARM_SIM_COUNT)) * sizeof(std::uint64_t),
              "TOPICSWARM_DISCOVERY_COUNTERS misses a field of discovery::counters");
#undef TOPICSWARM_SIM_COUNT

}  // namespace

void add_counters(discovery::counters& a, const discovery::counters& b) {
#define TOPICSWARM_SIM_ADD(f) a.f += b.f;
  TOPICSWARM_DISCOVERY_COUNTERS(TOPICSWARM_SIM_ADD)
#undef TOPICSWARM_SIM_ADD
}

const char* discovery_message_name(std::size_t variant_index) {
  return variant_index < discovery_message_types ? discovery_names[variant_index] : "?";
}

discovery_swarm::discovery_swarm(simulator& sim, discovery_swarm_config cfg)
    : sim_(sim),
      cfg_(std::move(cfg)),
      network_(network_id_from_name(cfg_.network)),
      key_(cfg_.key ? *cfg_.key : open_topic_key(network_topic_id(network_))),
      wire_(wire_topic_id(network_topic_id(network_), key_)),
      topic_(sim.add_topic(wire_)),
      opened_(std::make_shared<discovery::opened_entries>()),
      rng_(mix64(sim.seed() ^ 0x64697363ULL)) {
  sim_.add_output_hook([this](node_index n, const gossip::routed& r) {
    if (r.topic != wire_ || n >= nodes_.size() || !nodes_[n].core) return;
    std::optional<discovery::in::input> input;
    std::visit(overloaded{
                   [&](const gossip::out::send& s) {
                     gossip_buf_.clear();
                     gossip::encode_to(gossip_buf_, r.topic, s.msg);
                     const std::uint64_t size = gossip_buf_.size() + frame_overhead;
                     auto& t = nodes_[n].traffic;
                     ++t.gossip_frames;
                     t.gossip_bytes += size;
                     c_.gossip_bytes_by_type[s.msg.index()] += size;
                   },
                   [&](const gossip::out::neighbor_up& u) {
                     const node_index p = sim_.index_of(u.peer);
                     if (p != no_node && p < identities_.size())
                       input = discovery::in::neighbor{identities_[p].id(), true};
                   },
                   [&](const gossip::out::neighbor_down& d) {
                     const node_index p = sim_.index_of(d.peer);
                     if (p != no_node && p < identities_.size())
                       input = discovery::in::neighbor{identities_[p].id(), false};
                   },
                   [&](const gossip::out::received& m) {
                     const node_index p = sim_.index_of(m.delivered_from);
                     const node_id from = p != no_node && p < identities_.size() ? identities_[p].id() : node_id{};
                     input = discovery::in::announce_received{from, m.content};
                   },
                   [](const auto&) {},
               },
               r.o);
    // One event later: the router is in the middle of dispatching its outputs.
    if (input) later(n, core::duration::zero(), [this, n, i = std::move(*input)] { feed(n, i); });
  });
  sim_.add_disconnect_hook([this](node_index n, node_index peer) {
    if (n >= nodes_.size() || !nodes_[n].core || peer == no_node || peer >= identities_.size()) return;
    later(n, core::duration::zero(), [this, n, id = identities_[peer].id()] {
      ++c_.unreachable;
      feed(n, discovery::in::unreachable{id});
    });
  });
}

discovery_swarm::~discovery_swarm() = default;

// ------------------------------------------------------------------ nodes --

const identity& discovery_swarm::identity_of(node_index n) {
  while (identities_.size() <= n) {
    const std::uint64_t i = identities_.size();
    identities_.push_back(sim_identity(i));
    by_key_.emplace(identities_.back().id(), static_cast<node_index>(i));
  }
  return identities_[n];
}

node_index discovery_swarm::index_of_key(const node_id& key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? no_node : it->second;
}

discovery_swarm::node_state& discovery_swarm::state_of(node_index n) {
  if (n >= sim_.node_count()) throw std::out_of_range("discovery_swarm: no such node");
  if (nodes_.size() <= n) nodes_.resize(n + 1);
  identity_of(n);
  return nodes_[n];
}

const discovery::state* discovery_swarm::core(node_index n) const {
  return n < nodes_.size() ? nodes_[n].core.get() : nullptr;
}

std::optional<core::instant> discovery_swarm::started_at(node_index n) const {
  return n < nodes_.size() ? nodes_[n].started : std::nullopt;
}

const discovery_traffic& discovery_swarm::traffic(node_index n) const {
  static const discovery_traffic none;
  return n < nodes_.size() ? nodes_[n].traffic : none;
}

std::uint64_t discovery_swarm::unix_ms(node_index n) const {
  const std::int64_t offset = n < nodes_.size() ? nodes_[n].clock_offset_ms : 0;
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(cfg_.dht.unix_ms_at_zero) +
                                    core::to_micros(sim_.now()) / 1000 + offset);
}

core::clock discovery_swarm::clock_of(node_index n) const { return core::clock{sim_.now(), unix_ms(n)}; }

void discovery_swarm::set_clock_offset(node_index n, std::int64_t offset_ms) {
  state_of(n).clock_offset_ms = offset_ms;
}

void discovery_swarm::start(node_index n, std::span<const node_index> bootstrap,
                            const std::optional<discovery::config>& cfg) {
  node_state& s = state_of(n);
  if (s.core) return;
  ++s.incarnation;
  discovery::setup su;
  su.network = network_;
  su.key = key_;
  su.start_ms = unix_ms(n);
  su.addresses = sim_.info(n).addresses;
  su.opened = opened_;
  s.core = std::make_unique<discovery::state>(identities_[n], std::move(su), cfg ? *cfg : cfg_.core,
                                              mix64(sim_.seed() ^ (0x6469ULL << 40) ^ n));
  s.started = sim_.now();
  // The router joins the network topic (through the bootstrap peers, if any).
  sim_.join(n, topic_, bootstrap);
  feed(n, discovery::in::start{});
}

discovery::counters discovery_swarm::core_counters() const {
  discovery::counters sum = retired_;
  for (const auto& s : nodes_)
    if (s.core) add_counters(sum, s.core->stats());
  return sum;
}

void discovery_swarm::crash(node_index n) {
  if (n >= nodes_.size()) return;
  sim_.crash(n);
  if (nodes_[n].core) add_counters(retired_, nodes_[n].core->stats());
  nodes_[n].core.reset();
  ++nodes_[n].incarnation;
}

void discovery_swarm::stop(node_index n) {
  if (n >= nodes_.size() || !nodes_[n].core || nodes_[n].core->stopped()) return;
  feed(n, discovery::in::stop{});  // the departure goes out as gossip now
  auto go = [this, n] {
    sim_.leave(n);  // the router leaves and the connections close (FIFO behind what was sent)
    add_counters(retired_, nodes_[n].core->stats());
    nodes_[n].core.reset();
    ++nodes_[n].incarnation;
  };
  if (cfg_.stop_linger <= core::duration::zero()) return go();
  // Meanwhile the router still answers GRAFTs; the stopped core ignores its inputs.
  later(n, cfg_.stop_linger, go);
}

void discovery_swarm::set_hostile(node_index n, std::map<node_id, bytes> extra, std::optional<bytes> unasked) {
  auto h = std::make_unique<hostile_state>();
  for (const auto& [id, b] : extra) {
    auto e = discovery::open_entry(b);
    h->versions[id] = e ? e->entry.version : entry_version{1, unix_ms(n)};
  }
  h->extra = std::move(extra);
  h->unasked = std::move(unasked);
  state_of(n).hostile = std::move(h);
}

void discovery_swarm::later(node_index n, core::duration after, std::function<void()> fn) {
  const std::uint64_t inc = nodes_[n].incarnation;
  sim_.schedule(after, [this, n, inc, fn = std::move(fn)] {
    if (nodes_[n].core && nodes_[n].incarnation == inc && sim_.is_up(n)) fn();
  });
}

core::duration discovery_swarm::draw(core::duration lo, core::duration hi) { return draw_latency(rng_, lo, hi); }

// ------------------------------------------------------------ the core --

void discovery_swarm::feed(node_index n, discovery::in::input input) {
  if (n >= nodes_.size() || !nodes_[n].core) return;
  std::vector<discovery::out::output> out;
  nodes_[n].core->handle(std::move(input), clock_of(n), out);
  perform(n, out);
}

void discovery_swarm::perform(node_index n, std::vector<discovery::out::output>& out) {
  for (auto& o : out) {
    std::visit(overloaded{
                   [&](discovery::out::send& s) { send_frame(n, s.to, s.msg); },
                   [&](discovery::out::broadcast& b) {
                     ++c_.broadcasts;
                     // Untracked by the simulator's broadcast bookkeeping (its
                     // per-message vectors are sized by the node count).
                     sim_.inject(n, topic_, gossip::in::broadcast{std::move(b.content), gossip::scope::swarm});
                   },
                   [&](discovery::out::join& j) {
                     ++c_.joins;
                     gossip::in::join_peers jp;
                     for (const auto& p : j.peers) {
                       const node_index idx = index_of_key(p.id);
                       // The addresses are the peer's (signed by it); the simulator
                       // dials its own copy of them.
                       if (idx != no_node && idx != n) jp.peers.push_back(sim_.info(idx));
                     }
                     c_.join_peers += jp.peers.size();
                     if (!jp.peers.empty()) sim_.inject(n, topic_, std::move(jp));
                   },
                   [&](discovery::out::dht_get& g) { do_get(n, g); },
                   [&](discovery::out::dht_put& p) { do_put(n, p); },
                   [&](discovery::out::schedule& s) {
                     later(n, s.after, [this, n, t = s.t] { feed(n, discovery::in::timer_fired{t}); });
                   },
                   [&](const auto&) {  // peer_discovered, peer_updated, peer_departed
                     if (hook_) hook_(n, o);
                   },
               },
               o);
  }
}

// ---------------------------------------------------------------- frames --

void discovery_swarm::send_frame(node_index from, const node_id& to_key, const discovery::wire::message& msg) {
  frame_buf_.clear();
  if (!discovery::wire::encode_to(frame_buf_, msg)) {
    ++c_.frames_malformed;
    return;
  }
  const std::uint64_t size = frame_buf_.size() + frame_overhead;
  auto& t = nodes_[from].traffic;
  ++t.discovery_frames;
  t.discovery_bytes += size;
  c_.discovery_bytes_by_type[msg.index()] += size;
  ++c_.frames_sent;

  const node_index to = index_of_key(to_key);
  const bool known = to != no_node && to < sim_.node_count() && to != from;
  if (!known || !sim_.is_up(to) || !sim_.reachable(from, to)) {
    if (!known)
      ++c_.frames_lost_unknown;
    else if (!sim_.is_up(to))
      ++c_.frames_lost_down;
    else
      ++c_.frames_lost_cut;
    later(from, sim_.links().config().dial_failure_delay, [this, from, to_key] {
      ++c_.unreachable;
      feed(from, discovery::in::unreachable{to_key});
    });
    return;
  }
  const std::uint64_t key = (static_cast<std::uint64_t>(from) << 32) | to;
  core::instant at = sim_.now() + sim_.links().latency(from, to, rng_);
  auto& last = last_arrival_[key];
  at = std::max(at, last);  // FIFO per direction
  last = at;
  const std::uint64_t to_inc = to < nodes_.size() ? nodes_[to].incarnation : 0;
  sim_.schedule(at - sim_.now(), [this, from, to, to_inc, body = frame_buf_] { deliver(from, to, to_inc, body); });
}

void discovery_swarm::deliver(node_index from, node_index to, std::uint64_t to_incarnation, const bytes& body) {
  if (to >= nodes_.size() || !nodes_[to].core || nodes_[to].incarnation != to_incarnation || !sim_.is_up(to)) {
    ++c_.frames_lost_down;
    return;
  }
  if (!sim_.reachable(from, to)) {
    ++c_.frames_lost_cut;
    return;
  }
  auto m = discovery::wire::decode(body);
  if (!m) {
    ++c_.frames_malformed;
    return;
  }
  ++c_.frames_delivered;
  if (nodes_[to].hostile && answer_hostile(to, from, *m)) return;
  feed(to, discovery::in::frame{identities_[from].id(), std::move(*m)});
}

bool discovery_swarm::answer_hostile(node_index n, node_index from, const discovery::wire::message& msg) {
  const auto& h = *nodes_[n].hostile;
  const auto& core = *nodes_[n].core;
  const node_id self = identities_[n].id();
  if (const auto* r = std::get_if<discovery::wire::digest_request>(&msg)) {
    // Everything it has (catalog, itself, the extra entries) in id order.
    std::map<node_id, entry_version> all;
    for (const auto& [id, e] : core.peers().entries()) all[id] = e.entry.version;
    all[self] = core.local().entry.version;
    for (const auto& [id, v] : h.versions) all[id] = v;
    discovery::wire::digest_page page{r->req, false, {}};
    auto it = r->after ? all.upper_bound(*r->after) : all.begin();
    for (; it != all.end() && page.items.size() < r->max; ++it)
      page.items.push_back({it->first, it->second.start_ms, it->second.update_ms});
    page.more = it != all.end();
    ++c_.hostile_answers;
    send_frame(n, identities_[from].id(), page);
    return true;
  }
  if (const auto* f = std::get_if<discovery::wire::fetch_request>(&msg)) {
    discovery::wire::fetch_response resp{f->req, {}};
    for (const auto& id : f->nodes) {
      if (auto x = h.extra.find(id); x != h.extra.end())
        resp.entries.push_back(x->second);
      else if (id == self)
        resp.entries.push_back(core.local().encoded);
      else if (const auto* e = core.peers().find(id))
        resp.entries.push_back(e->encoded);
    }
    if (h.unasked && resp.entries.size() < discovery::wire::limits::max_fetch) resp.entries.push_back(*h.unasked);
    ++c_.hostile_answers;
    send_frame(n, identities_[from].id(), resp);
    return true;
  }
  return false;
}

// ------------------------------------------------------------------- DHT --

void discovery_swarm::do_get(node_index n, const discovery::out::dht_get& g) {
  ++c_.gets;
  const core::duration latency = draw(cfg_.dht.get_min, cfg_.dht.get_max);
  const bool lost = cfg_.dht.get_timeout_rate > 0 &&
                    std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < cfg_.dht.get_timeout_rate;
  if (lost || latency > g.timeout) {
    ++c_.get_timeouts;
    // A timed-out lookup says nothing about the slot (complete = false).
    later(n, g.timeout, [this, n, req = g.request] { feed(n, discovery::in::dht_got{req, std::nullopt, 0, false}); });
    return;
  }
  const core::duration half = latency / 2;
  // The lookup reaches the storing nodes halfway, and answers at the end.
  const std::uint64_t inc = nodes_[n].incarnation;
  sim_.schedule(half, [this, n, inc, req = g.request, key = g.key, salt = g.salt, rest = latency - half] {
    if (nodes_[n].incarnation != inc) return;
    discovery::in::dht_got got{req, std::nullopt, 0};
    if (auto item = store_.get(key, salt)) {
      got.value = std::move(item->value);
      got.seq = item->seq;
    }
    later(n, rest, [this, n, got = std::move(got)] { feed(n, got); });
  });
}

void discovery_swarm::do_put(node_index n, discovery::out::dht_put& p) {
  ++c_.puts;
  dht::mutable_item item;
  item.key = p.signer.public_key();
  item.salt = p.salt;
  item.value = std::move(p.value);
  item.seq = p.seq;
  item.sig = p.signer.sign(dht::detail::signed_buffer(item.salt, item.seq, item.value));
  const core::duration latency = draw(cfg_.dht.put_min, cfg_.dht.put_max);
  const core::duration half = latency / 2;
  // A put reaches the DHT even if its node dies meanwhile; only the answer is lost.
  sim_.schedule(half, [this, n, req = p.request, item = std::move(item), rest = latency - half] {
    const bool ok = store_.put(item) == put_status::stored;
    ++(ok ? c_.puts_stored : c_.puts_refused);
    later(n, rest, [this, n, req, ok] { feed(n, discovery::in::dht_put_done{req, ok}); });
  });
}

}  // namespace topicswarm::sim
