// Addresses are hints (docs/PROTOCOL.md §13): a node dials addresses learnt
// from others only inside the networks it is on (node_config::dialing), and
// dials the addresses its user gives whatever the policy says. All on
// loopback: the "outside" network here is loopback itself, ruled out by
// dialing.loopback = never.
#include "node_support.hpp"

namespace topicswarm {
namespace {

using namespace test_support;
using namespace std::chrono_literals;

const topic_id chat = topic_id_from_name("node-address-test");

node_config no_loopback_hints(std::uint64_t seed) {
  auto c = loopback_config(seed);
  c.dialing.loopback = dial_policy::mode::never;
  return c;
}

// b joins through a; c joins through b, whose forward-join hands c's
// (loopback) address to a. a, which must not dial loopback hints, refuses
// b's and c's addresses and never dials anyone; a and b still talk over the
// connection b opened.
TEST(node_addresses, hints_outside_the_nodes_networks_are_refused_and_never_dialled) {
  asio::io_context io;
  auto a = start_node(no_loopback_hints(61));
  auto b = start_node(loopback_config(62));
  auto c = start_node(loopback_config(63));
  auto [tx_a, rx_a] = subscribed(a, chat, {});
  auto [tx_b, rx_b] = subscribed(b, chat, {a.address()});
  ASSERT_TRUE(run_on(io, rx_b.joined(5s), 10s));
  auto [tx_c, rx_c] = subscribed(c, chat, {b.address()});
  ASSERT_TRUE(run_on(io, rx_c.joined(5s), 10s));
  // b's own address (its join) and c's (b's forward-join) at least.
  EXPECT_TRUE(eventually([&] { return a.stats_blocking().addresses_refused_scope >= 2; }))
      << a.stats_blocking().addresses_refused_scope;
  const auto sa = a.stats_blocking();
  EXPECT_EQ(sa.transport.dialled, 0u);
  EXPECT_EQ(sa.transport.dial_failures, 0u);
  EXPECT_EQ(sa.address_book, 0u);
  // Nodes on loopback (the default) take each other's loopback addresses.
  EXPECT_EQ(b.stats_blocking().addresses_refused_scope, 0u);
  EXPECT_EQ(c.stats_blocking().addresses_refused_scope, 0u);
  // The overlay still works over the connections the others opened.
  ASSERT_TRUE(run_on(io, tx_b.broadcast(to_bytes("hello a")), 5s));
  auto got = run_on(io, collect(rx_a, 1, 5s), 10s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "hello a");
}

// The user's word beats the policy: a node that dials no loopback or
// private hints still dials the loopback bootstrap peer it was given.
TEST(node_addresses, the_users_addresses_are_dialled_whatever_the_policy) {
  asio::io_context io;
  auto cfg = no_loopback_hints(64);
  cfg.dialing.private_networks = dial_policy::mode::never;
  auto a = start_node(cfg);
  auto c = start_node(loopback_config(65));
  auto [tx_c, rx_c] = subscribed(c, chat, {});
  auto [tx_a, rx_a] = subscribed(a, chat, {c.address()});
  ASSERT_TRUE(run_on(io, rx_a.joined(5s), 10s));
  EXPECT_GE(a.stats_blocking().transport.dialled, 1u);
  // add_peer_addresses and join_peers are the user's word too.
  auto d = start_node(loopback_config(66));
  auto [tx_d, rx_d] = subscribed(d, chat, {});
  a.add_peer_addresses(d.address());
  auto j = run_on(io, tx_a.join_peers({peer_addr{d.address().id, {}}}), 10s);
  EXPECT_TRUE(j) << j.error().message();
}

}  // namespace
}  // namespace topicswarm
