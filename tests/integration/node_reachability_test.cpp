// Reachability by dial-back (docs/PROTOCOL.md §19) on real nodes, TLS on
// loopback: each side tells the other where it sees it, asks it to dial
// back, and the probe connection through its listener confirms the address.
// Connection reversal: a peer that advertises no address we may dial is
// asked, through a neighbour of both, to dial us.
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

// Three nodes in one topic and their handles.
struct trio {
  node a, b, c;
  sender tx_a, tx_b, tx_c;
  receiver rx_a, rx_b, rx_c;
};

bool has(const std::vector<node_id>& v, const node_id& id) { return std::find(v.begin(), v.end(), id) != v.end(); }

// a, then b through a, then c through b. b forwards c's join to a, whose
// active view holds only b, so a takes c as a neighbour (HyParView's forward
// join) and must connect to it.
trio chain(asio::io_context& io, const topic_id& t, node_config ca, node_config cb, node_config cc) {
  auto a = start_node(std::move(ca));
  auto b = start_node(std::move(cb));
  auto c = start_node(std::move(cc));
  auto [tx_a, rx_a] = subscribed(a, t, {});
  auto [tx_b, rx_b] = subscribed(b, t, {a.address()});
  if (!run_on(io, rx_b.joined(5s), 10s)) throw std::runtime_error("b never joined a");
  auto [tx_c, rx_c] = subscribed(c, t, {b.address()});
  if (!run_on(io, rx_c.joined(5s), 10s)) throw std::runtime_error("c never joined b");
  return trio{std::move(a), std::move(b), std::move(c), std::move(tx_a),
              std::move(tx_b), std::move(tx_c), std::move(rx_a), std::move(rx_b), std::move(rx_c)};
}

// b alone, then a and c through b: b knows each only by what it advertises,
// and both a and c want the other (a from b's forwarded join, c from b's
// join reply filling its view).
trio star(asio::io_context& io, const topic_id& t, node_config ca, node_config cb, node_config cc) {
  auto a = start_node(std::move(ca));
  auto b = start_node(std::move(cb));
  auto c = start_node(std::move(cc));
  auto [tx_b, rx_b] = subscribed(b, t, {});
  auto [tx_a, rx_a] = subscribed(a, t, {b.address()});
  if (!run_on(io, rx_a.joined(5s), 10s)) throw std::runtime_error("a never joined b");
  auto [tx_c, rx_c] = subscribed(c, t, {b.address()});
  if (!run_on(io, rx_c.joined(5s), 10s)) throw std::runtime_error("c never joined b");
  return trio{std::move(a), std::move(b), std::move(c), std::move(tx_a),
              std::move(tx_b), std::move(tx_c), std::move(rx_a), std::move(rx_b), std::move(rx_c)};
}

// How a's connection to c was made ("direct", "punched"), as network_status says.
std::string path_to(node& from, const node_id& to) {
  for (const auto& c : from.network_status_blocking().connections)
    if (c.peer == to) return c.path;
  return "none";
}

bool a_and_c_neighbours(trio& n) {
  return wait_until([&] { return has(n.rx_a.neighbors(), n.c.id()) && has(n.rx_c.neighbors(), n.a.id()); }, 15s);
}

// Messages cross between a and c both ways.
void a_and_c_exchange(asio::io_context& io, trio& n) {
  ASSERT_TRUE(run_on(io, n.tx_c.broadcast(to_bytes("from c")), 10s));
  EXPECT_EQ(run_on(io, collect(n.rx_a, 1, 10s), 15s), std::vector<std::string>{"from c"});
  ASSERT_TRUE(run_on(io, n.tx_a.broadcast(to_bytes("from a")), 10s));
  EXPECT_EQ(run_on(io, collect(n.rx_c, 1, 10s), 15s), std::vector<std::string>{"from a"});
}

