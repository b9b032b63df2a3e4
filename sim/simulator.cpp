#include "sim/simulator.hpp"

#include "crypto/hash.hpp"
#include "sim/overloaded.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <stdexcept>

namespace topicswarm::sim {
namespace {

constexpr const char* wire_names[] = {"join",       "forward_join", "neighbor",      "neighbor_reply",
                                      "disconnect", "shuffle",      "shuffle_reply", "gossip",
                                      "ihave",      "graft",        "prune"};
static_assert(std::size(wire_names) == wire_type_count, "a wire message type has no name");

constexpr const char* timer_names[] = {"shuffle", "neighbor_request", "lazy_push", "graft", "evict_cache", "refill"};
static_assert(std::size(timer_names) == std::variant_size_v<gossip::timers::timer>, "a timer has no name");

double ms(core::instant t) { return static_cast<double>(core::to_micros(t)) / 1000.0; }

}  // namespace

const char* wire_type_name(std::size_t variant_index) {
  return variant_index < wire_type_count ? wire_names[variant_index] : "?";
}

simulator::simulator(const sim_config& cfg, protocol_factory factory)
    : cfg_(cfg),
      factory_(std::move(factory)),
      links_(cfg.link, cfg.seed),
      net_rng_(mix64(cfg.seed ^ 0x6e6574ULL)),
      scenario_rng_(mix64(cfg.seed ^ 0x7363656eULL)) {
  if (!factory_) throw std::invalid_argument("simulator: a protocol factory is required");
  // A relayed connection forgotten (closed on both sides, dead, replaced)
  // frees its circuit at the relay.
  conns_.released = [this](const connection& c) {
    if (static_cast<link_path>(c.path) == link_path::relayed && c.relay < relay_load_.size() &&
        relay_load_[c.relay] > 0)
      --relay_load_[c.relay];
  };
}

simulator::~simulator() = default;

// ------------------------------------------------------------------- nodes --

node_id simulator::derive_node_id(std::uint64_t index) {
  std::array<std::byte, 8> le;
  for (std::size_t i = 0; i < 8; ++i) le[i] = static_cast<std::byte>((index >> (8 * i)) & 0xff);
  return node_id(crypto::sha256(le));
}

const char* link_path_name(link_path p) {
  switch (p) {
    case link_path::direct: return "direct";
    case link_path::reversed: return "reversed";
    case link_path::punched: return "punched";
    case link_path::relayed: return "relayed";
  }
  return "?";
}

void simulator::set_nat(node_index n, nat_type t) {
  if (nat_.size() <= n) nat_.resize(n + 1, nat_type::public_node);
  nat_[n] = t;
}

std::optional<link_path> simulator::path(node_index a, node_index b) const {
  const connection* c = conns_.find(a, b);
  if (!c) return std::nullopt;
  return static_cast<link_path>(c->path);
}

node_index simulator::pick_relay(node_index a, node_index b) const {
  const auto n = static_cast<node_index>(nodes_.size());
  if (n == 0) return no_node;
  const auto lo = std::min(a, b), hi = std::max(a, b);
  const auto start = static_cast<node_index>(mix64(cfg_.seed ^ (std::uint64_t{lo} << 32) ^ hi) % n);
  for (node_index i = 0; i < n; ++i) {
    const node_index r = (start + i) % n;
    if (r == a || r == b || nat(r) != nat_type::public_node || !is_up(r)) continue;
    if (!reachable(a, r) || !reachable(r, b)) continue;
    if (relay_load(r) >= cfg_.nat.relay_capacity) continue;
    return r;
  }
  return no_node;
}

core::duration simulator::hop_latency(const connection& c, node_index a, node_index b) {
  if (static_cast<link_path>(c.path) != link_path::relayed || c.relay == no_node) return links_.latency(a, b, net_rng_);
  return links_.latency(a, c.relay, net_rng_) + links_.latency(c.relay, b, net_rng_);
}

node_index simulator::add_node() {
  const auto n = static_cast<node_index>(nodes_.size());
  node nd;
  nd.info.id = derive_node_id(n);
  // A fake loopback address; the simulator routes by node id, never by address.
  const std::uint32_t port_slot = n % 64512;
  nd.info.addresses.push_back(
      endpoint::v4({127, 0, static_cast<std::uint8_t>(n / 64512), 1}, static_cast<std::uint16_t>(1024 + port_slot)));
  nd.proto = factory_(nd.info, mix64(cfg_.seed ^ (0x6e6f6465ULL << 32) ^ n));
  if (!index_.emplace(nd.info.id, n).second) throw std::logic_error("simulator: duplicate node id");
  nodes_.push_back(std::move(nd));
  address_book_.emplace_back();
  relay_load_.push_back(0);
  for (auto& ts : topic_state_) {
    ts.neighbors.resize(nodes_.size(), 0);
    ts.member.resize(nodes_.size(), 0);
  }
  return n;
}

node_index simulator::index_of(const node_id& id) const {
  auto it = index_.find(id);
  return it == index_.end() ? no_node : it->second;
}

void simulator::learn_address(node_index n, const core::peer_info& peer) {
  const node_index p = index_of(peer.id);
  if (p == no_node || p == n) return;
  // Only the peer's real address makes it dialable: a core that passed on
  // wrong or no addresses has taught the shell nothing.
  const auto& real = nodes_[p].info.addresses;
  const bool usable = std::any_of(peer.addresses.begin(), peer.addresses.end(), [&](const endpoint& e) {
    return std::find(real.begin(), real.end(), e) != real.end();
  });
  if (usable) address_book_[n].insert(p);
}

bool simulator::knows_address(node_index n, node_index peer) const {
  return n < address_book_.size() && address_book_[n].count(peer) != 0;
}

bool simulator::connected(node_index a, node_index b) const {
  const connection* c = conns_.find(a, b);
  return c && !c->broken && !c->done[0] && !c->done[1];
}

std::vector<node_index> simulator::up_nodes() const {
  std::vector<node_index> v;
  for (node_index n = 0; n < nodes_.size(); ++n)
    if (nodes_[n].status == node_status::up) v.push_back(n);
  return v;
}

topic_index simulator::add_topic(const topic_id& t) {
  for (topic_index i = 0; i < topics_.size(); ++i)
    if (topics_[i] == t) return i;
  topics_.push_back(t);
  topic_track tt;
  tt.neighbors.assign(nodes_.size(), 0);
  tt.member.assign(nodes_.size(), 0);
  tt.zero_since = now_;
  topic_state_.push_back(std::move(tt));
  return static_cast<topic_index>(topics_.size() - 1);
}

topic_index simulator::topic_of(const topic_id& t) {
  // Few topics: a linear scan beats hashing 32 bytes.
  for (topic_index i = 0; i < topics_.size(); ++i)
    if (topics_[i] == t) return i;
  return add_topic(t);
}

bool simulator::is_member(node_index n, topic_index t) const {
  return t < topic_state_.size() && n < topic_state_[t].member.size() && topic_state_[t].member[n];
}

std::uint32_t simulator::neighbors(node_index n, topic_index t) const {
  return n < topic_state_[t].neighbors.size() ? topic_state_[t].neighbors[n] : 0;
}

std::optional<core::instant> simulator::all_have_neighbor_since(topic_index t) const {
  if (topic_state_[t].isolated > 0) return std::nullopt;
  return topic_state_[t].zero_since;
}

void simulator::set_neighbors(node_index n, topic_index t, std::uint32_t count) {
  auto& ts = topic_state_[t];
  const std::uint32_t before = ts.neighbors[n];
  ts.neighbors[n] = count;
  if (!ts.member[n] || (before == 0) == (count == 0)) return;
  if (count == 0) {
    ++ts.isolated;
  } else if (--ts.isolated == 0) {
    ts.zero_since = now_;
  }
}

// ----------------------------------------------------------------- actions --

void simulator::join(node_index n, topic_index t, std::span<const node_index> contacts) {
  auto& nd = nodes_.at(n);
  if (nd.status == node_status::idle) nd.status = node_status::up;
  if (nd.status != node_status::up) return;
  auto& ts = topic_state_.at(t);
  if (!ts.member[n]) {
    ts.member[n] = 1;
    if (ts.neighbors[n] == 0) ++ts.isolated;
  }
  gossip::in::join_peers jp;
  for (auto c : contacts) {
    jp.peers.push_back(nodes_.at(c).info);
    learn_address(n, nodes_[c].info);  // the shell's address book takes join peers
  }
  trace(n, "join topic %u via %zu contact(s)", t, contacts.size());
  drive(n, [&](node_protocol& p, auto& out) { p.handle(topics_[t], std::move(jp), now_, out); });
}

std::uint32_t simulator::broadcast(node_index n, topic_index t, bytes content, bool measured) {
  const auto number = static_cast<std::uint32_t>(messages_.size());
  tracked_message m;
  m.origin = n;
  m.topic = t;
  m.sent_at = now_;
  m.measured = measured;
  m.hop.assign(nodes_.size(), not_delivered);
  m.hop[n] = 0;
  m.expected.assign(nodes_.size(), 0);
  const auto& ts = topic_state_.at(t);
  for (node_index v = 0; v < nodes_.size(); ++v) {
    if (v != n && ts.member[v] && nodes_[v].status == node_status::up && reachable(n, v)) {
      m.expected[v] = 1;
      ++m.expected_count;
    }
  }
  messages_.push_back(std::move(m));
  by_content_.emplace(content, number);
  trace(n, "broadcast #%u (%zu bytes)", number, content.size());
  if (!is_up(n)) return number;
  drive(n, [&](node_protocol& p, auto& out) {
    p.handle(topics_[t], gossip::in::broadcast{std::move(content), gossip::scope::swarm}, now_, out);
  });
  return number;
}

void simulator::inject(node_index n, topic_index t, gossip::in::input input) {
  if (!is_up(n)) return;
  if (auto* jp = std::get_if<gossip::in::join_peers>(&input))
    for (const auto& p : jp->peers) learn_address(n, p);
  drive(n, [&](node_protocol& p, auto& out) { p.handle(topics_[t], std::move(input), now_, out); });
}

void simulator::leave_topics(node_index n) {
  for (topic_index t = 0; t < topic_state_.size(); ++t) {
    auto& ts = topic_state_[t];
    if (!ts.member[n]) continue;
    if (ts.neighbors[n] == 0 && ts.isolated > 0 && --ts.isolated == 0) ts.zero_since = now_;
    ts.member[n] = 0;
  }
}

void simulator::crash(node_index n) {
  auto& nd = nodes_.at(n);
  if (nd.status != node_status::up) return;
  trace(n, "CRASH");
  nd.status = node_status::crashed;
  leave_topics(n);
  const auto peers = conns_.peers_of(n);  // copy: entries may be erased
  for (auto p : peers) {
    if (auto* c = conns_.find(n, p)) {
      c->done[connection_table::side(n, p)] = true;
      mark_dead(*c, n, p);
      if (c->done[0] && c->done[1]) conns_.erase(n, p);
    }
  }
}

void simulator::leave(node_index n) {
  auto& nd = nodes_.at(n);
  if (nd.status != node_status::up) return;
  trace(n, "LEAVE");
  for (topic_index t = 0; t < topics_.size(); ++t) {
    if (!topic_state_[t].member[n]) continue;
    drive(n, [&](node_protocol& p, auto& out) { p.leave(topics_[t], now_, out); });
  }
  // The shell shuts down: every remaining connection is closed gracefully.
  const auto peers = conns_.peers_of(n);
  for (auto p : peers) close_connection(n, p);
  leave_topics(n);
  nd.status = node_status::left;
}

void simulator::set_partition(std::vector<std::uint32_t> group_of) {
  group_ = std::move(group_of);
  trace(no_node, "PARTITION applied");
  for (node_index a = 0; a < nodes_.size(); ++a) {
    const auto peers = conns_.peers_of(a);
    for (auto b : peers) {
      if (b < a || reachable(a, b)) continue;
      if (auto* c = conns_.find(a, b)) mark_dead(*c, a, b);
    }
  }
}

void simulator::heal() {
  trace(no_node, "PARTITION healed");
  group_.clear();
}

// A connection goes silent: each side that still uses it will notice after
// the keepalive timeout (sooner if it sends, see send()).
void simulator::mark_dead(connection& c, node_index a, node_index b) {
  if (c.broken) return;
  c.broken = true;
  const core::instant at = now_ + cfg_.link.keepalive_timeout;
  if (!c.done[connection_table::side(a, b)]) schedule_detect(c, a, b, at);
  if (!c.done[connection_table::side(b, a)]) schedule_detect(c, b, a, at);
}

void simulator::schedule_detect(connection& c, node_index n, node_index peer, core::instant at) {
  auto& when = c.detect_at[connection_table::side(n, peer)];
  if (at >= when) return;
  when = at;
  queue_.push(at, detail::ev_detect{n, peer, c.gen});
}

// ------------------------------------------------------------------ running --

void simulator::schedule(core::duration after, std::function<void()> fn) {
  queue_.push(now_ + after, detail::ev_call{std::move(fn)});
}

bool simulator::step() {
  if (queue_.empty()) return false;
  auto p = queue_.pop();
  now_ = p.at;
  ++events_;
  on_event(p.event);
  return true;
}

void simulator::run_until(core::instant t) {
  while (!queue_.empty() && queue_.next_time() <= t) step();
  if (now_ < t) now_ = t;
}

bool simulator::run_until(const std::function<bool()>& pred, core::instant deadline) {
  for (;;) {
    if (pred()) return true;
    if (queue_.empty() || queue_.next_time() > deadline) {
      if (now_ < deadline) now_ = deadline;
      return pred();
    }
    step();
  }
}

void simulator::on_event(detail::event& e) {
  std::visit(overloaded{
                 [&](detail::ev_deliver& d) { on_deliver(d); },
                 [&](detail::ev_timer& t) {
                   if (!is_up(t.node)) return;
                   ++counters_.timers;
                   if (tracing(t.node)) trace(t.node, "timer %s", timer_names[t.t.index()]);
                   drive(t.node, [&](node_protocol& p, auto& out) {
                     p.handle(topics_[t.topic], gossip::in::timer_fired{std::move(t.t)}, now_, out);
                   });
                 },
                 [&](detail::ev_close& c) { on_close(c); },
                 [&](detail::ev_detect& d) { on_detect(d); },
                 [&](detail::ev_dial_failed& f) { on_dial_failed(f); },
                 [&](detail::ev_call& c) { c.fn(); },
             },
             e);
}

template <class F>
void simulator::drive(node_index n, F&& f) {
  std::vector<gossip::routed> out;
  if (!buffers_.empty()) {
    out = std::move(buffers_.back());
    buffers_.pop_back();
  }
  out.clear();
  f(*nodes_[n].proto, out);
  dispatch(n, out);
  out.clear();
  buffers_.push_back(std::move(out));
}

void simulator::dispatch(node_index n, std::vector<gossip::routed>& outs) {
  for (auto& r : outs) {
    const topic_index t = topic_of(r.topic);
    std::visit(overloaded{
                   [&](gossip::out::send& s) {
                     const node_index to = index_of(s.to);
                     if (to == no_node) {
                       ++counters_.sent[s.msg.index()];
                       ++counters_.unknown_peer;
                       // Nobody answers at an unknown address: the dial fails.
                       queue_.push(now_ + cfg_.link.dial_failure_delay, detail::ev_dial_failed{n, no_node, s.to});
                       return;
                     }
                     if (hooks_.empty()) {
                       send(n, to, t, std::move(s.msg));
                     } else {
                       auto copy = s.msg;
                       send(n, to, t, std::move(copy));
                     }
                   },
                   [&](gossip::out::schedule& s) {
                     if (hooks_.empty()) {
                       queue_.push(now_ + s.after, detail::ev_timer{n, t, std::move(s.t)});
                     } else {
                       queue_.push(now_ + s.after, detail::ev_timer{n, t, s.t});
                     }
                   },
                   [&](gossip::out::drop_peer& d) {
                     const node_index p = index_of(d.peer);
                     if (p != no_node) close_connection(n, p);
                   },
                   [&](gossip::out::neighbor_up& u) {
                     if (tracing(n)) trace(n, "neighbor_up n%u (topic %u)", index_of(u.peer), t);
                     set_neighbors(n, t, topic_state_[t].neighbors[n] + 1);
                   },
                   [&](gossip::out::neighbor_down& d) {
                     if (tracing(n)) trace(n, "neighbor_down n%u (topic %u)", index_of(d.peer), t);
                     const auto c = topic_state_[t].neighbors[n];
                     set_neighbors(n, t, c > 0 ? c - 1 : 0);
                   },
                   [&](gossip::out::received& r) { on_received(n, r); },
                   [&](gossip::out::peer_data& d) { learn_address(n, d.info); },
               },
               r.o);
    for (auto& h : hooks_) h(n, r);
  }
}

// ---------------------------------------------------------------- network --

void simulator::send(node_index from, node_index to, topic_index t, gossip::wire::message&& msg) {
  const std::size_t type = msg.index();
  ++counters_.sent[type];
  std::uint16_t hop = 0;
  if (auto* g = std::get_if<gossip::wire::gossip>(&msg)) {
    if (auto m = resolve(g->id, &g->content)) {
      const auto& tm = messages_[*m];
      const std::uint16_t mine = from < tm.hop.size() ? tm.hop[from] : not_delivered;
      hop = mine == not_delivered ? 1 : static_cast<std::uint16_t>(mine + 1);
    }
  }
  if (from == to) {
    ++counters_.to_self;
    return;
  }
  const int s = connection_table::side(from, to);
  connection* c = conns_.find(from, to);
  if (c && c->done[s]) c = nullptr;  // our side finished with it: a send dials anew
  if (c && c->broken) {
    // Written into a dead connection: lost; unanswered retransmissions tell
    // the sender after send_timeout.
    ++counters_.dead;
    schedule_detect(*c, from, to, now_ + cfg_.link.send_timeout);
    trace_link(from, to, "send %s -> n%u into a dead connection", wire_type_name(type), to);
    return;
  }
  if (!c) {
    if (!knows_address(from, to)) {
      // The shell has nowhere to dial: it reports the peer unreachable.
      ++counters_.no_address;
      const std::uint64_t key = (static_cast<std::uint64_t>(from) << 32) | to;
      if (pending_dial_failure_.insert(key).second)
        queue_.push(now_ + cfg_.link.dial_failure_delay, detail::ev_dial_failed{from, to, nodes_[to].info.id});
      trace_link(from, to, "send %s -> n%u: no address known", wire_type_name(type), to);
      return;
    }
    if (!is_up(to) || !reachable(from, to)) {
      if (is_up(to))
        ++counters_.cut;
      else
        ++counters_.dead;
      const std::uint64_t key = (static_cast<std::uint64_t>(from) << 32) | to;
      if (pending_dial_failure_.insert(key).second) {
        ++counters_.dial_failures;
        queue_.push(now_ + cfg_.link.dial_failure_delay, detail::ev_dial_failed{from, to, nodes_[to].info.id});
      }
      trace_link(from, to, "dial n%u fails (%s)", to, is_up(to) ? "partition" : "down");
      return;
    }
    // Through the NATs (see nat_type): how, and what it costs before the
    // first message can leave.
    link_path p = link_path::direct;
    node_index relay = no_node;
    const core::duration rtt = 2 * links_.latency(from, to, net_rng_);
    core::duration setup = static_cast<std::int64_t>(cfg_.link.handshake_rtts) * rtt;
    const nat_type ta = nat(from), tb = nat(to);
    if (tb == nat_type::public_node) {
      p = link_path::direct;
    } else if (ta == nat_type::public_node) {
      p = link_path::reversed;
      setup += rtt;  // the request through a helper; the peer's dial back
    } else if (ta == nat_type::eim && tb == nat_type::eim) {
      p = link_path::punched;
      setup += 2 * rtt;  // connect and reply through a helper, then the sync
    } else {
      relay = pick_relay(from, to);
      if (relay == no_node) {
        ++counters_.no_relay;
        const std::uint64_t key = (static_cast<std::uint64_t>(from) << 32) | to;
        if (pending_dial_failure_.insert(key).second) {
          ++counters_.dial_failures;
          queue_.push(now_ + cfg_.nat.punch_window, detail::ev_dial_failed{from, to, nodes_[to].info.id});
        }
        trace_link(from, to, "dial n%u fails (no punch possible, no relay free)", to);
        return;
      }
      p = link_path::relayed;
      const core::duration via = 2 * (links_.latency(from, relay, net_rng_) + links_.latency(relay, to, net_rng_));
      // The punch first (unless our own NAT is known to be symmetric), then
      // the circuit: request, offer, both ends connect, TLS through it.
      setup = (ta == nat_type::symmetric ? core::duration{} : cfg_.nat.punch_window + 2 * rtt) + 2 * via +
              static_cast<std::int64_t>(cfg_.link.handshake_rtts) * via;
      ++relay_load_[relay];
    }
    c = &conns_.open(from, to, now_ + setup);
    c->path = static_cast<std::uint8_t>(p);
    c->relay = relay;
    ++counters_.dials;
    ++counters_.dials_by_path[static_cast<std::size_t>(p)];
  }
  if (links_.lost(net_rng_)) {
    ++counters_.lost;
    trace_link(from, to, "send %s -> n%u LOST", wire_type_name(type), to);
    return;
  }
  core::instant at = std::max(now_, c->established) + hop_latency(*c, from, to);
  at = std::max(at, c->last_delivery[s]);  // FIFO per direction
  c->last_delivery[s] = at;
  trace_link(from, to, "send %s -> n%u (arrives %.3f ms)", wire_type_name(type), to, ms(at));
  queue_.push(at, detail::ev_deliver{from, to, t, c->gen, hop, std::move(msg)});
}

void simulator::close_connection(node_index a, node_index b) {
  connection* c = conns_.find(a, b);
  if (!c) return;
  const int s = connection_table::side(a, b);
  if (c->done[s]) return;
  // The peer is dialling us anew (the entry is its new connection) and the
  // handshake has not completed: our close is about the connection that
  // one replaced, which the peer had finished with already. A node cannot
  // close a connection it does not know of yet.
  if (c->dialer != s && now_ < c->established) return;
  c->done[s] = true;
  ++counters_.closes;
  trace_link(a, b, "close connection to n%u", b);
  if (c->done[1 - s]) {
    // The peer closed first; its close is still in flight and will erase the
    // entry unless the connection is dead (then nobody else will).
    if (c->broken) conns_.erase(a, b);
    return;
  }
  if (c->broken) return;  // the peer will detect the death on its own
  // The close travels behind every message already sent (FIFO).
  core::instant at = std::max(now_, c->established) + hop_latency(*c, a, b);
  at = std::max(at, c->last_delivery[s]);
  c->last_delivery[s] = at;
  queue_.push(at, detail::ev_close{b, a, c->gen});
}

void simulator::notify_disconnected(node_index n, node_index peer, const node_id& peer_id) {
  if (!is_up(n)) return;
  trace(n, "peer_disconnected n%u", peer);
  for (auto& h : disconnect_hooks_) h(n, peer);
  drive(n, [&](node_protocol& p, auto& out) { p.peer_disconnected(peer_id, now_, out); });
}

void simulator::on_deliver(detail::ev_deliver& e) {
  const std::size_t type = e.msg.index();
  if (!is_up(e.to)) {
    ++counters_.dead;
    return;
  }
  if (!reachable(e.from, e.to)) {
    ++counters_.cut;
    return;
  }
  connection* c = conns_.find(e.from, e.to);
  // Gone entirely, or the receiver gave this very connection up as dead:
  // nobody reads it any more. A receiver that closed it gracefully still
  // reads what the peer sent before the close reached it (a half-close: the
  // transport's flushing connection keeps reading until the peer's close).
  // A message of an older generation still arrives: its sender closed that
  // connection after sending it.
  if (!c || (c->gen == e.gen && c->done[connection_table::side(e.to, e.from)] && c->broken)) {
    ++counters_.closed;
    return;
  }
  ++counters_.delivered[type];
  std::optional<message_id> id;
  if (auto* g = std::get_if<gossip::wire::gossip>(&e.msg)) {
    id = g->id;
    if (auto m = resolve(g->id, &g->content)) ++messages_[*m].payload_received;
  }
  if (tracing(e.to)) trace(e.to, "recv %s <- n%u (hop %u)", wire_type_name(type), e.from, e.hop);
  for (auto& h : delivery_hooks_) h(e.from, e.to, e.topic, e.msg);
  current_id_ = id;
  current_hop_ = e.hop;
  const topic_id& topic = topics_[e.topic];
  const node_id& from = nodes_[e.from].info.id;
  drive(e.to, [&](node_protocol& p, auto& out) {
    p.handle(topic, gossip::in::received{from, std::move(e.msg)}, now_, out);
  });
  current_id_.reset();
}

void simulator::on_close(const detail::ev_close& e) {
  connection* c = conns_.find(e.to, e.from);
  if (!c || c->gen != e.gen) return;  // a newer connection replaced it
  const int s = connection_table::side(e.to, e.from);
  const bool tell = !c->done[s];
  c->done[s] = true;
  // What `to` sent before the close reached it still arrives (half-close,
  // see on_deliver): the entry goes once that has landed.
  const core::instant last = c->last_delivery[s];
  if (c->broken || last < now_) {  // (one landing right now may still be queued)
    conns_.erase(e.to, e.from);
  } else {
    queue_.push(last, detail::ev_call{[this, a = e.to, b = e.from, gen = e.gen] {
                  const connection* x = conns_.find(a, b);
                  if (x && x->gen == gen && x->done[0] && x->done[1]) conns_.erase(a, b);
                }});
  }
  if (tell) notify_disconnected(e.to, e.from, nodes_[e.from].info.id);
}

void simulator::on_detect(const detail::ev_detect& e) {
  connection* c = conns_.find(e.node, e.peer);
  if (!c || c->gen != e.gen || !c->broken) return;
  const int s = connection_table::side(e.node, e.peer);
  if (c->done[s] || now_ < c->detect_at[s]) return;  // told already, or superseded by a later detection
  c->done[s] = true;
  ++counters_.deaths_detected;
  if (c->done[1 - s]) conns_.erase(e.node, e.peer);
  notify_disconnected(e.node, e.peer, nodes_[e.peer].info.id);
}

void simulator::on_dial_failed(const detail::ev_dial_failed& e) {
  if (e.peer != no_node) {
    pending_dial_failure_.erase((static_cast<std::uint64_t>(e.node) << 32) | e.peer);
    // Meanwhile a connection to the peer came up (it dialled us, or we
    // learned its address and dialled again): that one is not failing, and
    // the shell would not report the peer unreachable.
    if (const connection* c = conns_.find(e.node, e.peer);
        c && !c->broken && !c->done[connection_table::side(e.node, e.peer)])
      return;
  }
  notify_disconnected(e.node, e.peer, e.peer_id);
}

// ----------------------------------------------------------------- metrics --

std::optional<std::uint32_t> simulator::resolve(const message_id& id, const bytes* content) {
  if (auto it = by_id_.find(id); it != by_id_.end()) return it->second;
  if (!content || by_content_.empty()) return std::nullopt;
  auto it = by_content_.find(*content);
  if (it == by_content_.end()) return std::nullopt;
  const auto number = it->second;
  by_content_.erase(it);
  messages_[number].id = id;
  messages_[number].id_known = true;
  by_id_.emplace(id, number);
  return number;
}

void simulator::on_received(node_index n, const gossip::out::received& r) {
  auto number = resolve(r.id, &r.content);
  if (!number) return;
  auto& m = messages_[*number];
  if (n == m.origin) return;
  if (m.hop.size() <= n) m.hop.resize(nodes_.size(), not_delivered);
  if (m.hop[n] != not_delivered) {
    ++counters_.double_deliveries;
    return;
  }
  const std::uint16_t hop = current_id_ && *current_id_ == r.id ? current_hop_ : 1;
  if (static_cast<std::uint32_t>(r.round) + 1 != hop) ++counters_.hop_round_mismatches;
  m.hop[n] = hop;
  ++m.delivered;
  if (n < m.expected.size() && m.expected[n]) ++m.expected_delivered;
  m.ldh = std::max(m.ldh, hop);
  m.latency_us.push_back(core::to_micros(now_) - core::to_micros(m.sent_at));
  trace(n, "deliver #%u hop %u", *number, hop);
}

// ------------------------------------------------------------------- trace --

void simulator::set_trace(trace_sink sink, std::vector<node_index> nodes) {
  trace_ = std::move(sink);
  trace_nodes_.clear();
  for (auto n : nodes) {
    if (n >= trace_nodes_.size()) trace_nodes_.resize(n + 1, 0);
    trace_nodes_[n] = 1;
  }
}

bool simulator::tracing(node_index n) const {
  if (!trace_) return false;
  if (trace_nodes_.empty() || n == no_node) return true;
  return n < trace_nodes_.size() && trace_nodes_[n];
}

void simulator::trace(node_index n, const char* fmt, ...) const {
  if (!tracing(n)) return;
  va_list ap;
  va_start(ap, fmt);
  vtrace(n, fmt, ap);
  va_end(ap);
}

void simulator::trace_link(node_index from, node_index to, const char* fmt, ...) const {
  if (!tracing(from) && !tracing(to)) return;
  va_list ap;
  va_start(ap, fmt);
  vtrace(from, fmt, ap);
  va_end(ap);
}

void simulator::vtrace(node_index n, const char* fmt, va_list ap) const {
  char body[256];
  std::vsnprintf(body, sizeof body, fmt, ap);
  char line[320];
  if (n == no_node)
    std::snprintf(line, sizeof line, "%12.3f ms  *     %s", ms(now_), body);
  else
    std::snprintf(line, sizeof line, "%12.3f ms  n%-4u %s", ms(now_), n, body);
  trace_(line);
}

}  // namespace topicswarm::sim
