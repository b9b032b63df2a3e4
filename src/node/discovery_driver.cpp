#include "node/discovery_driver.hpp"

#include "discovery/wire.hpp"
#include "net/frame.hpp"
#include "node/node_impl.hpp"

#include <asio/co_spawn.hpp>

#include <algorithm>

namespace topicswarm::detail {
namespace {

std::chrono::milliseconds to_ms(core::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d); }

asio::awaitable<bool> put_stored(asio::awaitable<result<dht::put_result>> op) {
  auto r = co_await std::move(op);
  co_return r && r->nodes_stored > 0;
}

struct got {
  std::optional<bytes> value;
  std::int64_t seq = 0;
  bool complete = false;
};
asio::awaitable<got> get_value(asio::awaitable<dht::get_result> op) {
  auto r = co_await std::move(op);
  got g;
  g.complete = r.complete;
  if (r.item) {
    g.value = std::move(r.item->value);
    g.seq = r.item->seq;
  }
  co_return g;
}

discovery::config to_core(const network_config& c, bool dht) {
  discovery::config d;
  d.catalog.purge_after = c.purge_after;
  d.catalog.max_clock_drift = c.max_clock_drift;
  d.catalog.max_peers = c.max_peers;
  d.announce_interval = c.announce_interval;
  d.announce_jitter = c.announce_jitter;
  if (!c.catalog_sync) d.max_syncs = 0;
  d.ping = c.ping;
  d.ping_interval = c.ping_interval;
  d.chain = c.chain && dht;
  d.chain_poll_alone = c.chain_poll_alone;
  d.chain_poll_relaxed = c.chain_poll_relaxed;
  d.chain_record_ttl = c.chain_record_ttl;
  return d;
}

}  // namespace

network_shared::~network_shared() {
  if (!node) return;  // the join failed: nothing to leave
  auto n = node;
  n->post([n] { n->leave_network(); });
}

discovery_driver::discovery_driver(shell& sh, gossip_driver& gossip, admission_driver& gate, std::uint64_t seed)
    : sh_(sh), gossip_(gossip), gate_(gate), seed_(seed) {}

result<void> discovery_driver::join(const network_config& cfg, const secret_hash& key,
                                    std::shared_ptr<network_mirror> mirror) {
  if (sh_.stopped()) return error{errc::node_stopped};
  if (core_) return error{errc::invalid_argument, "the node is in a network already (one at a time)"};
  cfg_ = cfg;
  discovery::setup s;
  s.network = network_id_from_name(cfg.name);
  s.key = key;
  s.start_ms = sh_.unix_ms();
  s.addresses = sh_.record_addresses();
  s.tags = cfg.tags;
  core_ = std::make_unique<discovery::state>(sh_.self(), s, to_core(cfg, sh_.dht() != nullptr),
                                             core::mix_seed(seed_ ^ 0x6e6574776f726bULL));
  mirror_ = std::move(mirror);
  std::vector<core::peer_info> boot;
  for (const auto& p : cfg.bootstrap) boot.push_back(core::peer_info{p.id, p.addresses});
  const auto wire = core_->wire_id();
  gossip_.attach(wire, key, std::make_shared<topic_mirror>(), nullptr, std::move(boot));
  update_topics();
  feed(discovery::in::start{});
  return {};
}

void discovery_driver::addresses_changed() {
  if (core_ && !sh_.stopped()) feed(discovery::in::set_addresses{sh_.record_addresses()});
}

void discovery_driver::leave() {
  if (!core_) return;
  const auto wire = core_->wire_id();
  feed(discovery::in::stop{});
  core_.reset();
  timers_.clear();
  for (auto& w : channels_)
    if (auto c = w.lock()) c->close(error{errc::topic_closed, "the network was left"});
  channels_.clear();
  gossip_.release(wire);
}

void discovery_driver::add_channel(std::shared_ptr<network_event_channel> c) {
  if (sh_.stopped()) return c->close(error{errc::node_stopped});
  if (!core_) return c->close(error{errc::topic_closed, "the network was left"});
  channels_.push_back(std::move(c));
}

void discovery_driver::set_tags(std::vector<std::string> tags) {
  if (!core_) return;
  feed(discovery::in::set_tags{std::move(tags)});
}

std::vector<core::peer_info> discovery_driver::topic_candidates(const topic_id& wire_topic) const {
  if (!core_ || !cfg_.topics_from_catalog) return {};
  std::optional<core::duration> max;
  if (cfg_.max_rtt) max = *cfg_.max_rtt;
  return core_->topic_candidates(wire_topic, max);
}

void discovery_driver::dial_candidates(const topic_id& wire_topic) {
  auto peers = topic_candidates(wire_topic);
  if (peers.empty()) return;
  candidates_dialled_ += peers.size();
  // Entries are signed by the peers they name: their addresses are first-hand.
  gossip_.join(wire_topic, std::move(peers), address_source::first_hand);
}

// ------------------------------------------------------------------ input --

