#include "cli/support/testnet.hpp"

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace topicswarm::cli {

std::unique_ptr<dht::testnet> start_testnet(int nodes, int port_base, int ready_timeout_s) {
  if (port_base < 0 || port_base > 65535) throw std::runtime_error("--port-base must be 0 to 65535");
  dht::testnet_config tc;
  tc.nodes = nodes;
  tc.port_base = static_cast<std::uint16_t>(port_base);
  tc.ready_timeout = std::chrono::seconds(ready_timeout_s);
  tc.progress = [](const std::string& s) { std::fprintf(stderr, "testnet: %s\n", s.c_str()); };
  auto net = dht::testnet::start(tc);
  if (!net) throw std::runtime_error(net.error().message());
  return std::move(*net);
}

}  // namespace topicswarm::cli
