// The TLS transport on its own: two or more transports on one io_context,
// real TCP and TLS 1.3 on loopback (IPv4 and IPv6), a recording handler.
#include "net/frame.hpp"
#include "net/tls.hpp"
#include "net/transport.hpp"

#include <asio/io_context.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>

namespace topicswarm::net {
namespace {

using namespace std::chrono_literals;

struct recorder : transport_handler {
  std::vector<node_id> connected;
  std::vector<std::pair<node_id, error>> disconnected;
  std::vector<std::pair<node_id, bytes>> frames;
  void on_connected(const node_id& p) override { connected.push_back(p); }
  void on_gossip(const node_id& p, byte_span body) override { frames.emplace_back(p, bytes(body.begin(), body.end())); }
  void on_disconnected(const node_id& p, const error& why) override { disconnected.emplace_back(p, why); }
  void on_send_ready() override {}
};

struct endpoint_under_test {
  keypair keys = keypair::generate();
  recorder events;
  std::unique_ptr<transport> t;
  node_id id() const { return *node_id::from_span(keys.public_key().span()); }
};

constexpr std::size_t max_payload = 1024;

transport_config fast_config() {
  transport_config c;
  c.duplicate_grace = 300ms;
  c.handshake_timeout = 2s;
  c.connect_timeout = 2s;
  return c;
}

void start(asio::io_context& io, endpoint_under_test& e, const char* listen = "127.0.0.1:0",
           transport_config cfg = fast_config()) {
  auto t = transport::create(io, e.keys, {*endpoint::parse(listen)}, cfg, max_payload, e.events);
  ASSERT_TRUE(t) << t.error().message();
  e.t = std::move(*t);
  e.t->run();
}

bool run_until(asio::io_context& io, const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(5ms);
  }
  return pred();
}

bytes gossip_frame(std::string_view body) {
  bytes f;
  append_frame(f, frame_kind::gossip, to_bytes(body));
  return f;
}

TEST(transport, dial_authenticates_and_both_sides_learn_the_id) {
  asio::io_context io;
  endpoint_under_test a, b;
  start(io, a);
  start(io, b);
  a.t->dial(b.id(), b.t->local_endpoints());
  ASSERT_TRUE(run_until(io, [&] { return !a.events.connected.empty() && !b.events.connected.empty(); }));
  EXPECT_EQ(a.events.connected.front(), b.id());
  EXPECT_EQ(b.events.connected.front(), a.id());  // the acceptor learned it from the certificate
  EXPECT_EQ(a.t->send(b.id(), gossip_frame("ping")), transport::send_status::sent);
  ASSERT_TRUE(run_until(io, [&] { return !b.events.frames.empty(); }));
  EXPECT_EQ(b.events.frames.front().first, a.id());
  EXPECT_EQ(to_string(byte_span(b.events.frames.front().second)), "ping");
}

TEST(transport, works_over_ipv6) {
  asio::io_context io;
  endpoint_under_test a, b;
  start(io, a, "[::1]:0");
  start(io, b, "[::1]:0");
  ASSERT_TRUE(b.t->local_endpoints().at(0).is_v6());
  a.t->dial(b.id(), b.t->local_endpoints());
  a.t->send(b.id(), gossip_frame("over v6"));  // queued while dialling
  ASSERT_TRUE(run_until(io, [&] { return !b.events.frames.empty(); }));
  EXPECT_EQ(to_string(byte_span(b.events.frames.front().second)), "over v6");
}

TEST(transport, wrong_expected_identity_is_refused) {
  asio::io_context io;
  endpoint_under_test a, b;
  start(io, a);
  start(io, b);
  const node_id someone_else = *node_id::from_span(keypair::generate().public_key().span());
  a.t->dial(someone_else, b.t->local_endpoints());
  a.t->send(someone_else, gossip_frame("secret"));
  ASSERT_TRUE(run_until(io, [&] { return !a.events.disconnected.empty(); }));
  EXPECT_EQ(a.events.disconnected.front().first, someone_else);
  EXPECT_TRUE(a.events.disconnected.front().second == errc::peer_identity_mismatch)
      << a.events.disconnected.front().second.message();
  EXPECT_EQ(a.t->stats().identity_mismatches, 1u);
  EXPECT_FALSE(a.t->connected(someone_else));
  EXPECT_TRUE(a.events.connected.empty());
  // Nothing queued for the wrong peer was sent to the impostor.
  run_until(io, [] { return false; }, 200ms);
  EXPECT_TRUE(b.events.frames.empty());
}

TEST(transport, simultaneous_dials_leave_exactly_one_connection) {
  for (int round = 0; round < 5; ++round) {
    asio::io_context io;
    endpoint_under_test a, b;
    start(io, a);
    start(io, b);
    // Both dial before either handshake can finish: the race is certain.
    a.t->dial(b.id(), b.t->local_endpoints());
    b.t->dial(a.id(), a.t->local_endpoints());
    ASSERT_TRUE(run_until(io, [&] {
      return a.t->stats().duplicate_connections + b.t->stats().duplicate_connections >= 2 &&
             a.t->stats().connections == 1 && b.t->stats().connections == 1;
    })) << "round " << round << ": connections " << a.t->stats().connections << "/" << b.t->stats().connections;
    EXPECT_EQ(a.events.connected.size(), 1u);
    EXPECT_EQ(b.events.connected.size(), 1u);
    EXPECT_TRUE(a.events.disconnected.empty());
    EXPECT_TRUE(b.events.disconnected.empty());
    // The survivor carries traffic both ways.
    a.t->send(b.id(), gossip_frame("a->b"));
    b.t->send(a.id(), gossip_frame("b->a"));
    ASSERT_TRUE(run_until(io, [&] { return !a.events.frames.empty() && !b.events.frames.empty(); }));
    EXPECT_EQ(a.events.frames.size(), 1u);
    EXPECT_EQ(b.events.frames.size(), 1u);
  }
}

TEST(transport, frame_of_exactly_the_maximum_passes_and_one_more_closes) {
  asio::io_context io;
  endpoint_under_test a, b;
  start(io, a);
  start(io, b);
  a.t->dial(b.id(), b.t->local_endpoints());
  ASSERT_TRUE(run_until(io, [&] { return a.t->connected(b.id()) && !b.events.connected.empty(); }));
  // Payload = kind byte + body.
  a.t->send(b.id(), gossip_frame(std::string(max_payload - 1, 'x')));
  ASSERT_TRUE(run_until(io, [&] { return !b.events.frames.empty(); }));
  EXPECT_EQ(b.events.frames.front().second.size(), max_payload - 1);
  a.t->send(b.id(), gossip_frame(std::string(max_payload, 'y')));
  ASSERT_TRUE(run_until(io, [&] { return !b.events.disconnected.empty(); }));
  EXPECT_TRUE(b.events.disconnected.front().second == errc::message_too_large);
  EXPECT_EQ(b.t->stats().oversized_frames, 1u);
  EXPECT_EQ(b.events.frames.size(), 1u);
}

TEST(transport, idle_connection_is_closed_and_keepalives_prevent_it) {
  asio::io_context io;
  endpoint_under_test a, b, c;
  auto quiet = fast_config();
  quiet.idle_timeout = 400ms;
  quiet.keepalive_interval = 100ms;
  start(io, a, "127.0.0.1:0", quiet);
  start(io, b, "127.0.0.1:0", quiet);
  a.t->dial(b.id(), b.t->local_endpoints());
  ASSERT_TRUE(run_until(io, [&] { return a.t->connected(b.id()); }));
  // Keepalives flow both ways: after 4 idle timeouts the connection stands.
  run_until(io, [] { return false; }, 1600ms);
  EXPECT_TRUE(a.t->connected(b.id()));
  EXPECT_EQ(a.t->stats().idle_timeouts + b.t->stats().idle_timeouts, 0u);

  // A peer that never sends keepalives (its interval is longer than our idle timeout) is dropped.
  auto silent = fast_config();
  silent.keepalive_interval = 60s;
  start(io, c, "127.0.0.1:0", silent);
  c.t->dial(a.id(), a.t->local_endpoints());
  ASSERT_TRUE(run_until(io, [&] { return a.t->connected(c.id()); }));
  ASSERT_TRUE(run_until(io, [&] { return !a.t->connected(c.id()); }, 3s));
  EXPECT_GE(a.t->stats().idle_timeouts, 1u);
}

TEST(transport, connection_cap_refuses_extra_peers) {
  asio::io_context io;
  endpoint_under_test hub;
  auto capped = fast_config();
  capped.max_connections = 2;
  start(io, hub, "127.0.0.1:0", capped);
  std::vector<std::unique_ptr<endpoint_under_test>> spokes;
  for (int i = 0; i < 4; ++i) {
    spokes.push_back(std::make_unique<endpoint_under_test>());
    start(io, *spokes.back());
    spokes.back()->t->dial(hub.id(), hub.t->local_endpoints());
  }
  run_until(io, [&] { return hub.t->stats().refused_connection_cap + hub.t->stats().connections >= 4; });
  EXPECT_EQ(hub.t->stats().connections, 2u);
  EXPECT_EQ(hub.t->stats().refused_connection_cap, 2u);
}

}  // namespace
}  // namespace topicswarm::net
