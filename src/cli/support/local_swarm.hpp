// Shared by `topicswarm demo` and the macro benchmarks: settings for nodes
// that run in this process on 127.0.0.1 (with a local DHT testnet), and what
// the overlay they form looks like.
#pragma once

#include <topicswarm/auto_discovery.hpp>
#include <topicswarm/ids.hpp>
#include <topicswarm/node.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace topicswarm::cli {

// A peer joins once its DHT client knows this many DHT nodes (or all but one
// on a tiny testnet): lookups then start from a filled routing table, as they
// do for a node that has been running for a while.
int dht_ready_nodes(int testnet_nodes);

// TLS on 127.0.0.1, on a free port; the library's defaults otherwise.
node_config loopback_node_config();

// A loopback testnet answers in milliseconds: short deadlines and polls show
// joining at its real speed (the defaults are tuned for the public DHT). The
// same values as the integration tests' quick().
auto_discovery_config loopback_discovery_config(std::chrono::milliseconds join_timeout);

// The settings loopback_discovery_config makes, in a sentence for help texts
// ("Auto-discovery uses loopback timings (...): DHT get/put timeout 3 s, ...,
// join timeout 15 s"), read from `c` so that the text cannot drift from it.
std::string describe_loopback_timings(const auto_discovery_config& c);

struct overlay_components {
  std::vector<std::size_t> sizes;  // largest first
  std::size_t outside_links = 0;   // neighbours that are none of the given peers
};

// Components of the graph whose edges are the peers' current neighbours; a
// link either end reports counts. ids[i] is peer i's node id, neighbors[i]
// its neighbours in the topic (empty for a peer that has not joined).
overlay_components components_of(const std::vector<node_id>& ids, const std::vector<std::vector<node_id>>& neighbors);

// Stops every given node at once: each stop gives its connections a moment
// to flush, which one after another would add up.
void stop_all(const std::vector<node*>& nodes);

}  // namespace topicswarm::cli
