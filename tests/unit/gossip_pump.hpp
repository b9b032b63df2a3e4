// A tiny deterministic message pump for gossip unit tests: N routers, a
// virtual clock, one event queue ordered by (time, sequence number), a fixed
// per-link latency. Every message goes through the wire codec on its way, so
// the tests exercise encode/decode too. No unordered iteration anywhere.
#pragma once

#include "gossip/codec.hpp"
#include "gossip/router.hpp"
#include "gossip/topic_state.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

namespace gossip_test {

using namespace topicswarm;
using namespace topicswarm::gossip;
using namespace std::chrono_literals;

inline node_id make_node_id(std::size_t i) {
  std::array<std::byte, 32> b{};
  b[0] = std::byte{0xa0};
  b[1] = static_cast<std::byte>((i >> 8) & 0xff);
  b[2] = static_cast<std::byte>(i & 0xff);
  return node_id(b);
}

inline peer_info make_peer(std::size_t i) {
  return {make_node_id(i), {endpoint::v4({127, 0, 0, 1}, static_cast<std::uint16_t>(20000 + i))}};
}

inline topic_id test_topic(std::string_view name = "gossip-test") { return topic_id_from_name(name); }

inline instant at(duration d) { return instant(d); }

// Outputs of one router call, with helpers to look for things.
struct batch {
  std::vector<routed> items;

  template <class T>
  std::vector<T> all() const {
    std::vector<T> v;
    for (const auto& r : items)
      if (auto* p = std::get_if<T>(&r.o)) v.push_back(*p);
    return v;
  }
  template <class M>
  std::vector<std::pair<node_id, M>> sends() const {
    std::vector<std::pair<node_id, M>> v;
    for (const auto& s : all<out::send>())
      if (auto* m = std::get_if<M>(&s.msg)) v.emplace_back(s.to, *m);
    return v;
  }
  template <class M>
  std::vector<M> sends_to(const node_id& to) const {
    std::vector<M> v;
    for (const auto& [p, m] : sends<M>())
      if (p == to) v.push_back(m);
    return v;
  }
  bool dropped(const node_id& p) const {
    for (const auto& d : all<out::drop_peer>())
      if (d.peer == p) return true;
    return false;
  }
  template <class T>
  std::vector<T> timers() const {
    std::vector<T> v;
    for (const auto& s : all<out::schedule>())
      if (auto* t = std::get_if<T>(&s.t)) v.push_back(*t);
    return v;
  }
};

// Drives one router by hand (no network): feed inputs, read outputs.
struct single {
  router r;
  topic_id topic = test_topic();
  instant now = at(0ms);

  explicit single(std::size_t self = 0, config cfg = {}, std::uint64_t seed = 1) : r(make_peer(self), cfg, seed) {}

  batch feed(in::input i) {
    batch b;
    r.handle(topic, std::move(i), now, b.items);
    return b;
  }
  batch recv(std::size_t from, wire::message m) { return feed(in::received{make_node_id(from), std::move(m)}); }
  batch timer(timers::timer t) { return feed(in::timer_fired{std::move(t)}); }
  // Makes `peer` a neighbour (it asks with high priority; we must accept).
  batch connect(std::size_t peer) { return recv(peer, wire::neighbor{priority::high, make_peer(peer).addresses}); }
  const topic_state& state() const { return *r.find(topic); }
  std::vector<node_id> active() const { return r.active_view(topic); }
  std::vector<node_id> passive() const { return r.passive_view(topic); }
  bool is_active(const node_id& p) const {
    auto v = active();
    return std::find(v.begin(), v.end(), p) != v.end();
  }
  bool is_passive(const node_id& p) const {
    auto v = passive();
    return std::find(v.begin(), v.end(), p) != v.end();
  }
  bool is_active(std::size_t p) const { return is_active(make_node_id(p)); }
  bool is_passive(std::size_t p) const { return is_passive(make_node_id(p)); }
};

inline wire::gossip make_gossip(std::string_view text, std::uint16_t round = 0, scope sc = scope::swarm) {
  wire::gossip g;
  g.content = to_bytes(text);
  g.id = plumtree::id_of(g.content);
  g.round = round;
  g.sc = sc;
  return g;
}

// A network of routers joined to one topic.
class network {
 public:
  struct delivery {
    std::size_t node;
    out::received r;
  };