// c advertises only an address of a network a is not on (a's policy refuses
// it), so a has nothing to dial: it asks b, which is connected to c, and c
// dials a at the address b sees a at. c learns a's address from b's join
// reply too, but with room for one neighbour only (which it has: b) it does
// not ask a itself. a asks for a reversal, not a punch: punching is off.
TEST(node_reachability, a_peer_with_no_address_we_may_dial_is_reached_by_connection_reversal) {
  asio::io_context io;
  auto ca = loopback_config(5);
  ca.reachability.hole_punching = false;
  auto cc = loopback_config(7);
  cc.advertise = {*endpoint::parse("10.255.0.1:0")};
  cc.gossip.active_view_capacity = 1;
  auto n = chain(io, topic_id_from_name("reversal"), ca, loopback_config(6), cc);
  ASSERT_TRUE(a_and_c_neighbours(n)) << "a and c never became neighbours";

  const auto sa = n.a.stats_blocking(), sb = n.b.stats_blocking(), sc = n.c.stats_blocking();
  EXPECT_GE(sa.reversal.requested, 1u);
  EXPECT_GE(sa.reversal.succeeded, 1u);
  EXPECT_GE(sa.reversal.dials_reached, 1u);
  EXPECT_EQ(sa.reversal.dials_not_reached, 0u);
  EXPECT_EQ(sa.punch.requested, 0u);
  EXPECT_GE(sb.reversal.forwarded, 1u);
  EXPECT_GE(sc.reversal.dialled, 1u);
  EXPECT_GE(sc.reversal.dial_connected, 1u);
  // a never dialled c: c's connection is the one it accepted.
  EXPECT_EQ(sa.transport.dialled, 0u);
  EXPECT_GE(sa.transport.accepted, 2u);
  EXPECT_EQ(path_to(n.a, n.c.id()), "direct");
  a_and_c_exchange(io, n);
}

// The same, with punching on (the default) and a not known to be reachable
// (its first check is far off): a asks b to carry a punch; a and c exchange,
// through b, where b sees them, and dial each other from their listen ports.
// On loopback there is no NAT, so one connect meets either the other's
// punch socket or its listener; either way one connection results.
TEST(node_reachability, a_node_not_known_to_be_reachable_reaches_such_a_peer_by_a_hole_punch) {
  asio::io_context io;
  auto ca = loopback_config(14);
  ca.reachability.check_delay = 60s;
  auto cc = loopback_config(16);
  cc.advertise = {*endpoint::parse("10.255.0.1:0")};
  cc.gossip.active_view_capacity = 1;
  auto n = chain(io, topic_id_from_name("punch"), ca, loopback_config(15), cc);
  ASSERT_TRUE(a_and_c_neighbours(n)) << "a and c never became neighbours";
  EXPECT_EQ(n.a.network_status_blocking().reachability, reachability::unknown);

  const auto sa = n.a.stats_blocking(), sb = n.b.stats_blocking(), sc = n.c.stats_blocking();
  EXPECT_GE(sa.punch.requested, 1u);
  EXPECT_GE(sa.punch.replies, 1u);
  EXPECT_GE(sa.punch.dials, 1u);
  EXPECT_EQ(sa.reversal.requested, 0u);  // a punch, not a reversal
  EXPECT_GE(sc.punch.agreed, 1u);
  EXPECT_GE(sc.punch.dials, 1u);
  EXPECT_GE(sa.punch.connected + sc.punch.connected, 1u);
  EXPECT_GE(sb.reversal.forwarded, 3u);  // connect, reply, sync
  EXPECT_EQ(sa.punch.unsynced + sc.punch.unsynced + sa.punch.no_reply, 0u);
  // Answered by the other's punch socket or by its listener (which then
  // counts a punch accepted).
  EXPECT_GE(sa.punch.simultaneous_opens + sa.punch.listener_answers + sc.punch.simultaneous_opens +
                sc.punch.listener_answers,
            1u);
  EXPECT_EQ(sa.punch.listener_answers, sc.punch.accepted);
  EXPECT_EQ(sc.punch.listener_answers, sa.punch.accepted);
  // Each side says so (also the side whose listener took the other's
  // punch); exactly one of them was the TLS client.
  EXPECT_EQ(path_to(n.a, n.c.id()), "punched");
  EXPECT_EQ(path_to(n.c, n.a.id()), "punched");
  const auto conns_a = n.a.network_status_blocking().connections;
  const auto conns_c = n.c.network_status_blocking().connections;
  const auto dialled = [](const std::vector<connection_status>& v, const node_id& p) {
    for (const auto& c : v)
      if (c.peer == p) return c.dialled;
    return false;
  };
  EXPECT_NE(dialled(conns_a, n.c.id()), dialled(conns_c, n.a.id()));
  a_and_c_exchange(io, n);
}

