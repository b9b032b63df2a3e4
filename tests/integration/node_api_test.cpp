// The public API's promises (issue 12, item 8), on real nodes over TLS on
// loopback: the node-wide event stream, join_peers() bounded by
// timeouts.join_peer_timeout, broadcast timeouts on every topic, copies of
// a topic handle as independent cursors, and message_too_large with its
// size and limit as fields.
#include "node_support.hpp"
#include "raw_peer.hpp"

#include <asio/ip/tcp.hpp>

#include <cstring>

namespace topicswarm {
namespace {

using namespace test_support;
using namespace std::chrono_literals;

// The next node event, or an error after `limit`.
asio::awaitable<result<node_event>> next_node_event(node_events_receiver& rx, std::chrono::milliseconds limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer t(co_await asio::this_coro::executor, limit);
  auto r = co_await (rx.next() || t.async_wait(asio::use_awaitable));
  if (r.index() == 1) co_return error{errc::timeout, "no node event within " + std::to_string(limit.count()) + " ms"};
  co_return std::get<0>(std::move(r));
}

// A port on 127.0.0.1 that nobody listens on (bound, then closed).
std::uint16_t closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = a.local_endpoint().port();
  a.close();
  return port;
}

TEST(node_api, node_events_report_connections_disconnections_with_cause_and_failed_dials) {
  asio::io_context io;
  const topic_id t = topic_id_from_name("node-api-events");
  auto a = start_node(loopback_config(1));
  auto events = a.events();
  auto copy = events;  // an independent cursor: it sees the same events
  {
    auto b = start_node(loopback_config(2));
    const node_id bid = b.id();
    auto [tx_a, rx_a] = subscribed(a, t, {});
    auto [tx_b, rx_b] = subscribed(b, t, {a.address()});
    auto ev = run_on(io, next_node_event(events, 10s), 15s);
    ASSERT_TRUE(ev) << ev.error().message();
    auto* up = std::get_if<events::peer_connected>(&*ev);
    ASSERT_NE(up, nullptr) << "first event is not peer_connected (index " << ev->index() << ")";
    EXPECT_EQ(up->peer, bid);
    auto ev2 = run_on(io, next_node_event(copy, 10s), 15s);
    ASSERT_TRUE(ev2) << ev2.error().message();
    ASSERT_TRUE(std::holds_alternative<events::peer_connected>(*ev2));
    // b goes away: a hears the disconnect, with a cause.
    b.stop();
    auto down = run_on(io, next_node_event(events, 10s), 15s);
    ASSERT_TRUE(down) << down.error().message();
    auto* d = std::get_if<events::peer_disconnected>(&*down);
    ASSERT_NE(d, nullptr) << "expected peer_disconnected (index " << down->index() << ")";
    EXPECT_EQ(d->peer, bid);
    EXPECT_TRUE(d->cause.code) << "a disconnect carries its cause";
  }
  // A dial that cannot succeed: nobody listens at that port.
  auto ghost_id = identity::generate().id();
  peer_addr ghost{ghost_id, {endpoint::v4({127, 0, 0, 1}, closed_port())}};
  auto [tx, rx] = subscribed(a, t, {ghost});
  for (int i = 0; i < 5; ++i) {
    auto ev = run_on(io, next_node_event(events, 10s), 15s);
    ASSERT_TRUE(ev) << ev.error().message();
    if (auto* f = std::get_if<events::dial_failed>(&*ev)) {
      EXPECT_EQ(f->peer, ghost_id);
      EXPECT_TRUE(f->cause.code);
      break;
    }
    ASSERT_LT(i, 4) << "no dial_failed event";
  }
  // Stopping the node ends the stream with node_stopped.
  a.stop();
  for (int i = 0; i < 10; ++i) {
    auto ev = run_on(io, events.next(), 5s);
    if (!ev) {
      EXPECT_TRUE(ev.error() == errc::node_stopped) << ev.error().message();
      break;
    }
    ASSERT_LT(i, 9) << "the stream did not end";
  }
}

TEST(node_api, join_peers_completes_on_a_neighbour_or_fails_after_the_join_peer_timeout) {
  asio::io_context io;
  const topic_id t = topic_id_from_name("node-api-join-peers");
  auto ca = loopback_config(11);
  ca.timeouts.join_peer_timeout = 400ms;
  auto a = start_node(ca);
  auto b = start_node(loopback_config(12));
  auto [tx_b, rx_b] = subscribed(b, t, {});
  auto h = a.subscribe(t);
  ASSERT_TRUE(h);
  // A peer that is not there: errc::timeout after about 400 ms, naming the setting.
  peer_addr ghost{identity::generate().id(), {endpoint::v4({127, 0, 0, 1}, closed_port())}};
  const auto start = std::chrono::steady_clock::now();
  auto r = run_on(io, h->join_peers({ghost}), 10s);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::timeout) << r.error().message();
  EXPECT_NE(r.error().message().find("join_peer_timeout"), std::string::npos) << r.error().message();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 350ms);
  // A real peer: completes once it is our neighbour.
  auto ok = run_on(io, h->join_peers({b.address()}), 10s);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_TRUE(h->is_joined());
  const auto n = h->neighbors();
  EXPECT_NE(std::find(n.begin(), n.end(), b.id()), n.end());
  // Already a neighbour: completes at once.
  auto again = run_on(io, h->join_peers({b.address()}), 2s);
  EXPECT_TRUE(again) << again.error().message();
  // Only ourselves: a clear error.
  auto self = run_on(io, h->join_peers({a.address()}), 2s);
  ASSERT_FALSE(self);
  EXPECT_TRUE(self.error() == errc::invalid_argument);
}

