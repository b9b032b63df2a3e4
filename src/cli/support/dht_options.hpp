// The DHT client options shared by the commands that use the DHT (join,
// chat, network): --bootstrap HOST:PORT... and --dht-listen IP:PORT.
#pragma once

#include <topicswarm/error.hpp>
#include <topicswarm/node.hpp>

#include <string>
#include <vector>

namespace topicswarm::cli {

// Turns the DHT on in `cfg` with these bootstrap nodes (none: the public
// routers) and UDP address (empty: 127.0.0.1:0 when every bootstrap node
// is on loopback, so a local testnet stays on loopback; else 0.0.0.0:0).
// errc::invalid_argument naming the option that is wrong.
result<void> enable_dht(node_config& cfg, const std::vector<std::string>& bootstrap, const std::string& dht_listen);

}  // namespace topicswarm::cli
