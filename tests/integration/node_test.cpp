// Real nodes on loopback: TLS transport, node runtime and the public API.
#include "node_support.hpp"

#include <algorithm>
#include <set>

namespace topicswarm {
namespace {

using namespace test_support;
using namespace std::chrono_literals;

const topic_id chat = topic_id_from_name("node-test-chat");

struct swarm {
  std::vector<node> nodes;
  std::vector<sender> tx;
  std::vector<receiver> rx;
};

// n nodes; node i > 0 joins through node 0 and a random earlier node.
swarm make_swarm(asio::io_context& io, std::size_t n, std::uint64_t seed, node_config base = {}) {
  swarm s;
  for (std::size_t i = 0; i < n; ++i) {
    node_config c = base;
    c.listen = {*endpoint::parse("127.0.0.1:0")};
    c.rng_seed = seed * 1000 + i;
    s.nodes.push_back(start_node(c));
  }
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<peer_addr> boot;
    if (i > 0) boot.push_back(s.nodes[0].address());
    if (i > 1) boot.push_back(s.nodes[1 + (seed + i) % (i - 1)].address());
    auto t = s.nodes[i].subscribe(chat, boot);
    EXPECT_TRUE(t) << t.error().message();
    auto [tx, rx] = std::move(*t).split();
    s.tx.push_back(std::move(tx));
    s.rx.push_back(std::move(rx));
  }
  for (std::size_t i = 0; i < n; ++i) {
    auto j = run_on(io, s.rx[i].joined(10s), 15s);
    EXPECT_TRUE(j) << "node " << i << ": " << j.error().message();
  }
  return s;
}

// Every node broadcasts one message; every other node must receive each
// message exactly once.
void all_to_all(std::size_t n, std::uint64_t seed) {
  asio::io_context io;
  auto s = make_swarm(io, n, seed);
  for (std::size_t i = 0; i < n; ++i) {
    auto r = run_on(io, s.tx[i].broadcast(to_bytes("from-" + std::to_string(i))), 5s);
    ASSERT_TRUE(r) << r.error().message();
  }
  for (std::size_t i = 0; i < n; ++i) {
    auto got = run_on(io, collect(s.rx[i], n - 1, 10s), 15s);
    // Then listen a little longer: a duplicate would show up here.
    auto extra = run_on(io, collect(s.rx[i], 1, 300ms), 5s);
    got.insert(got.end(), extra.begin(), extra.end());
    std::multiset<std::string> want;
    for (std::size_t j = 0; j < n; ++j)
      if (j != i) want.insert("from-" + std::to_string(j));
    EXPECT_EQ(std::multiset<std::string>(got.begin(), got.end()), want) << "node " << i << " of " << n;
  }
}

TEST(node, two_nodes_exchange_exactly_once) { all_to_all(2, 1); }
TEST(node, three_nodes_exchange_exactly_once) { all_to_all(3, 2); }
TEST(node, ten_nodes_exchange_exactly_once) { all_to_all(10, 3); }

TEST(node, address_has_id_and_bound_port) {
  auto n = start_node(loopback_config(7));
  auto a = n.address();
  EXPECT_EQ(a.id, n.id());
  ASSERT_EQ(a.addresses.size(), 1u);
  EXPECT_TRUE(a.addresses[0].is_loopback());
  EXPECT_NE(a.addresses[0].port, 0);
  auto parsed = peer_addr::parse(a.to_string());
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, a);
}

}  // namespace
}  // namespace topicswarm
