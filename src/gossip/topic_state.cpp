#include "gossip/topic_state.hpp"

#include <type_traits>

namespace topicswarm::gossip {
namespace {

bool addresses_ok(const std::vector<endpoint>& a) {
  if (a.size() > limits::max_addresses) return false;
  for (const auto& e : a)
    if (e.fam != endpoint::family::v4 && e.fam != endpoint::family::v6) return false;
  return true;
}
bool peer_ok(const peer_info& p) { return addresses_ok(p.addresses); }
bool peers_ok(const std::vector<peer_info>& v) {
  if (v.size() > limits::max_shuffle_nodes) return false;
  for (const auto& p : v)
    if (!peer_ok(p)) return false;
  return true;
}

}  // namespace

topic_state::topic_state(const peer_info& me, const config& cfg, std::uint64_t rng_seed, std::uint64_t attempt_base,
                         std::shared_ptr<const peer_sources> sources)
    : me_(me),
      cfg_(cfg),
      rng_(rng_seed),
      membership_(me, cfg_.membership, rng_, attempt_base, std::move(sources)),
      broadcast_(me.id, cfg_.broadcast, cfg_.max_message_size, attempt_base) {}

topic_counters topic_state::counters() const {
  return {membership_.counters(), broadcast_.counters(), messages_received_, malformed_messages_};
}

bool topic_state::well_formed(const wire::message& msg) {
  return std::visit(
      [](const auto& m) -> bool {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, wire::join>) return addresses_ok(m.addresses);
        if constexpr (std::is_same_v<T, wire::forward_join>) return peer_ok(m.peer) && m.ttl <= limits::max_ttl;
        if constexpr (std::is_same_v<T, wire::neighbor>)
          return (m.prio == priority::low || m.prio == priority::high) && addresses_ok(m.addresses);
        if constexpr (std::is_same_v<T, wire::shuffle>)
          return peer_ok(m.origin) && m.ttl <= limits::max_ttl && peers_ok(m.nodes);
        if constexpr (std::is_same_v<T, wire::shuffle_reply>) return peers_ok(m.nodes);
        if constexpr (std::is_same_v<T, wire::gossip>)
          return (m.sc == scope::swarm || m.sc == scope::neighbors) && m.content.size() <= limits::max_content_size;
        if constexpr (std::is_same_v<T, wire::ihave>) return m.entries.size() <= limits::max_ihave_entries;
        return true;
      },
      msg);
}

void topic_state::handle(in::input input, instant now, std::vector<out::output>& out) {
  const std::size_t mark = out.size();
  if (!started_ && !std::holds_alternative<in::quit>(input)) {
    started_ = true;
    membership_.start(now, out);
  }
  if (auto* r = std::get_if<in::received>(&input)) {
    on_received(std::move(*r), now, out);
  } else if (auto* j = std::get_if<in::join_peers>(&input)) {
    membership_.join(j->peers, out);
  } else if (auto* b = std::get_if<in::broadcast>(&input)) {
    broadcast_.broadcast(std::move(b->content), b->sc, now, out);
  } else if (std::holds_alternative<in::quit>(input)) {
    membership_.quit(out);
  } else if (auto* t = std::get_if<in::timer_fired>(&input)) {
    on_timer(t->t, now, out);
  } else if (auto* d = std::get_if<in::peer_disconnected>(&input)) {
    membership_.on_peer_disconnected(d->peer, out);
  }
  sync(mark, out);
}

void topic_state::on_received(in::received&& r, instant now, std::vector<out::output>& out) {
  ++messages_received_;
  if (r.from == me_.id || !well_formed(r.msg)) {
    ++malformed_messages_;
    return;
  }
  if (auto* g = std::get_if<wire::gossip>(&r.msg)) return broadcast_.on_gossip(r.from, std::move(*g), now, out);
  if (auto* i = std::get_if<wire::ihave>(&r.msg)) return broadcast_.on_ihave(r.from, *i, out);
  if (auto* g = std::get_if<wire::graft>(&r.msg)) return broadcast_.on_graft(r.from, *g, now, out);
  if (std::holds_alternative<wire::prune>(r.msg)) return broadcast_.on_prune(r.from);
  membership_.on_message(r.from, r.msg, out);
}

void topic_state::on_timer(const timers::timer& t, instant now, std::vector<out::output>& out) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, timers::shuffle>) membership_.on_shuffle_timer(now, out);
        if constexpr (std::is_same_v<T, timers::neighbor_request>) membership_.on_neighbor_request_timer(v, out);
        if constexpr (std::is_same_v<T, timers::lazy_push>) broadcast_.on_lazy_push_timer(out);
        if constexpr (std::is_same_v<T, timers::graft>) broadcast_.on_graft_timer(v, out);
        if constexpr (std::is_same_v<T, timers::evict_cache>) broadcast_.on_evict_timer(now, out);
        if constexpr (std::is_same_v<T, timers::refill>) membership_.on_refill_timer(v.generation, out);
      },
      t);
}

void topic_state::leave(instant now, std::vector<out::output>& out) { handle(in::quit{}, now, out); }

void topic_state::sync(std::size_t mark, std::vector<out::output>& out) {
  for (std::size_t i = mark; i < out.size(); ++i) {
    if (auto* u = std::get_if<out::neighbor_up>(&out[i]))
      broadcast_.neighbor_up(u->peer);
    else if (auto* d = std::get_if<out::neighbor_down>(&out[i]))
      broadcast_.neighbor_down(d->peer);
  }
}

}  // namespace topicswarm::gossip
