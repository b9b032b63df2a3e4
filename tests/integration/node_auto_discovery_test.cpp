// Auto-discovery on real nodes: a local libtorrent DHT testnet, real TLS on
// loopback. Peers are given no addresses: they find each other through
// records in the DHT only.
#include "node_support.hpp"
#include "raw_peer.hpp"

#include <topicswarm/dht_testnet.hpp>

#include <cstring>
#include <optional>

namespace topicswarm {
namespace {

using namespace test_support;
using namespace std::chrono_literals;

// A testnet per test (testnet_test).
class node_discovery : public testnet_test {
 protected:
  node start_dht_node(std::uint64_t seed) { return test_support::start_dht_node(io_, *net_, seed); }
  static auto_discovery_config quick() { return quick_discovery(); }
};

TEST_F(node_discovery, three_peers_find_each_other_through_the_dht_and_talk) {
  const topic_id t = topic_id_from_name("discovery-three");
  auto a = start_dht_node(11);
  auto b = start_dht_node(12);
  auto c = start_dht_node(13);
  // All three start at once, knowing only the topic and the secret.
  auto ta = a.join_with_auto_discovery_no_wait(t, "s3cret", quick());
  auto tb = b.join_with_auto_discovery_no_wait(t, "s3cret", quick());
  auto tc = c.join_with_auto_discovery_no_wait(t, "s3cret", quick());
  ASSERT_TRUE(ta && tb && tc);
  for (auto* h : {&*ta, &*tb, &*tc}) {
    auto j = run_on(io_, h->joined(20s), 25s);
    ASSERT_TRUE(j) << j.error().message();
    EXPECT_TRUE(h->auto_discovery().enabled);
  }
  auto [sa, ra] = std::move(*ta).split();
  auto rb = tb->subscribe_events();
  auto rc = tc->subscribe_events();
  // Until the overlay is connected a broadcast may miss someone; retry
  // with fresh content until both got one (each message is delivered once).
  std::optional<std::string> got_b, got_c;
  for (int i = 0; i < 40 && (!got_b || !got_c); ++i) {
    auto send = sa.broadcast(to_bytes("hello " + std::to_string(i)));
    ASSERT_TRUE(run_on(io_, std::move(send), 5s));
    if (!got_b) {
      auto g = run_on(io_, collect(rb, 1, 250ms), 5s);
      if (!g.empty()) got_b = g[0];
    }
    if (!got_c) {
      auto g = run_on(io_, collect(rc, 1, 250ms), 5s);
      if (!g.empty()) got_c = g[0];
    }
  }
  EXPECT_TRUE(got_b && got_b->starts_with("hello "));
  EXPECT_TRUE(got_c && got_c->starts_with("hello "));
  const auto s = a.stats_blocking().auto_discovery;
  EXPECT_EQ(s.topics, 1u);
  EXPECT_GT(s.gets, 0u);
  EXPECT_GT(s.publishes, 0u);
}

TEST_F(node_discovery, peers_with_another_secret_never_join_and_never_see_each_others_records) {
  const topic_id t = topic_id_from_name("discovery-secrets");
  auto a = start_dht_node(21);
  auto b = start_dht_node(22);
  auto ta = a.join_with_auto_discovery_no_wait(t, "one secret", quick());
  ASSERT_TRUE(ta);
  auto tb = b.join_with_auto_discovery_no_wait(t, "another secret", quick());
  ASSERT_TRUE(tb);
  // Record format 2: slot keys derive from the window secret, so the two
  // groups publish and read disjoint slots. Wait until each has published
  // and read several rounds: neither ever sees a value of the other (not
  // even one it cannot open), and nobody dials anybody.
  node_stats sa, sb;
  for (int i = 0; i < 100; ++i) {
    sa = a.stats_blocking();
    sb = b.stats_blocking();
    if (sa.auto_discovery.publishes > 0 && sb.auto_discovery.publishes > 0 && sa.auto_discovery.rounds >= 3 &&
        sb.auto_discovery.rounds >= 3)
      break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GT(sa.auto_discovery.publishes, 0u);
  EXPECT_GT(sb.auto_discovery.publishes, 0u);
  EXPECT_GE(sa.auto_discovery.rounds, 3u);
  EXPECT_GE(sb.auto_discovery.rounds, 3u);
  EXPECT_EQ(sa.auto_discovery.records_invalid, 0u);
  EXPECT_EQ(sb.auto_discovery.records_invalid, 0u);
  EXPECT_EQ(sa.auto_discovery.records_valid, 0u);
  EXPECT_EQ(sb.auto_discovery.records_valid, 0u);
  EXPECT_FALSE(ta->is_joined());
  EXPECT_FALSE(tb->is_joined());
  EXPECT_EQ(sa.auto_discovery.dials + sb.auto_discovery.dials, 0u);
  // The waiting form gives up with a timeout, and leaves the topic again.
  auto c = start_dht_node(23);
  auto cfg = quick();
  cfg.join_timeout = 2s;
  auto tc = run_on(io_, c.join_with_auto_discovery(t, "a third secret", cfg), 15s);
  ASSERT_FALSE(tc);
  EXPECT_TRUE(tc.error() == errc::timeout) << tc.error().message();
  EXPECT_EQ(c.stats_blocking().topics, 0u);
}

TEST_F(node_discovery, a_custom_secret_rotation_is_shared_by_those_who_use_it) {
  const topic_id t = topic_id_from_name("discovery-rotation");
  auto rotate = [](const topic_id& topic, std::uint64_t window, const secret_hash& s) {
    // Any deterministic function will do; this one ignores the window on purpose.
    (void)window;
    return default_secret_rotation(topic, 7, s);
  };
  auto a = start_dht_node(31);
  auto b = start_dht_node(32);
  auto c = start_dht_node(33);
  auto ba = a.auto_discovery();
  auto ta = ba.topic(t).secret("x").rotation(rotate).config(quick()).join_no_wait();
  ASSERT_TRUE(ta);
  auto bb = b.auto_discovery();
  bb.topic_name("discovery-rotation").secret("x").rotation(rotate).config(quick());
  auto tb = run_on(io_, bb.join(), 25s);
  ASSERT_TRUE(tb) << tb.error().message();
  // The same secret with the default rotation derives other window keys.
  auto cfg = quick();
  cfg.join_timeout = 3s;
  auto tc = run_on(io_, c.join_with_auto_discovery(t, "x", cfg), 15s);
  ASSERT_FALSE(tc);
  EXPECT_TRUE(tc.error() == errc::timeout);
  EXPECT_EQ(c.stats_blocking().transport.dialled, 0u);
}

TEST_F(node_discovery, dropping_the_last_handle_stops_every_timer_and_dht_operation) {
  const topic_id t = topic_id_from_name("discovery-lifecycle");
  auto a = start_dht_node(41);
  const auto before = a.stats_blocking();
  {
    auto ta = a.join_with_auto_discovery_no_wait(t, "s", quick());
    ASSERT_TRUE(ta);
    auto rx = ta->subscribe_events();
    auto tx = ta->make_sender();
    // Alone on the topic: it keeps polling the DHT. (Lookups are slower once
    // the testnet's tables hold nodes of finished tests: wait for it.)
    node_stats busy;
    for (int i = 0; i < 150; ++i) {
      busy = a.stats_blocking();
      if (busy.auto_discovery.rounds > 1) break;
      std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(busy.auto_discovery.topics, 1u);
    EXPECT_GT(busy.auto_discovery.rounds, 1u) << "gets " << busy.auto_discovery.gets << " timeouts "
                                         << busy.auto_discovery.get_timeouts << " puts " << busy.auto_discovery.puts << " failed "
                                         << busy.auto_discovery.put_failures << " in flight "
                                         << busy.auto_discovery.dht_ops_in_flight;
    EXPECT_GT(busy.timers, before.timers);
  }
  // Every handle is gone: the topic is left and its background work stops.
  node_stats after;
  for (int i = 0; i < 100; ++i) {
    after = a.stats_blocking();
    if (after.auto_discovery.dht_ops_in_flight == 0 && after.timers == before.timers) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(after.topics, 0u);
  EXPECT_EQ(after.auto_discovery.topics, 0u);
  EXPECT_EQ(after.auto_discovery.dht_ops_in_flight, 0u);
  EXPECT_EQ(after.timers, before.timers);
  EXPECT_EQ(after.tasks, before.tasks);
  EXPECT_EQ(after.waiters, 0u);
  EXPECT_EQ(after.receivers, 0u);
  // And stays stopped: no DHT traffic from the left topic.
  const auto gets = after.dht->gets;
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(a.stats_blocking().dht->gets, gets);
}

TEST_F(node_discovery, a_broadcast_held_back_longer_than_the_broadcast_timeout_fails_with_timeout) {
  const topic_id t = topic_id_from_name("discovery-broadcast-timeout");
  auto cfg = loopback_config(61);
  cfg.attach_testnet(*net_);
  cfg.transport.send_backpressure_bytes = 64u << 10;
  cfg.transport.send_stall_timeout = 60s;  // keep the stuck peer: this test is about the broadcast's own deadline
  auto a = start_node(cfg);
  auto adc = quick();
  adc.timeouts.broadcast_timeout = 300ms;
  auto ta = a.join_with_auto_discovery_no_wait(t, "s", adc);
  ASSERT_TRUE(ta);
  // A neighbour that joins and then never reads.
  authenticated_client stuck(io_, asio_endpoint(a.listen_endpoints().at(0)));
  stuck.join_topic(t, *hash_secret(t, "s", adc.secret_hashing));
  ASSERT_TRUE(eventually([&] { return ta->neighbors().size() == 1; })) << "the stuck peer never became a neighbour";
  auto tx = ta->make_sender();
  auto r = run_on(io_, flood(tx), 60s);
  const auto st = a.stats_blocking().transport;
  ASSERT_FALSE(r) << "no broadcast was held back; connections " << st.connections << " overflows "
                  << st.send_queue_overflows << " stalled " << st.stalled_connections << " bytes out " << st.bytes_out;
  EXPECT_TRUE(r.error() == errc::timeout) << r.error().message();
  EXPECT_NE(r.error().message().find("broadcast_timeout"), std::string::npos);
}

TEST_F(node_discovery, clear_errors_for_what_cannot_work) {
  asio::io_context io;
  const topic_id t = topic_id_from_name("discovery-errors");
  // No DHT on this node.
  auto plain = start_node(loopback_config(51));
  auto r = plain.join_with_auto_discovery_no_wait(t, "s");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::invalid_argument);
  EXPECT_NE(r.error().message().find("DHT"), std::string::npos);
  EXPECT_EQ(plain.stats_blocking().topics, 0u);
  // A config that cannot work.
  auto a = start_dht_node(52);
  auto bad = quick();
  bad.bootstrap.discovery_poll_interval = 0ms;
  auto b = a.join_with_auto_discovery_no_wait(t, "s", bad);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message().find("discovery_poll_interval"), std::string::npos);
  // Auto-discovery twice on one topic.
  auto first = a.join_with_auto_discovery_no_wait(t, "s", quick());
  ASSERT_TRUE(first);
  auto second = a.join_with_auto_discovery_no_wait(t, "s", quick());
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find("already"), std::string::npos);
  EXPECT_EQ(a.stats_blocking().topics, 1u);
  // No topic given to the builder.
  auto nb = a.auto_discovery();
  auto none = nb.secret("s").join_no_wait();
  ASSERT_FALSE(none);
  EXPECT_TRUE(none.error() == errc::invalid_argument);
}

}  // namespace
}  // namespace topicswarm
