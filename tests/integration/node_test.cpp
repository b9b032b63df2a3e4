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
  // PlumTree delivers to the overlay as it is when a message passes: a node
  // whose links are still being rearranged by HyParView (forward-joins into
  // full views) can miss it. Wait until the overlay is connected and its
  // views have not changed for 300 ms.
  auto views = [&] {
    std::vector<std::vector<node_id>> v;
    for (auto& tx : s.tx) v.push_back(tx.neighbors());
    return v;
  };
  auto connected = [&](const std::vector<std::vector<node_id>>& v) {
    std::set<node_id> seen{s.nodes[0].id()};
    std::vector<node_id> todo{s.nodes[0].id()};
    while (!todo.empty()) {
      const node_id cur = todo.back();
      todo.pop_back();
      for (std::size_t i = 0; i < n; ++i)
        if (s.nodes[i].id() == cur)
          for (const auto& p : v[i])
            if (seen.insert(p).second) todo.push_back(p);
    }
    return seen.size() == n;
  };
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  auto last = views();
  auto stable_since = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    auto now_views = views();
    if (now_views != last) {
      last = now_views;
      stable_since = std::chrono::steady_clock::now();
    } else if (connected(last) && std::chrono::steady_clock::now() - stable_since >= 300ms) {
      break;
    }
  }
  EXPECT_TRUE(connected(last)) << "the overlay never became connected";
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
  EXPECT_EQ(n.max_message_size(), 4096u);

  // An advertised address with port 0 takes the bound port.
  auto c = loopback_config(8);
  c.advertise = {*endpoint::parse("127.0.0.1:0"), *endpoint::parse("[::1]:0")};
  auto m = start_node(c);
  ASSERT_EQ(m.address().addresses.size(), 1u) << "no IPv6 listener: the v6 address is left out";
  EXPECT_EQ(m.address().addresses[0], m.listen_endpoints().at(0));
}


// ---------------------------------------------------------------- sizes --

TEST(node, message_of_exactly_the_maximum_passes_and_one_byte_more_is_refused) {
  asio::io_context io;
  auto s = make_swarm(io, 2, 11);
  auto too_big = run_on(io, s.tx[0].broadcast(bytes(4097, std::byte{'b'})), 5s);
  ASSERT_FALSE(too_big);
  EXPECT_TRUE(too_big.error() == errc::message_too_large);
  EXPECT_NE(too_big.error().message().find("4097 bytes exceeds the maximum of 4096"), std::string::npos)
      << too_big.error().message();
  auto too_big_nb = run_on(io, s.tx[0].broadcast_neighbors(bytes(4097, std::byte{'b'})), 5s);
  EXPECT_TRUE(!too_big_nb && too_big_nb.error() == errc::message_too_large);

  auto ok = run_on(io, s.tx[0].broadcast(bytes(4096, std::byte{'a'})), 5s);
  ASSERT_TRUE(ok) << ok.error().message();
  auto got = run_on(io, collect(s.rx[1], 1, 5s), 10s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], std::string(4096, 'a'));
  // And nothing else arrives (the refused ones never left).
  EXPECT_TRUE(run_on(io, collect(s.rx[1], 1, 300ms), 5s).empty());
}

// ------------------------------------------------------ neighbours only --

TEST(node, broadcast_neighbors_reaches_neighbours_only) {
  asio::io_context io;
  node_config base;
  base.gossip.active_view_capacity = 3;  // a sparse overlay: most nodes are not neighbours of node 0
  auto s = make_swarm(io, 10, 21, base);
  std::this_thread::sleep_for(500ms);  // let the views settle
  auto nb = s.tx[0].neighbors();
  std::set<node_id> neighbours(nb.begin(), nb.end());
  ASSERT_FALSE(neighbours.empty());
  ASSERT_LT(neighbours.size(), 9u);
  ASSERT_TRUE(run_on(io, s.tx[0].broadcast_neighbors(to_bytes("just-neighbours")), 5s));
  std::set<node_id> reached;
  for (std::size_t i = 1; i < s.nodes.size(); ++i) {
    auto r = run_on(io, [&]() -> asio::awaitable<bool> {
      for (;;) {
        auto ev = co_await next_within(s.rx[i], 700ms);
        if (!ev) co_return false;
        if (auto* m = std::get_if<events::received>(&*ev)) {
          EXPECT_EQ(to_text(m->content), "just-neighbours");
          EXPECT_EQ(m->scope, delivery_scope::neighbors);
          EXPECT_EQ(m->delivered_from, s.nodes[0].id());
          co_return true;
        }
      }
    }(), 5s);
    if (r) reached.insert(s.nodes[i].id());
  }
  EXPECT_EQ(reached, neighbours);
}