// With reversal off on a, the same dial fails at once: nobody is asked to
// carry a reversal or a punch, and c is never asked to dial a.
TEST(node_reachability, with_reversal_off_a_peer_with_no_address_we_may_dial_is_not_reached) {
  asio::io_context io;
  auto ca = loopback_config(8);
  ca.reachability.connection_reversal = false;
  auto cc = loopback_config(10);
  cc.advertise = {*endpoint::parse("10.255.0.1:0")};
  cc.gossip.active_view_capacity = 1;
  auto n = chain(io, topic_id_from_name("reversal-off"), ca, loopback_config(9), cc);
  std::this_thread::sleep_for(2s);
  // (c may still dial a on its own later: it learns a's address from b.)
  const auto sa = n.a.stats_blocking();
  EXPECT_EQ(sa.reversal.requested, 0u);
  EXPECT_EQ(sa.punch.requested, 0u);
  EXPECT_EQ(sa.reversal.dials_waited, 0u);
  EXPECT_EQ(n.b.stats_blocking().reversal.forwarded, 0u);
  EXPECT_EQ(n.c.stats_blocking().reversal.dialled, 0u);
  EXPECT_EQ(n.c.stats_blocking().punch.dials, 0u);
}

// Both a and c advertise only addresses the other may not dial, and both
// want the link. With punching off, each asks b for a reversal and waits;
// each then gets the other's reverse frame, whose address (where b sees the
// other, here the listen port it dials from) its waiting dial takes. They
// connect, once.
TEST(node_reachability, two_peers_that_both_wait_for_a_reversal_dial_the_addresses_their_helper_saw) {
  asio::io_context io;
  auto ca = loopback_config(11);
  ca.advertise = {*endpoint::parse("10.255.0.2:0")};
  ca.reachability.hole_punching = false;
  auto cc = loopback_config(13);
  cc.advertise = {*endpoint::parse("10.255.0.1:0")};
  cc.reachability.hole_punching = false;
  auto n = star(io, topic_id_from_name("reversal-both"), ca, loopback_config(12), cc);
  ASSERT_TRUE(a_and_c_neighbours(n)) << "a and c never became neighbours";
  // Both dialled: the duplicate rule keeps one connection (the other is
  // closed after a grace period).
  EXPECT_TRUE(wait_until(
      [&] { return n.a.stats_blocking().transport.connections == 2 && n.c.stats_blocking().transport.connections == 2; },
      10s));
  const auto sa = n.a.stats_blocking(), sb = n.b.stats_blocking(), sc = n.c.stats_blocking();
  EXPECT_GE(sa.reversal.requested + sc.reversal.requested, 1u);
  EXPECT_GE(sb.reversal.forwarded, 1u);
  EXPECT_GE(sa.reversal.dialled + sc.reversal.dialled, 1u);
  EXPECT_GE(sa.reversal.dials_reached + sc.reversal.dials_reached, 1u);
  EXPECT_EQ(sa.reversal.dials_not_reached + sc.reversal.dials_not_reached, 0u);
  ASSERT_TRUE(run_on(io, n.tx_c.broadcast(to_bytes("from c")), 10s));
  EXPECT_EQ(run_on(io, collect(n.rx_a, 1, 10s), 15s), std::vector<std::string>{"from c"});
}

// The same with punching on and neither known to be reachable: both ask b
// for a punch at once. The punches cross at b's far ends; the larger id's
// goes on, the other side answers it, and one connection results.
TEST(node_reachability, two_punches_that_cross_end_in_one_connection) {
  asio::io_context io;
  auto ca = loopback_config(17);
  ca.advertise = {*endpoint::parse("10.255.0.2:0")};
  ca.reachability.check_delay = 60s;
  auto cc = loopback_config(19);
  cc.advertise = {*endpoint::parse("10.255.0.1:0")};
  cc.reachability.check_delay = 60s;
  auto n = star(io, topic_id_from_name("punch-both"), ca, loopback_config(18), cc);
  ASSERT_TRUE(a_and_c_neighbours(n)) << "a and c never became neighbours";
  EXPECT_TRUE(wait_until(
      [&] { return n.a.stats_blocking().transport.connections == 2 && n.c.stats_blocking().transport.connections == 2; },
      10s));
  const auto sa = n.a.stats_blocking(), sc = n.c.stats_blocking();
  EXPECT_GE(sa.punch.requested + sc.punch.requested, 1u);
  EXPECT_GE(sa.punch.agreed + sc.punch.agreed, 1u);
  EXPECT_GE(sa.punch.connected + sc.punch.connected, 1u);
  EXPECT_EQ(sa.reversal.requested + sc.reversal.requested, 0u);
  a_and_c_exchange(io, n);
}

}  // namespace
}  // namespace topicswarm
