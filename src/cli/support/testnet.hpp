// Starting a local DHT testnet from a command (`topicswarm testnet`, `bench dht`).
#pragma once

#include <topicswarm/dht_testnet.hpp>

#include <memory>

namespace topicswarm::cli {

// Starts `nodes` DHT nodes on 127.0.0.1 (node i on port_base + i; 0: free
// ports), reporting progress on stderr, and returns once their routing tables
// are full. Throws std::runtime_error (what failed) if it cannot, or if
// port_base is not a port.
std::unique_ptr<dht::testnet> start_testnet(int nodes, int port_base, int ready_timeout_s);

}  // namespace topicswarm::cli
