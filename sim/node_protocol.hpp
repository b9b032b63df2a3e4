// What the simulator drives at each node: the gossip router's driver contract
// (gossip/router.hpp) as an interface, so that the engine, the network model
// and the metrics can be tested with a trivial stand-in protocol, and so that
// later layers (the tracker core of issue 5) can wrap the router in a node
// that also talks to the simulator's in-memory DHT.
#pragma once

#include "gossip/router.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace topicswarm::sim {

class node_protocol {
 public:
  virtual ~node_protocol() = default;
  virtual void handle(const topic_id& topic, gossip::in::input input, core::instant now,
                      std::vector<gossip::routed>& out) = 0;
  virtual void peer_disconnected(const node_id& peer, core::instant now, std::vector<gossip::routed>& out) = 0;
  virtual void leave(const topic_id& topic, core::instant now, std::vector<gossip::routed>& out) = 0;
  virtual std::vector<node_id> active_view(const topic_id& topic) const = 0;
  virtual std::vector<node_id> passive_view(const topic_id& topic) const = 0;
};

// Builds the protocol of a new node from its identity and an RNG seed derived
// from the run's seed and the node's index.
using protocol_factory = std::function<std::unique_ptr<node_protocol>(const core::peer_info& me, std::uint64_t seed)>;

// The real thing: one gossip::router per node.
protocol_factory router_factory(const gossip::config& cfg);

// Direct access to a node's router (for tests and reports); null if the node
// does not run a router_node.
const gossip::router* as_router(const node_protocol& p);

}  // namespace topicswarm::sim