void discovery_driver::feed(discovery::in::input in) {
  if (!core_ || (sh_.stopped() && !std::holds_alternative<discovery::in::stop>(in))) return;
  if (feeding_) {
    // Performing an effect led back here (a gossip callback): after this one.
    pending_.push_back(std::move(in));
    return;
  }
  feeding_ = true;
  std::vector<discovery::out::output> out;
  core_->handle(std::move(in), clock(), out);
  perform(out);
  while (!pending_.empty() && core_) {
    auto next = std::move(pending_.front());
    pending_.erase(pending_.begin());
    out.clear();
    core_->handle(std::move(next), clock(), out);
    perform(out);
  }
  feeding_ = false;
  if (mirror_ && core_) {
    std::lock_guard lock(mirror_->mu);
    mirror_->local = core_->local().entry;
  }
  sh_.timers_changed();
}

void discovery_driver::perform(std::vector<discovery::out::output>& out) {
  const auto wire = core_->wire_id();
  for (auto& o : out) {
    std::visit(
        [&](auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, discovery::out::send>) {
            frame_.clear();
            const auto start = net::begin_frame(frame_, net::frame_kind::catalog);
            discovery::wire::encode_to(frame_, v.msg);
            net::end_frame(frame_, start);
            gate_.send(v.to, wire, frame_);
          } else if constexpr (std::is_same_v<T, discovery::out::broadcast>) {
            gossip_.broadcast(wire, std::move(v.content), gossip::scope::swarm,
                              completion<result<void>>([](result<void>) {}, 0));
          } else if constexpr (std::is_same_v<T, discovery::out::join>) {
            gossip_.join(wire, std::move(v.peers), address_source::first_hand);
          } else if constexpr (std::is_same_v<T, discovery::out::dht_get>) {
            auto* d = sh_.dht();
            if (!d) {
              pending_.push_back(discovery::in::dht_got{v.request, std::nullopt, 0});
              return;
            }
            auto op = get_value(d->get_mutable(v.key, std::move(v.salt), to_ms(v.timeout)));
            asio::co_spawn(sh_.io(), std::move(op), [this, req = v.request](std::exception_ptr e, got g) {
              if (e || sh_.stopped()) return;
              feed(discovery::in::dht_got{req, std::move(g.value), g.seq, g.complete});
            });
          } else if constexpr (std::is_same_v<T, discovery::out::dht_put>) {
            auto* d = sh_.dht();
            if (!d) {
              pending_.push_back(discovery::in::dht_put_done{v.request, false});
              return;
            }
            auto op =
                put_stored(d->put_mutable(v.signer, std::move(v.salt), std::move(v.value), v.seq, to_ms(v.timeout)));
            asio::co_spawn(sh_.io(), std::move(op), [this, req = v.request](std::exception_ptr e, bool ok) {
              if (e || sh_.stopped()) return;
              feed(discovery::in::dht_put_done{req, ok});
            });
          } else if constexpr (std::is_same_v<T, discovery::out::schedule>) {
            timers_.add(sh_.now() + v.after, std::move(v.t));
          } else if constexpr (std::is_same_v<T, discovery::out::peer_discovered>) {
            if (mirror_) {
              std::lock_guard lock(mirror_->mu);
              mirror_->peers[v.entry.node] = v.entry;
            }
            join_lonely_topics(v.entry);
            emit(network_events::peer_discovered{std::move(v.entry)});
          } else if constexpr (std::is_same_v<T, discovery::out::peer_updated>) {
            if (mirror_) {
              std::lock_guard lock(mirror_->mu);
              mirror_->peers[v.entry.node] = v.entry;
            }
            join_lonely_topics(v.entry);
            emit(network_events::peer_updated{std::move(v.entry)});
          } else if constexpr (std::is_same_v<T, discovery::out::peer_departed>) {
            if (mirror_) {
              std::lock_guard lock(mirror_->mu);
              mirror_->peers.erase(v.peer);
              mirror_->rtt.erase(v.peer);
            }
            emit(network_events::peer_departed{v.peer, v.cause});
          }
        },
        o);
  }
}

void discovery_driver::join_lonely_topics(const peer_entry& e) {
  if (!core_ || !cfg_.topics_from_catalog || e.addresses.empty()) return;
  for (const auto& t : e.topics) {
    if (t == core_->wire_id() || !gossip_.has_topic(t)) continue;
    const auto* nb = gossip_.neighbors(t);
    if (!nb || !nb->empty()) continue;  // only topics that have nobody yet
    if (cfg_.max_rtt) {
      auto r = core_->rtt(e.node);
      if (r && r->srtt > *cfg_.max_rtt) continue;
    }
    ++candidates_dialled_;
    gossip_.join(t, {core::peer_info{e.node, e.addresses}}, address_source::first_hand);
  }
}

void discovery_driver::emit(const network_event& ev) {
  std::erase_if(channels_, [&](const std::weak_ptr<network_event_channel>& w) {
    auto c = w.lock();
    if (!c) return true;
    c->push(ev, lagged_);
    return false;
  });
}

