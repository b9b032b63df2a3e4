// Reachability by dial-back (docs/PROTOCOL.md §19) on real nodes, TLS on
// loopback: each side tells the other where it sees it, asks it to dial
// back, and the probe connection through its listener confirms the address.
// (Behind a real NAT, and what is then not advertised: tests/nat.)
#include "node_support.hpp"

#include <algorithm>

namespace topicswarm {
namespace {

using namespace test_support;
using namespace std::chrono_literals;

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

TEST(node_reachability, two_nodes_dial_each_other_back_and_both_become_reachable) {
  asio::io_context io;
  const topic_id t = topic_id_from_name("reachability-pair");
  auto a = start_node(loopback_config(1));
  auto b = start_node(loopback_config(2));
  auto events = a.events();
  EXPECT_EQ(a.network_status_blocking().reachability, reachability::unknown);
  auto [tx_a, rx_a] = subscribed(a, t, {});
  auto [tx_b, rx_b] = subscribed(b, t, {a.address()});

  ASSERT_TRUE(wait_until([&] { return a.network_status_blocking().reachability == reachability::reachable &&
                                      b.network_status_blocking().reachability == reachability::reachable; },
                         15s))
      << "a: " << to_string(a.network_status_blocking().reachability)
      << ", b: " << to_string(b.network_status_blocking().reachability);

  const auto sa = a.network_status_blocking();
  ASSERT_EQ(sa.candidates.size(), 1u);
  EXPECT_EQ(sa.candidates[0].address, a.listen_endpoints().front());  // b saw a where a listens
  EXPECT_EQ(sa.candidates[0].state, "confirmed");
  EXPECT_EQ(sa.candidates[0].confirmations, 1u);
  EXPECT_EQ(sa.advertised, a.address().addresses);

  const auto st_a = a.stats_blocking().reachability, st_b = b.stats_blocking().reachability;
  EXPECT_GE(st_a.requests_sent, 1u);
  EXPECT_GE(st_a.proofs_accepted, 1u);
  EXPECT_GE(st_a.probe_connections_received, 1u);
  EXPECT_GE(st_b.requests_served, 1u);          // b dialled a back ...
  EXPECT_GE(st_b.probe_connections_sent, 1u);   // ... over a probe connection
  EXPECT_EQ(st_a.malformed + st_b.malformed, 0u);
  EXPECT_EQ(st_a.proofs_unexpected + st_b.proofs_unexpected, 0u);
  // The probes left the topic's connection alone.
  EXPECT_EQ(a.stats_blocking().transport.duplicate_connections, 0u);

  // The node event said so.
  bool seen = false;
  for (int i = 0; i < 8 && !seen; ++i) {
    auto ev = run_on(io, [&]() -> asio::awaitable<result<node_event>> {
      using namespace asio::experimental::awaitable_operators;
      asio::steady_timer timer(co_await asio::this_coro::executor, 2s);
      auto r = co_await (events.next() || timer.async_wait(asio::use_awaitable));
      if (r.index() == 1) co_return error{errc::timeout};
      co_return std::get<0>(std::move(r));
    }(), 5s);
    if (!ev) break;
    if (auto* rc = std::get_if<events::reachability_changed>(&*ev))
      seen = rc->reachability == reachability::reachable;
  }
  EXPECT_TRUE(seen) << "no reachability_changed event saying public";

  // And the topic works as before.
  ASSERT_TRUE(run_on(io, tx_b.broadcast(to_bytes("after the checks")), 10s));
  auto got = run_on(io, collect(rx_a, 1, 10s), 15s);
  EXPECT_EQ(got, std::vector<std::string>{"after the checks"});
}

TEST(node_reachability, a_node_with_checks_off_is_told_nothing_and_the_topic_still_works) {
  asio::io_context io;
  const topic_id t = topic_id_from_name("reachability-off");
  auto cb = loopback_config(4);
  cb.reachability.enabled = false;
  auto a = start_node(loopback_config(3));
  auto b = start_node(cb);
  auto [tx_a, rx_a] = subscribed(a, t, {});
  auto [tx_b, rx_b] = subscribed(b, t, {a.address()});
  ASSERT_TRUE(run_on(io, rx_b.joined(5s), 10s));
  ASSERT_TRUE(run_on(io, tx_b.broadcast(to_bytes("hello")), 10s));
  auto got = run_on(io, collect(rx_a, 1, 10s), 15s);
  ASSERT_EQ(got, std::vector<std::string>{"hello"});
  std::this_thread::sleep_for(1500ms);  // past the check delay
  // b does not speak kind 7: a neither tells it nor asks it, and has nobody
  // else to ask.
  const auto st_a = a.stats_blocking();
  EXPECT_EQ(st_a.reachability.requests_sent, 0u);
  EXPECT_EQ(st_a.transport.frames_unknown_kind, 0u);
  EXPECT_EQ(b.stats_blocking().transport.frames_unknown_kind, 0u);
  EXPECT_EQ(b.network_status_blocking().reachability, reachability::unknown);
  EXPECT_TRUE(b.network_status_blocking().candidates.empty());
  EXPECT_EQ(b.network_status_blocking().advertised, b.address().addresses);
}

}  // namespace
}  // namespace topicswarm
