// node_protocol backed by gossip::router. Kept in its own translation unit so
// that programs using only a stand-in protocol do not link the gossip core.
#include "sim/node_protocol.hpp"

namespace topicswarm::sim {
namespace {

class router_node final : public node_protocol {
 public:
  router_node(const core::peer_info& me, const gossip::config& cfg, std::uint64_t seed) : r_(me, cfg, seed) {}

  void handle(const topic_id& topic, gossip::in::input input, core::instant now,
              std::vector<gossip::routed>& out) override {
    r_.handle(topic, std::move(input), now, out);
  }
  void peer_disconnected(const node_id& peer, core::instant now, std::vector<gossip::routed>& out) override {
    r_.peer_disconnected(peer, now, out);
  }
  void leave(const topic_id& topic, core::instant now, std::vector<gossip::routed>& out) override {
    r_.leave(topic, now, out);
  }
  std::vector<node_id> active_view(const topic_id& topic) const override { return r_.active_view(topic); }
  std::vector<node_id> passive_view(const topic_id& topic) const override { return r_.passive_view(topic); }

  const gossip::router& router() const noexcept { return r_; }

 private:
  gossip::router r_;
};

}  // namespace

protocol_factory router_factory(const gossip::config& cfg) {
  return [cfg](const core::peer_info& me, std::uint64_t seed) -> std::unique_ptr<node_protocol> {
    return std::make_unique<router_node>(me, cfg, seed);
  };
}

const gossip::router* as_router(const node_protocol& p) {
  auto* n = dynamic_cast<const router_node*>(&p);
  return n ? &n->router() : nullptr;
}

}  // namespace topicswarm::sim