TEST(node_api, a_broadcast_held_back_on_a_plain_topic_fails_after_the_node_broadcast_timeout) {
  asio::io_context io;
  const topic_id t = topic_id_from_name("node-api-broadcast-timeout");
  auto cfg = loopback_config(21);
  cfg.transport.send_backpressure_bytes = 64u << 10;
  cfg.transport.send_stall_timeout = 60s;  // keep the stuck peer: this test is about the broadcast's own deadline
  cfg.timeouts.broadcast_timeout = 300ms;
  auto a = start_node(cfg);
  auto h = a.subscribe(t);
  ASSERT_TRUE(h);
  // A neighbour that joins and then never reads.
  authenticated_client stuck(io, asio_endpoint(a.listen_endpoints().at(0)));
  stuck.join_topic(t);
  ASSERT_TRUE(eventually([&] { return h->neighbors().size() == 1; })) << "the stuck peer never became a neighbour";
  auto tx = h->make_sender();
  auto r = run_on(io, flood(tx), 60s);
  ASSERT_FALSE(r) << "no broadcast was held back";
  EXPECT_TRUE(r.error() == errc::timeout) << r.error().message();
  EXPECT_NE(r.error().message().find("broadcast_timeout"), std::string::npos) << r.error().message();
}

TEST(node_api, copies_of_a_topic_handle_are_independent_cursors) {
  asio::io_context io;
  const topic_id t = topic_id_from_name("node-api-cursors");
  auto a = start_node(loopback_config(31));
  auto b = start_node(loopback_config(32));
  auto ha = a.subscribe(t);
  ASSERT_TRUE(ha);
  auto hb = b.subscribe(t, {a.address()});
  ASSERT_TRUE(hb);
  ASSERT_TRUE(run_on(io, hb->joined(5s), 10s));
  topic first = *ha;
  topic second = first;  // a copy: its own queue from now on
  auto sent = run_on(io, hb->broadcast(to_bytes("one message")), 5s);
  ASSERT_TRUE(sent) << sent.error().message();
  auto got = [&](topic& h) -> std::string {
    for (int i = 0; i < 10; ++i) {
      auto ev = run_on(io, h.next(), 5s);
      if (!ev) return "error: " + ev.error().message();
      if (auto* m = std::get_if<events::received>(&*ev)) return to_text(m->content);
    }
    return "nothing";
  };
  // Both copies see the message: neither takes it from the other.
  EXPECT_EQ(got(first), "one message");
  EXPECT_EQ(got(second), "one message");
}

TEST(node_api, message_too_large_carries_the_size_and_the_limit) {
  asio::io_context io;
  auto cfg = loopback_config(41);
  cfg.gossip.max_message_size = 1000;
  auto a = start_node(cfg);
  auto h = a.subscribe(topic_id_from_name("node-api-size"));
  ASSERT_TRUE(h);
  auto at_limit = run_on(io, h->broadcast(bytes(1000, std::byte{1})), 5s);
  EXPECT_TRUE(at_limit) << at_limit.error().message();
  auto over = run_on(io, h->broadcast(bytes(1001, std::byte{1})), 5s);
  ASSERT_FALSE(over);
  EXPECT_TRUE(over.error() == errc::message_too_large);
  ASSERT_TRUE(over.error().exceeded.has_value());
  EXPECT_EQ(over.error().exceeded->size, 1001u);
  EXPECT_EQ(over.error().exceeded->limit, 1000u);
  EXPECT_NE(over.error().message().find("1001"), std::string::npos);
}

}  // namespace
}  // namespace topicswarm