void discovery_driver::mirror_rtt(const node_id& peer) {
  if (!mirror_ || !core_) return;
  auto r = core_->rtt(peer);
  std::lock_guard lock(mirror_->mu);
  if (r)
    mirror_->rtt[peer] = *r;
  else
    mirror_->rtt.erase(peer);
}

void discovery_driver::on_frame(const node_id& peer, byte_span body) {
  if (!core_) return;
  if (!gate_.accepts(peer, core_->wire_id())) {
    ++frames_not_admitted_;
    gate_.count_not_admitted();
    return;
  }
  auto m = discovery::wire::decode(body);
  if (!m) {
    ++frames_malformed_;
    return;
  }
  const bool pong = std::holds_alternative<discovery::wire::pong>(*m);
  feed(discovery::in::frame{peer, std::move(*m)});
  if (pong) mirror_rtt(peer);
}

// ---------------------------------------------------------------- topics --

void discovery_driver::on_neighbor(const topic_id& t, const node_id& peer, bool up) {
  if (core_ && t == core_->wire_id()) feed(discovery::in::neighbor{peer, up});
}

void discovery_driver::on_received(const topic_id& t, const node_id& from, byte_span content) {
  if (core_ && t == core_->wire_id())
    feed(discovery::in::announce_received{from, bytes(content.begin(), content.end())});
}

void discovery_driver::update_topics() {
  if (!core_) return;
  auto all = gossip_.topics();
  std::erase(all, core_->wire_id());
  feed(discovery::in::set_topics{std::move(all)});
}

void discovery_driver::on_topic_attached(const topic_id& t) {
  if (!core_ || t == core_->wire_id()) return;
  update_topics();
  dial_candidates(t);
}

void discovery_driver::on_topic_left(const topic_id& t) {
  if (!core_ || t == core_->wire_id()) return;
  // Called before the gossip driver forgets the topic: list the others.
  auto all = gossip_.topics();
  std::erase(all, core_->wire_id());
  std::erase(all, t);
  feed(discovery::in::set_topics{std::move(all)});
}

// ---------------------------------------------------------------- driver --

void discovery_driver::fire_timers(core::instant now) {
  for (auto& t : timers_.take_due(now)) {
    if (!core_) return;
    feed(discovery::in::timer_fired{std::move(t)});
  }
}

void discovery_driver::on_disconnected(const node_id& peer, const error&) {
  if (core_) feed(discovery::in::unreachable{peer});
}

void discovery_driver::begin_stop() {
  // Tell the network we leave while connections still carry frames.
  if (core_) feed(discovery::in::stop{});
}

void discovery_driver::finish_stop() {
  timers_.clear();
  for (auto& w : channels_)
    if (auto c = w.lock()) c->close(error{errc::node_stopped});
  channels_.clear();
  core_.reset();
}

void discovery_driver::add_stats(node_stats& s) const {
  auto& n = s.network;
  n.frames_not_admitted = frames_not_admitted_;
  n.frames_malformed = frames_malformed_;
  n.topic_candidates_dialled = candidates_dialled_;
  s.lagged_events += lagged_;
  if (!core_) return;
  const auto& c = core_->stats();
  n.joined = true;
  n.peers = core_->peers().size();
  n.neighbors = core_->neighbors().size();
  n.announces_sent = c.announces_sent;
  n.announces_received = c.announces_received;
  n.announces_malformed = c.announces_malformed;
  n.departures_sent = c.departures_sent;
  n.departures_honoured = c.departures_honoured;
  n.departures_stale = c.departures_stale;
  n.added = c.added;
  n.updated = c.updated;
  n.other_network = c.other_network;
  n.clock_ahead = c.clock_ahead;
  n.clock_behind = c.clock_behind;
  n.outdated = c.outdated;
  n.not_newer = c.not_newer;
  n.full = c.full;
  n.evicted = c.evicted;
  n.purged = c.purged;
  n.entries_invalid = c.entries_invalid;
  n.syncs_started = c.syncs_started;
  n.syncs_completed = c.syncs_completed;
  n.syncs_failed = c.syncs_failed;
  n.entries_fetched = c.entries_fetched;
  n.requests_served = c.requests_served;
  n.requests_over_budget = c.requests_over_budget;
  n.pings_sent = c.pings_sent;
  n.pongs_received = c.pongs_received;
  n.ping_timeouts = c.ping_timeouts;
  n.chain_polls = c.chain_polls;
  n.chain_gets = c.chain_gets;
  n.chain_records_valid = c.chain_records_valid;
  n.chain_records_invalid = c.chain_records_invalid;
  n.chain_peers_healthy = c.chain_peers_healthy;
  n.chain_peers_unhealthy = c.chain_peers_unhealthy;
  n.chain_claims = c.chain_claims;
  n.chain_claims_failed = c.chain_claims_failed;
  n.pages_received = c.pages_received;
  n.entries_unasked = c.entries_unasked;
  n.responses_unexpected = c.responses_unexpected;
  n.requests_wrong_network = c.requests_wrong_network;
  n.departures_unknown = c.departures_unknown;
}

}  // namespace topicswarm::detail