  // Each link gets a fixed latency in [latency, latency + jitter) (fixed per
  // link, so every link stays FIFO like a real connection).
  explicit network(std::size_t n, config cfg = {}, std::uint64_t seed = 42, duration latency = 2ms,
                   duration jitter = 0ms)
      : latency_(latency), jitter_(jitter), topic_(test_topic()) {
    for (std::size_t i = 0; i < n; ++i) {
      routers_.emplace_back(make_peer(i), cfg, seed * 1000003 + i);
      index_[make_node_id(i)] = i;
    }
  }

  std::size_t size() const { return routers_.size(); }
  router& at(std::size_t i) { return routers_[i]; }
  const topic_id& topic() const { return topic_; }
  instant now() const { return now_; }

  // Node i joins through the given contacts.
  void join(std::size_t i, std::vector<std::size_t> contacts) {
    std::vector<peer_info> peers;
    for (auto c : contacts) peers.push_back(make_peer(c));
    input(i, in::join_peers{peers});
  }
  void broadcast(std::size_t i, std::string_view text, scope sc = scope::swarm) {
    input(i, in::broadcast{to_bytes(text), sc});
  }
  void input(std::size_t i, in::input in) {
    std::vector<routed> out;
    routers_[i].handle(topic_, std::move(in), now_, out);
    process(i, out);
  }
  // Node i crashes: it never processes anything again; neighbours' shells see
  // the connection close after `detect`.
  void crash(std::size_t i, duration detect = 10ms) {
    dead_.insert(i);
    for (std::size_t j = 0; j < size(); ++j) {
      if (dead_.count(j)) continue;
      auto v = routers_[j].active_view(topic_);
      if (std::find(v.begin(), v.end(), make_node_id(i)) != v.end())
        push(now_ + detect, ev{ev::kind::disconnected, j, i, {}, {}});
    }
  }
  bool dead(std::size_t i) const { return dead_.count(i) != 0; }

  // Returns false to drop a message (from, to, msg).
  std::function<bool(std::size_t, std::size_t, const wire::message&)> filter;

  void run_for(duration d) { run_until(now_ + d); }
  void run_until(instant t) {
    while (!q_.empty() && q_.begin()->first.first <= t) {
      auto node = q_.extract(q_.begin());
      now_ = node.key().first;
      dispatch(node.mapped());
    }
    now_ = t;
  }

  const std::vector<delivery>& deliveries() const { return deliveries_; }
  std::size_t delivered_count(std::size_t node, const message_id& id) const {
    std::size_t n = 0;
    for (const auto& d : deliveries_)
      if (d.node == node && d.r.id == id) ++n;
    return n;
  }
  // Every output of every router, in order, printed: the determinism witness.
  const std::string& trace() const { return trace_; }
  std::size_t messages_sent() const { return sent_; }

  std::vector<std::size_t> active(std::size_t i) const {
    std::vector<std::size_t> v;
    for (const auto& id : routers_[i].active_view(topic_)) v.push_back(index_.at(id));
    return v;
  }
  std::vector<std::size_t> passive(std::size_t i) const {
    std::vector<std::size_t> v;
    for (const auto& id : routers_[i].passive_view(topic_)) v.push_back(index_.at(id));
    return v;
  }
  bool symmetric() const {
    for (std::size_t i = 0; i < size(); ++i) {
      if (dead_.count(i)) continue;
      for (auto j : active(i))
        if (dead_.count(j) || !contains(active(j), i)) return false;
    }
    return true;
  }
  bool connected() const {
    std::size_t start = 0;
    while (start < size() && dead_.count(start)) ++start;
    if (start == size()) return true;
    std::set<std::size_t> seen{start};
    std::vector<std::size_t> stack{start};
    while (!stack.empty()) {
      auto i = stack.back();
      stack.pop_back();
      for (auto j : active(i))
        if (seen.insert(j).second) stack.push_back(j);
    }
    return seen.size() == size() - dead_.size();
  }
  // "i: a b c | p q r" per node: active | passive, for failure messages.
  std::string dump() const {
    std::ostringstream s;
    for (std::size_t i = 0; i < size(); ++i) {
      s << i << (dead_.count(i) ? " (dead)" : "") << ":";
      for (auto j : active(i)) s << " " << j;
      s << " |";
      for (auto j : passive(i)) s << " " << j;
      s << "\n";
    }
    return s.str();
  }
  static bool contains(const std::vector<std::size_t>& v, std::size_t x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  }

