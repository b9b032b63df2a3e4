// A node's DHT client: off by default, on a local testnet when attached.
#include "node_support.hpp"

#include <topicswarm/dht_testnet.hpp>

namespace topicswarm {
namespace {

using namespace test_support;
using namespace std::chrono_literals;

TEST(node_dht, is_off_by_default) {
  asio::io_context io;
  auto n = start_node(loopback_config(1));
  EXPECT_TRUE(n.dht_endpoints().empty());
  EXPECT_FALSE(n.stats_blocking().dht.has_value());
  auto w = run_on(io, n.wait_dht_bootstrapped(1, 100ms), 5s);
  ASSERT_FALSE(w);
  EXPECT_TRUE(w.error() == errc::invalid_argument);
}

TEST(node_dht, attached_testnet_bootstraps_on_loopback_and_stops_cleanly) {
  dht::testnet_config tc;
  tc.nodes = 8;
  auto net = dht::testnet::start(tc);
  ASSERT_TRUE(net) << net.error().message();
  asio::io_context io;
  auto cfg = loopback_config(2);
  cfg.attach_testnet(**net);
  auto n = start_node(cfg);
  ASSERT_FALSE(n.dht_endpoints().empty());
  for (const auto& e : n.dht_endpoints()) EXPECT_TRUE(e.is_loopback()) << e.to_string();
  auto table = run_on(io, n.wait_dht_bootstrapped(4, 15s), 20s);
  ASSERT_TRUE(table) << table.error().message();
  EXPECT_GE(*table, 4);
  EXPECT_TRUE(n.stats_blocking().dht.has_value());
  const auto t0 = std::chrono::steady_clock::now();
  n.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s) << "stopping a node with a DHT client took too long";
}

}  // namespace
}  // namespace topicswarm
