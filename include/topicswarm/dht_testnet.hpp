// dht::testnet: N real libtorrent DHT nodes on 127.0.0.1 in this process,
// configured for loopback (DESIGN.md §5). start() returns only once every
// node's routing table is filled. Used by tests, demos and benchmarks.
#pragma once

#include <topicswarm/endpoint.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/export.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace topicswarm::dht {

struct testnet_config {
  int nodes = 16;
  // Node i listens on 127.0.0.1:(port_base + i); 0 picks free ports.
  std::uint16_t port_base = 0;
  // How long start() may take before failing with testnet_not_ready.
  std::chrono::milliseconds ready_timeout{30'000};
  // Optional progress reports ("3/16 nodes ready").
  std::function<void(const std::string&)> progress;
};

class TOPICSWARM_API testnet {
 public:
  static result<std::unique_ptr<testnet>> start(testnet_config config);
  ~testnet();
  testnet(const testnet&) = delete;
  testnet& operator=(const testnet&) = delete;

  // Every node's address, node 0 first.
  std::vector<endpoint> nodes() const;
  // The address to bootstrap from (node 0).
  endpoint bootstrap() const;
  // "HOST:PORT" of every node, ready for client_config::bootstrap.
  std::vector<std::string> bootstrap_list() const;
  // Current routing-table sizes (queried synchronously; for diagnostics).
  std::vector<int> routing_table_sizes() const;

  class impl;

 private:
  explicit testnet(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

}  // namespace topicswarm::dht
