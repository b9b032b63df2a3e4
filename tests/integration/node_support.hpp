// Helpers for tests of real nodes (TLS on loopback) driven from gtest bodies.
#pragma once

#include "io_runner.hpp"

#include <topicswarm/dht_client.hpp>
#include <topicswarm/dht_testnet.hpp>
#include <topicswarm/node.hpp>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace topicswarm::test_support {

using namespace std::chrono_literals;

inline node_config loopback_config(std::uint64_t seed) {
  node_config c;
  c.listen = {*endpoint::parse("127.0.0.1:0")};
  c.rng_seed = seed;
  return c;
}

inline node start_node(node_config c) {
  auto n = node::start(std::move(c));
  if (!n) throw std::runtime_error("node::start: " + n.error().message());
  return std::move(*n);
}

inline std::string to_text(const bytes& b) { return topicswarm::to_string(byte_span(b)); }

// The next event, or an error after `limit` (the wait is cancelled).
inline asio::awaitable<result<event>> next_within(receiver& rx, std::chrono::milliseconds limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer t(co_await asio::this_coro::executor, limit);
  auto r = co_await (rx.next() || t.async_wait(asio::use_awaitable));
  if (r.index() == 1) co_return error{errc::timeout, "no event within " + std::to_string(limit.count()) + " ms"};
  co_return std::get<0>(std::move(r));
}

// Collects received contents until `want` of them arrived or `limit` passed.
inline asio::awaitable<std::vector<std::string>> collect(receiver& rx, std::size_t want,
                                                         std::chrono::milliseconds limit) {
  std::vector<std::string> got;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (got.size() < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto ev = co_await next_within(rx, left);
    if (!ev) break;
    if (auto* m = std::get_if<events::received>(&*ev)) got.push_back(to_text(m->content));
  }
  co_return got;
}

// Two nodes in one topic: b joins through a; both halves of both handles.
struct node_pair {
  node a, b;
  sender tx_a, tx_b;
  receiver rx_a, rx_b;
};

inline std::pair<sender, receiver> subscribed(node& n, const topic_id& t, std::vector<peer_addr> boot) {
  auto h = n.subscribe(t, std::move(boot));
  if (!h) throw std::runtime_error("subscribe: " + h.error().message());
  return std::move(*h).split();
}

// Starts both, subscribes, and waits until b has joined.
inline node_pair joined_pair(asio::io_context& io, const topic_id& t, node_config ca, node_config cb) {
  auto a = start_node(std::move(ca));
  auto b = start_node(std::move(cb));
  auto [tx_a, rx_a] = subscribed(a, t, {});
  auto [tx_b, rx_b] = subscribed(b, t, {a.address()});
  auto j = run_on(io, rx_b.joined(std::chrono::seconds(5)), std::chrono::seconds(10));
  if (!j) throw std::runtime_error("b never joined a: " + j.error().message());
  return node_pair{std::move(a), std::move(b), std::move(tx_a), std::move(tx_b), std::move(rx_a), std::move(rx_b)};
}

// Broadcasts distinct 4000-byte messages until one fails (a neighbour that
// never reads makes back-pressure hold one back) or `count` went out: enough
// to fill the socket buffers many times over.
inline asio::awaitable<result<void>> flood(sender tx, int count = 50'000) {
  for (int i = 0; i < count; ++i) {
    bytes m(4000, std::byte{'.'});  // distinct content: equal content is one message
    const auto tag = std::to_string(i);
    std::memcpy(m.data(), tag.data(), tag.size());
    auto r = co_await tx.broadcast(std::move(m));
    if (!r) co_return r;
  }
  co_return result<void>{};
}

// Waits (polling) until `pred` holds or `limit` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}


// A node on `net` whose DHT client knows a few nodes already: tests of
// discovery measure discovery, not the DHT's own bootstrap.
inline node start_dht_node(asio::io_context& io, const dht::testnet& net, std::uint64_t seed) {
  auto cfg = loopback_config(seed);
  cfg.attach_testnet(net);
  auto n = start_node(cfg);
  auto w = run_on(io, n.wait_dht_bootstrapped(4, 15s), 20s);
  EXPECT_TRUE(w && *w >= 4);
  return n;
}

// A fresh local DHT testnet of 10 nodes per test: libtorrent keeps stopped
// nodes in its routing tables for a while, and lookups that wait on the
// nodes of earlier tests' peers would make later tests slow.
class testnet_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dht::testnet_config tc;
    tc.nodes = 10;
    auto n = dht::testnet::start(tc);
    ASSERT_TRUE(n) << n.error().message();
    net_ = std::move(*n);
  }
  void TearDown() override { net_.reset(); }

  std::unique_ptr<dht::testnet> net_;
  asio::io_context io_;
};

// A testnet and a bare DHT client on it (`writer_`), for tests that write
// into slots directly, as an attacker or a hostile member would.
class testnet_writer_test : public testnet_test {
 protected:
  void SetUp() override {
    testnet_test::SetUp();
    if (HasFatalFailure()) return;
    dht::client_config cc;
    cc.listen = {"127.0.0.1:0"};
    cc.bootstrap = net_->bootstrap_list();
    cc.default_timeout = 10s;
    auto made = dht::client::start(io_.get_executor(), cc);
    ASSERT_TRUE(made) << made.error().message();
    writer_ = std::move(*made);
    EXPECT_GE(run_on(io_, writer_->wait_bootstrapped(6, 10s), 15s), 6);
  }
  void TearDown() override {
    writer_.reset();
    testnet_test::TearDown();
  }
  std::unique_ptr<dht::client> writer_;
};

// Auto-discovery with fast polls for loopback tests (the defaults are for
// the public DHT).
inline auto_discovery_config quick_discovery() {
  auto_discovery_config c;
  c.dht.get_timeout = 3s;
  c.dht.put_timeout = 3s;
  c.join_timeout = 20s;
  c.bootstrap.no_peers_retry_interval = 200ms;
  c.bootstrap.discovery_poll_interval = 300ms;
  c.bootstrap.max_poll_interval = 1s;
  return c;
}

}  // namespace topicswarm::test_support
