// A trivial stand-in for the gossip core, for testing the simulator itself:
// every contact and every node that talks to us is a neighbour; a broadcast is
// flooded to all neighbours, each node forwarding a new message to all its
// neighbours but the one it came from. It logs what happens, with times.
#pragma once

#include "crypto/hash.hpp"
#include "sim/node_protocol.hpp"
#include "sim/simulator.hpp"

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace topicswarm::sim::test_support {

using namespace std::chrono_literals;

struct flood_log_entry {
  core::instant at;
  std::string what;  // "recv <type> <from-short>", "deliver <content>", "disconnected <peer-short>", "timer"
};

class flood_protocol final : public node_protocol {
 public:
  explicit flood_protocol(core::peer_info me) : me_(std::move(me)) {}

  void handle(const topic_id& topic, gossip::in::input input, core::instant now,
              std::vector<gossip::routed>& out) override {
    if (auto* j = std::get_if<gossip::in::join_peers>(&input)) {
      out.push_back({topic, gossip::out::schedule{100ms, gossip::timers::shuffle{}}});
      for (auto& p : j->peers) {
        add(topic, p.id, out);
        out.push_back({topic, gossip::out::send{p.id, gossip::wire::join{me_.addresses}}});
      }
    } else if (auto* r = std::get_if<gossip::in::received>(&input)) {
      log_.push_back({now, std::string("recv ") + wire_type_name(r->msg.index()) + " " + r->from.short_string()});
      if (std::holds_alternative<gossip::wire::disconnect>(r->msg)) {
        remove(topic, r->from, out);
        return;
      }
      add(topic, r->from, out);
      if (auto* g = std::get_if<gossip::wire::gossip>(&r->msg)) {
        if (!seen_.insert(g->id).second) return;
        log_.push_back({now, "deliver " + to_string(g->content)});
        out.push_back({topic, gossip::out::received{g->content, r->from, g->sc, g->id}});
        for (auto& n : neighbors_)
          if (n != r->from) out.push_back({topic, gossip::out::send{n, *g}});
      }
    } else if (auto* b = std::get_if<gossip::in::broadcast>(&input)) {
      gossip::wire::gossip g;
      g.id = message_id(crypto::sha256(b->content));
      g.content = b->content;
      seen_.insert(g.id);
      for (auto& n : neighbors_) out.push_back({topic, gossip::out::send{n, g}});
    } else if (std::holds_alternative<gossip::in::timer_fired>(input)) {
      log_.push_back({now, "timer"});
    }
  }

  void peer_disconnected(const node_id& peer, core::instant now, std::vector<gossip::routed>& out) override {
    log_.push_back({now, "disconnected " + peer.short_string()});
    remove(topic_, peer, out);
  }

  void leave(const topic_id& topic, core::instant, std::vector<gossip::routed>& out) override {
    for (auto& n : neighbors_) {
      out.push_back({topic, gossip::out::send{n, gossip::wire::disconnect{false}}});
      out.push_back({topic, gossip::out::drop_peer{n}});
    }
    neighbors_.clear();
  }

  std::vector<node_id> active_view(const topic_id&) const override { return neighbors_; }
  std::vector<node_id> passive_view(const topic_id&) const override { return {}; }

  // Test helpers.
  const std::vector<flood_log_entry>& log() const { return log_; }
  // Times (virtual ms) of the log entries starting with `prefix`.
  std::vector<double> times(const std::string& prefix) const {
    std::vector<double> v;
    for (auto& e : log_)
      if (e.what.rfind(prefix, 0) == 0) v.push_back(static_cast<double>(core::to_micros(e.at)) / 1000.0);
    return v;
  }
  std::vector<std::string> entries(const std::string& prefix) const {
    std::vector<std::string> v;
    for (auto& e : log_)
      if (e.what.rfind(prefix, 0) == 0) v.push_back(e.what);
    return v;
  }
  const core::peer_info& me() const { return me_; }

 private:
  void add(const topic_id& topic, const node_id& peer, std::vector<gossip::routed>& out) {
    topic_ = topic;
    if (std::find(neighbors_.begin(), neighbors_.end(), peer) != neighbors_.end()) return;
    neighbors_.push_back(peer);
    out.push_back({topic, gossip::out::neighbor_up{peer}});
  }
  void remove(const topic_id& topic, const node_id& peer, std::vector<gossip::routed>& out) {
    auto it = std::find(neighbors_.begin(), neighbors_.end(), peer);
    if (it == neighbors_.end()) return;
    neighbors_.erase(it);
    out.push_back({topic, gossip::out::neighbor_down{peer}});
  }

  core::peer_info me_;
  topic_id topic_;
  std::vector<node_id> neighbors_;
  std::set<message_id> seen_;
  std::vector<flood_log_entry> log_;
};

// A factory that also remembers every protocol it built (owned by the simulator).
struct flood_registry {
  std::vector<flood_protocol*> nodes;
  protocol_factory factory() {
    return [this](const core::peer_info& me, std::uint64_t) -> std::unique_ptr<node_protocol> {
      auto p = std::make_unique<flood_protocol>(me);
      nodes.push_back(p.get());
      return p;
    };
  }
};

}  // namespace topicswarm::sim::test_support