// ------------------------------------------------------------ lifetimes --

TEST(node, leaving_stops_all_of_the_topics_work) {
  asio::io_context io;
  auto a = start_node(loopback_config(31));
  auto b = start_node(loopback_config(32));
  const auto idle_a = a.stats_blocking();
  const auto idle_b = b.stats_blocking();
  EXPECT_EQ(idle_a.topics, 0u);
  {
    auto ta = a.subscribe(chat);
    auto tb = b.subscribe(chat, {a.address()});
    ASSERT_TRUE(ta && tb);
    auto [tx_a, rx_a] = std::move(*ta).split();
    auto [tx_b, rx_b] = std::move(*tb).split();
    ASSERT_TRUE(run_on(io, rx_b.joined(5s), 10s));
    ASSERT_TRUE(run_on(io, tx_b.broadcast(to_bytes("hi")), 5s));
    ASSERT_EQ(run_on(io, collect(rx_a, 1, 5s), 10s).size(), 1u);
    auto busy = b.stats_blocking();
    EXPECT_EQ(busy.topics, 1u);
    EXPECT_GT(busy.timers, 0u);
    EXPECT_EQ(busy.transport.connections, 1u);
    EXPECT_GT(busy.tasks, idle_b.tasks);
    {
      // b drops every handle: topic, sender and receiver.
      auto drop_tx = std::move(tx_b);
      auto drop_rx = std::move(rx_b);
    }
    // a hears b leave.
    bool down = false;
    for (int i = 0; i < 10 && !down; ++i) {
      auto ev = run_on(io, next_within(rx_a, 1s), 5s);
      if (ev && std::holds_alternative<events::neighbor_down>(*ev)) down = true;
    }
    EXPECT_TRUE(down) << "a never saw b leave";
    EXPECT_TRUE(eventually([&] {
      auto st = b.stats_blocking();
      return st.topics == 0 && st.timers == 0 && st.waiters == 0 && st.receivers == 0 &&
             st.transport.connections == 0 && st.transport.queued_bytes == 0 && st.tasks == idle_b.tasks;
    })) << "b kept work for a topic it left: tasks " << b.stats_blocking().tasks << " (idle " << idle_b.tasks
        << "), timers " << b.stats_blocking().timers << ", connections "
        << b.stats_blocking().transport.connections;
  }
  // a's handles are gone too now.
  EXPECT_TRUE(eventually([&] {
    auto st = a.stats_blocking();
    return st.topics == 0 && st.timers == 0 && st.waiters == 0 && st.transport.connections == 0 &&
           st.tasks == idle_a.tasks;
  }));
}

TEST(node, a_node_that_leaves_and_rejoins_resumes) {
  asio::io_context io;
  auto a = start_node(loopback_config(41));
  auto b = start_node(loopback_config(42));
  auto ta = a.subscribe(chat);
  ASSERT_TRUE(ta);
  auto [tx_a, rx_a] = std::move(*ta).split();
  for (int round = 0; round < 3; ++round) {
    auto tb = run_on(io, b.subscribe_and_join(chat, {a.address()}, 5s), 10s);
    ASSERT_TRUE(tb) << "round " << round << ": " << tb.error().message();
    auto [tx_b, rx_b] = std::move(*tb).split();
    const std::string up = "b-to-a-" + std::to_string(round), down = "a-to-b-" + std::to_string(round);
    ASSERT_TRUE(run_on(io, tx_b.broadcast(to_bytes(up)), 5s));
    ASSERT_TRUE(run_on(io, tx_a.broadcast(to_bytes(down)), 5s));
    EXPECT_EQ(run_on(io, collect(rx_a, 1, 5s), 10s), std::vector<std::string>{up}) << "round " << round;
    EXPECT_EQ(run_on(io, collect(rx_b, 1, 5s), 10s), std::vector<std::string>{down}) << "round " << round;
    // Leave: drop b's handles, and wait until a has noticed.
    { auto gone_tx = std::move(tx_b); auto gone_rx = std::move(rx_b); }
    ASSERT_TRUE(eventually([&] { return tx_a.neighbors().empty(); })) << "round " << round;
  }
}