 private:
  struct ev {
    enum class kind { message, timer, disconnected } k;
    std::size_t node;
    std::size_t from;
    bytes frame;        // message: the encoded frame
    timers::timer t{};  // timer
  };

  void push(instant t, ev e) { q_.emplace(std::make_pair(t, seq_++), std::move(e)); }

  void dispatch(ev& e) {
    if (dead_.count(e.node)) return;
    std::vector<routed> out;
    switch (e.k) {
      case ev::kind::message: {
        auto d = decode(e.frame);
        EXPECT_TRUE(d) << d.error().message();
        if (!d) return;
        routers_[e.node].handle(d->first, in::received{make_node_id(e.from), std::move(d->second)}, now_, out);
        break;
      }
      case ev::kind::timer:
        routers_[e.node].handle(topic_, in::timer_fired{e.t}, now_, out);
        break;
      case ev::kind::disconnected:
        routers_[e.node].peer_disconnected(make_node_id(e.from), now_, out);
        break;
    }
    process(e.node, out);
  }

  void process(std::size_t i, std::vector<routed>& out) {
    for (auto& r : out) {
      trace_ += std::to_string(i) + ":" + describe(r.o) + "\n";
      if (auto* s = std::get_if<out::send>(&r.o)) {
        auto to = index_.find(s->to);
        if (to == index_.end()) continue;
        ++sent_;
        if (filter && !filter(i, to->second, s->msg)) continue;
        if (dead_.count(to->second)) {
          // A dial to a dead peer fails: the sender's shell reports it.
          push(now_ + latency_, ev{ev::kind::disconnected, i, to->second, {}, {}});
          continue;
        }
        push(now_ + link_latency(i, to->second), ev{ev::kind::message, to->second, i, encode(r.topic, s->msg), {}});
      } else if (auto* t = std::get_if<out::schedule>(&r.o)) {
        push(now_ + t->after, ev{ev::kind::timer, i, i, {}, t->t});
      } else if (auto* rc = std::get_if<out::received>(&r.o)) {
        deliveries_.push_back({i, *rc});
      }
    }
  }

  duration link_latency(std::size_t a, std::size_t b) const {
    if (jitter_.count() <= 0) return latency_;
    const std::uint64_t h = core::mix_seed((std::uint64_t{std::min(a, b)} << 32) | std::max(a, b));
    return latency_ + duration(static_cast<duration::rep>(h % static_cast<std::uint64_t>(jitter_.count())));
  }

  std::string describe(const out::output& o) const {
    std::ostringstream s;
    s << o.index();
    if (auto* p = std::get_if<out::send>(&o)) {
      s << " to " << p->to.short_string() << " ";
      auto b = encode(topic_, p->msg);
      s << to_hex(b).substr(64);
    } else if (auto* p = std::get_if<out::schedule>(&o)) {
      s << " after " << p->after.count() << " t" << p->t.index();
    } else if (auto* p = std::get_if<out::neighbor_up>(&o)) {
      s << " " << p->peer.short_string();
    } else if (auto* p = std::get_if<out::neighbor_down>(&o)) {
      s << " " << p->peer.short_string();
    } else if (auto* p = std::get_if<out::drop_peer>(&o)) {
      s << " " << p->peer.short_string();
    } else if (auto* p = std::get_if<out::received>(&o)) {
      s << " " << p->id.short_string() << " from " << p->delivered_from.short_string() << " r" << p->round;
    }
    s << " @" << now_.time_since_epoch().count();
    return s.str();
  }

  duration latency_, jitter_;
  topic_id topic_;
  instant now_ = instant(0ms);
  std::vector<router> routers_;
  std::map<node_id, std::size_t> index_;
  std::map<std::pair<instant, std::uint64_t>, ev> q_;
  std::uint64_t seq_ = 0;
  std::set<std::size_t> dead_;
  std::vector<delivery> deliveries_;
  std::string trace_;
  std::size_t sent_ = 0;
};

// n nodes; node i > 0 joins through a random earlier node, spaced by `gap`.
inline void build_overlay(network& net, std::uint64_t seed = 7, duration gap = 50ms, duration settle = 3s) {
  core::rng pick(seed);
  for (std::size_t i = 1; i < net.size(); ++i) {
    net.join(i, {pick.below(i)});
    net.run_for(gap);
  }
  net.run_for(settle);
}

}  // namespace gossip_test