TEST(node, wrong_expected_identity_never_joins) {
  asio::io_context io;
  auto a = start_node(loopback_config(51));
  auto b = start_node(loopback_config(52));
  auto ta = a.subscribe(chat);
  ASSERT_TRUE(ta);
  peer_addr impostor{*node_id::from_span(keypair::generate().public_key().span()), a.address().addresses};
  auto tb = b.subscribe(chat, {impostor});
  ASSERT_TRUE(tb);
  auto j = run_on(io, tb->joined(1500ms), 5s);
  ASSERT_FALSE(j);
  EXPECT_TRUE(j.error() == errc::timeout);
  EXPECT_GE(b.stats_blocking().transport.identity_mismatches, 1u);
  EXPECT_TRUE(ta->neighbors().empty());
}

// --------------------------------------------------- events and waiting --

TEST(node, slow_receiver_gets_lagged_and_keeps_working) {
  asio::io_context io;
  node_config small = loopback_config(61);
  small.event_queue_capacity = 8;
  auto [a, b, tx_a, tx_b, rx_a, rx_b] = joined_pair(io, chat, loopback_config(60), small);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(run_on(io, tx_a.broadcast(to_bytes("m" + std::to_string(i))), 5s));
  // b reads nothing until all 50 have arrived.
  ASSERT_TRUE(eventually([&] { return b.stats_blocking().lagged_events >= 43; }));
  auto first = run_on(io, next_within(rx_b, 1s), 5s);
  ASSERT_TRUE(first);
  auto* lag = std::get_if<events::lagged>(&*first);
  ASSERT_NE(lag, nullptr) << "the first event after falling behind must be lagged";
  std::size_t received = 0;
  for (;;) {
    auto ev = run_on(io, next_within(rx_b, 300ms), 5s);
    if (!ev) break;
    if (std::holds_alternative<events::received>(*ev)) ++received;
  }
  EXPECT_EQ(received, 8u) << "the newest events fill the queue";
  EXPECT_EQ(lag->missed + received, 51u) << "50 messages and the neighbor_up";
  ASSERT_TRUE(run_on(io, tx_a.broadcast(to_bytes("after")), 5s));
  EXPECT_EQ(run_on(io, collect(rx_b, 1, 5s), 10s), std::vector<std::string>{"after"});
}

TEST(node, waiting_for_an_event_can_be_cancelled) {
  asio::io_context io;
  auto a = start_node(loopback_config(71));
  auto ta = a.subscribe(chat);
  ASSERT_TRUE(ta);
  auto [tx, rx] = std::move(*ta).split();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_on(io, next_within(rx, 100ms), 5s);
  EXPECT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_TRUE(eventually([&] { return a.stats_blocking().waiters == 0; })) << "the cancelled wait lingers";
  // joined() with a timeout ends with errc::timeout.
  auto j = run_on(io, rx.joined(100ms), 5s);
  ASSERT_FALSE(j);
  EXPECT_TRUE(j.error() == errc::timeout);
}

TEST(node, handles_outliving_the_node_fail_cleanly) {
  asio::io_context io;
  std::optional<receiver> rx;
  std::optional<sender> tx;
  {
    auto a = start_node(loopback_config(81));
    auto t = a.subscribe(chat);
    ASSERT_TRUE(t);
    auto [s, r] = std::move(*t).split();
    tx.emplace(std::move(s));
    rx.emplace(std::move(r));
  }
  auto ev = run_on(io, rx->next(), 5s);
  ASSERT_FALSE(ev);
  EXPECT_TRUE(ev.error() == errc::node_stopped || ev.error() == errc::topic_closed) << ev.error().message();
  auto b = run_on(io, tx->broadcast(to_bytes("late")), 5s);
  ASSERT_FALSE(b);
  EXPECT_TRUE(b.error() == errc::node_stopped);
}

}  // namespace
}  // namespace topicswarm
