// The simulator's engine, network model and metrics, driven with a trivial
// flooding protocol (flood_protocol.hpp) instead of the gossip core.
#include "flood_protocol.hpp"
#include "sim_test_support.hpp"

#include "sim/event_queue.hpp"
#include "sim/metrics.hpp"
#include "sim/report.hpp"
#include "sim/scenario.hpp"
#include "sim/simulator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

using namespace topicswarm;
using namespace topicswarm::sim;
using namespace std::chrono_literals;
using sim::test_support::flood_registry;

namespace {

core::instant at_ms(std::int64_t ms) { return core::instant{} + std::chrono::milliseconds(ms); }

link_config fixed_latency(std::chrono::milliseconds lat) {
  link_config l;
  l.latency_min = lat;
  l.latency_max = lat;
  return l;
}

// A small world of flood nodes on one topic.
struct world {
  flood_registry reg;
  simulator sim;
  topic_index topic;
  explicit world(const link_config& l, std::uint64_t seed = 1, std::size_t nodes = 0)
      : sim(sim_config{seed, l, nat_config{}}, reg.factory()) {
    topic = sim.add_topic(topic_id_from_name("engine-test"));
    for (std::size_t i = 0; i < nodes; ++i) sim.add_node();
  }
  void join(node_index n, std::vector<node_index> contacts = {}) { sim.join(n, topic, contacts); }
  test_support::flood_protocol& node(node_index n) { return *reg.nodes.at(n); }
  std::uint32_t broadcast(node_index n, const std::string& text) { return sim.broadcast(n, topic, to_bytes(text)); }
};

}  // namespace

// ------------------------------------------------------------- event queue --

TEST(EventQueue, PopsByTimeThenBySchedulingOrder) {
  event_queue<int> q;
  q.push(at_ms(5), 1);
  q.push(at_ms(1), 2);
  q.push(at_ms(5), 3);
  q.push(at_ms(0), 4);
  q.push(at_ms(1), 5);
  std::vector<int> order;
  while (!q.empty()) order.push_back(q.pop().event);
  EXPECT_EQ(order, (std::vector<int>{4, 2, 5, 1, 3}));
}

TEST(EventQueue, MatchesAReferenceOrderUnderRandomPushesAndPops) {
  for (auto seed : sim::test_support::test_seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    event_queue<std::uint64_t> q;
    std::map<std::pair<std::int64_t, std::uint64_t>, std::uint64_t> ref;  // (time, seq) -> payload
    std::int64_t now = 0;
    for (int i = 0; i < 20000; ++i) {
      if (ref.empty() || rng() % 3 != 0) {
        const std::int64_t t = now + static_cast<std::int64_t>(rng() % 50);  // many ties
        const std::uint64_t payload = rng();
        const auto seq = q.push(core::from_micros(t), payload);
        ref.emplace(std::make_pair(t, seq), payload);
      } else {
        auto p = q.pop();
        auto it = ref.begin();
        ASSERT_EQ(core::to_micros(p.at), it->first.first);
        ASSERT_EQ(p.seq, it->first.second);
        ASSERT_EQ(p.event, it->second);
        now = it->first.first;
        ref.erase(it);
      }
      ASSERT_EQ(q.size(), ref.size());
    }
  }
}

// ------------------------------------------------------------------- links --

TEST(Links, PerLinkLatencyIsSymmetricStableAndInRange) {
  link_config l;
  l.latency_min = 10ms;
  l.latency_max = 100ms;
  for (auto seed : sim::test_support::test_seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    link_model m(l, seed);
    std::mt19937_64 rng(seed);
    std::set<std::int64_t> distinct;
    for (std::uint32_t a = 0; a < 40; ++a) {
      for (std::uint32_t b = a + 1; b < 40; ++b) {
        const auto d = m.latency(a, b, rng);
        EXPECT_GE(d, l.latency_min);
        EXPECT_LE(d, l.latency_max);
        EXPECT_EQ(d, m.latency(b, a, rng));
        EXPECT_EQ(d, m.latency(a, b, rng));
        distinct.insert(d.count());
      }
    }
    EXPECT_GT(distinct.size(), 500u);  // 780 pairs over a 90 001-value range
  }
}

TEST(Links, PerMessageLatencyIsDrawnFromTheRange) {
  link_config l;
  l.latency_min = 5ms;
  l.latency_max = 15ms;
  l.mode = latency_mode::per_message;
  link_model m(l, 7);
  std::mt19937_64 rng(7);
  std::int64_t lo = INT64_MAX, hi = 0;
  for (int i = 0; i < 10000; ++i) {
    const auto d = m.latency(1, 2, rng).count();
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_GE(lo, 5000);
  EXPECT_LT(lo, 5100);
  EXPECT_LE(hi, 15000);
  EXPECT_GT(hi, 14900);
}

TEST(Links, FixedLatencyWhenTheRangeIsEmpty) {
  link_model m(fixed_latency(20ms), 3);
  std::mt19937_64 rng(3);
  EXPECT_EQ(m.latency(0, 1, rng), core::duration(20ms));
  EXPECT_EQ(m.latency(5, 9, rng), core::duration(20ms));
}

// ----------------------------------------------------------------- network --

TEST(Network, FirstMessagePaysTheHandshakeThenOneLatency) {
  world w(fixed_latency(20ms), 1, 2);
  w.join(0);
  w.join(1, {0});  // dials node 0: 1 RTT handshake + 20 ms
  w.sim.run_until(at_ms(1000));
  EXPECT_EQ(w.node(0).times("recv join"), (std::vector<double>{60.0}));
  EXPECT_EQ(w.sim.counters().dials, 1u);

  const auto m = w.broadcast(0, "hello");
  w.sim.run_until(at_ms(2000));
  EXPECT_EQ(w.node(1).times("deliver hello"), (std::vector<double>{1020.0}));
  const auto& t = w.sim.messages().at(m);
  EXPECT_EQ(t.delivered, 1u);
  EXPECT_EQ(t.hop.at(1), 1u);
  EXPECT_EQ(t.latency_us, (std::vector<std::int64_t>{20000}));
  EXPECT_EQ(w.sim.counters().dials, 1u);  // the connection was reused
}

TEST(Network, ConnectionsAreFifoEvenWithPerMessageLatency) {
  link_config l;
  l.latency_min = 1ms;
  l.latency_max = 100ms;
  l.mode = latency_mode::per_message;
  world w(l, 5, 2);
  w.join(0);
  w.join(1, {0});
  w.sim.run_until(at_ms(1000));
  for (int i = 0; i < 200; ++i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "m%03d", i);
    w.broadcast(1, buf);
  }
  w.sim.run_until(at_ms(3000));
  const auto got = w.node(0).entries("deliver");
  ASSERT_EQ(got.size(), 200u);
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
  const auto times = w.node(0).times("deliver");
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
  EXPECT_GE(times.front(), 1001.0);
  EXPECT_LE(times.back(), 1100.0);
}

TEST(Network, LossDropsTheConfiguredFraction) {
  for (auto seed : sim::test_support::test_seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    link_config l = fixed_latency(10ms);
    l.loss = 0.25;
    world w(l, seed, 2);
    w.join(0);
    w.join(1, {0});
    w.sim.run_until(at_ms(1000));
    const auto lost_before = w.sim.counters().lost;
    for (int i = 0; i < 4000; ++i) w.broadcast(1, "x" + std::to_string(i));
    w.sim.run_until(at_ms(2000));
    const auto delivered = w.node(0).entries("deliver").size();
    const auto lost = w.sim.counters().lost - lost_before;
    EXPECT_EQ(delivered + lost, 4000u);
    EXPECT_NEAR(static_cast<double>(lost) / 4000.0, 0.25, 0.03);
  }
  link_config none = fixed_latency(10ms);
  none.loss = 1.0;
  world w(none, 1, 2);
  w.join(0);
  w.join(1, {0});
  w.broadcast(1, "never");
  w.sim.run_until(at_ms(1000));
  EXPECT_TRUE(w.node(0).entries("recv").empty());
  EXPECT_EQ(w.sim.counters().lost, 2u);
}

TEST(Network, PartitionFailsDialsBreaksConnectionsAndDropsInFlightMessages) {
  link_config l = fixed_latency(10ms);  // keepalive 5 s, send timeout 1 s, dial failure 500 ms
  world w(l, 1, 3);
  w.join(0);
  w.join(1, {0});
  w.sim.run_until(at_ms(1000));
  ASSERT_EQ(w.node(0).entries("recv join").size(), 1u);

  w.sim.set_partition({0, 1, 1});
  w.broadcast(0, "cut");  // written into the dead connection: node 0 notices after the send timeout
  w.join(2, {0});         // a dial across the partition fails
  w.sim.run_until(at_ms(7000));
  EXPECT_EQ(w.node(0).times("disconnected"), (std::vector<double>{2000.0}));
  EXPECT_EQ(w.node(1).times("disconnected"), (std::vector<double>{6000.0}));  // keepalive
  EXPECT_EQ(w.node(2).times("disconnected"), (std::vector<double>{1500.0}));  // dial failure
  EXPECT_TRUE(w.node(1).entries("deliver").empty());
  EXPECT_EQ(w.sim.counters().dial_failures, 1u);
  EXPECT_EQ(w.sim.counters().deaths_detected, 2u);

  w.sim.heal();
  w.join(2, {0});  // now the dial succeeds
  w.sim.run_until(at_ms(8000));
  EXPECT_EQ(w.node(0).times("recv join"), (std::vector<double>{30.0, 7030.0}));

  const auto cut_before = w.sim.counters().cut;
  w.broadcast(0, "in flight");  // arrives at 8010 ...
  w.sim.run_until(at_ms(8005));
  w.sim.set_partition({0, 1, 1});  // ... but the partition starts at 8005
  w.sim.run_until(at_ms(9000));
  EXPECT_TRUE(w.node(2).entries("deliver").empty());
  EXPECT_EQ(w.sim.counters().cut, cut_before + 1);
}

TEST(Network, CrashIsNoticedAfterTheSendTimeoutOrTheKeepalive) {
  world w(fixed_latency(10ms), 1, 3);
  w.join(0);
  w.join(1, {0});
  w.join(2, {0});
  w.sim.run_until(at_ms(1000));
  w.broadcast(1, "in flight");  // reaches node 0 at 1010: lost with it
  w.sim.run_until(at_ms(1005));
  w.sim.crash(0);
  EXPECT_EQ(w.sim.status(0), node_status::crashed);
  w.sim.run_until(at_ms(1100));
  w.broadcast(1, "after");  // into the dead connection: noticed at 2100
  w.sim.run_until(at_ms(10000));
  EXPECT_EQ(w.node(1).times("disconnected"), (std::vector<double>{2100.0}));
  EXPECT_EQ(w.node(2).times("disconnected"), (std::vector<double>{6005.0}));
  EXPECT_TRUE(w.node(0).entries("deliver").empty());
  EXPECT_TRUE(w.node(2).entries("deliver").empty());
  EXPECT_EQ(w.sim.counters().dead, 2u);
  // A dial to the crashed node fails after the dial-failure delay.
  w.join(2, {0});
  w.sim.run_until(at_ms(11000));
  EXPECT_EQ(w.node(2).times("disconnected"), (std::vector<double>{6005.0, 10500.0}));
}

TEST(Network, GracefulLeaveClosesAfterMessagesAlreadySent) {
  world w(fixed_latency(10ms), 1, 2);
  w.join(0);
  w.join(1, {0});
  w.sim.run_until(at_ms(1000));
  w.sim.leave(1);  // flood: disconnect to every neighbour, then drop_peer
  EXPECT_EQ(w.sim.status(1), node_status::left);
  w.sim.run_until(at_ms(2000));
  const auto& log = w.node(0).log();
  ASSERT_GE(log.size(), 3u);
  EXPECT_EQ(log[log.size() - 2].what.rfind("recv disconnect", 0), 0u);
  EXPECT_EQ(log.back().what.rfind("disconnected", 0), 0u);
  EXPECT_EQ(w.node(0).times("recv disconnect"), (std::vector<double>{1010.0}));
  EXPECT_EQ(w.node(0).times("disconnected"), (std::vector<double>{1010.0}));
  EXPECT_EQ(w.sim.isolated(w.topic), 1u);  // node 0 alone now
}

TEST(Network, TimersFireOnlyForLiveNodes) {
  world w(fixed_latency(10ms), 1, 2);
  w.join(0);  // flood schedules a timer 100 ms after joining
  w.join(1, {0});
  w.sim.run_until(at_ms(50));
  w.sim.crash(1);
  w.sim.run_until(at_ms(1000));
  EXPECT_EQ(w.node(0).times("timer"), (std::vector<double>{100.0}));
  EXPECT_TRUE(w.node(1).times("timer").empty());
  EXPECT_EQ(w.sim.counters().timers, 1u);
}

TEST(Network, InjectAndScheduleAreExtensionPoints) {
  world w(fixed_latency(10ms), 1, 2);
  w.join(0);
  w.join(1, {0});
  std::vector<std::pair<double, node_index>> seen;
  w.sim.add_output_hook([&](node_index n, const gossip::routed& r) {
    if (std::holds_alternative<gossip::out::received>(r.o))
      seen.emplace_back(static_cast<double>(core::to_micros(w.sim.now())) / 1000.0, n);
  });
  w.sim.schedule(500ms, [&] {
    gossip::wire::gossip g;
    g.content = to_bytes("injected");
    g.id = message_id(crypto::sha256(g.content));
    w.sim.inject(1, w.topic, gossip::in::received{w.sim.info(0).id, g});
  });
  w.sim.run_until(at_ms(1000));
  EXPECT_EQ(seen, (std::vector<std::pair<double, node_index>>{{500.0, 1}}));
}

// ----------------------------------------------------------------- metrics --

TEST(Metrics, HopsRmrAndLatencyOnAChain) {
  world w(fixed_latency(10ms), 1, 4);
  w.join(0);
  w.join(1, {0});
  w.join(2, {1});
  w.join(3, {2});
  w.sim.run_until(at_ms(1000));
  const auto m = w.broadcast(0, "chain");
  w.sim.run_until(at_ms(2000));
  const std::uint32_t numbers[] = {m};
  const auto b = summarize_broadcasts(w.sim, numbers);
  EXPECT_EQ(b.missed, 0u);
  EXPECT_EQ(b.delivered, 3u);
  EXPECT_EQ(b.ldh_max, 3u);
  EXPECT_DOUBLE_EQ(b.rmr_mean, 0.0);
  EXPECT_DOUBLE_EQ(b.latency_ms.p50, 20.0);
  EXPECT_DOUBLE_EQ(b.latency_ms.max, 30.0);
  const auto& t = w.sim.messages().at(m);
  EXPECT_EQ((std::vector<std::uint16_t>(t.hop.begin(), t.hop.end())), (std::vector<std::uint16_t>{0, 1, 2, 3}));

  const auto o = analyze_overlay(w.sim, w.topic);
  EXPECT_TRUE(o.connected);
  EXPECT_DOUBLE_EQ(o.symmetry, 1.0);
  EXPECT_EQ(o.edges, 6u);
  EXPECT_EQ(o.isolated, 0u);

  // Cut the chain in the middle: once both ends noticed, two components.
  w.sim.set_partition({0, 0, 1, 1});
  w.sim.run_until(at_ms(8000));
  const auto cut = analyze_overlay(w.sim, w.topic);
  EXPECT_FALSE(cut.connected);
  EXPECT_EQ(cut.components, 2u);
  const auto m2 = w.broadcast(0, "half");
  w.sim.run_until(at_ms(9000));
  EXPECT_EQ(w.sim.messages().at(m2).expected_count, 1u);  // only node 1 is on node 0's side
  EXPECT_TRUE(missing_nodes(w.sim, m2).empty());
}

TEST(Metrics, FloodingAFullMeshHasRmrOfTheFanoutMinusOne) {
  world w(fixed_latency(10ms), 1, 4);
  w.join(0);
  w.join(1, {0});
  w.join(2, {0, 1});
  w.join(3, {0, 1, 2});
  w.sim.run_until(at_ms(1000));
  const auto m = w.broadcast(0, "mesh");
  w.sim.run_until(at_ms(2000));
  const std::uint32_t numbers[] = {m};
  const auto b = summarize_broadcasts(w.sim, numbers);
  EXPECT_EQ(b.payload_received, 9u);  // 3 from the origin, 2 forwarded by each receiver
  EXPECT_DOUBLE_EQ(b.rmr_mean, 2.0);
  EXPECT_EQ(b.ldh_max, 1u);
  EXPECT_EQ(w.sim.counters().double_deliveries, 0u);
}

TEST(Metrics, MissedCountsOnlyLiveExpectedNodes) {
  world w(fixed_latency(10ms), 1, 3);
  w.join(0);
  w.join(1, {0});
  w.sim.run_until(at_ms(1000));
  w.sim.crash(1);
  w.join(2);  // alone: expected, never reached
  const auto m = w.broadcast(0, "lonely");
  w.sim.run_until(at_ms(2000));
  EXPECT_EQ(w.sim.messages().at(m).expected_count, 1u);  // node 2 (node 1 is down)
  EXPECT_EQ(missing_nodes(w.sim, m), (std::vector<node_index>{2}));
}

TEST(Metrics, PercentilesUseNearestRank) {
  std::vector<std::int64_t> s;
  for (int i = 1; i <= 100; ++i) s.push_back(i * 1000);
  const auto p = latency_percentiles(s);
  EXPECT_DOUBLE_EQ(p.p50, 50.0);
  EXPECT_DOUBLE_EQ(p.p95, 95.0);
  EXPECT_DOUBLE_EQ(p.p99, 99.0);
  EXPECT_DOUBLE_EQ(p.max, 100.0);
  EXPECT_DOUBLE_EQ(latency_percentiles({}).max, 0.0);
}

TEST(Metrics, TimeUntilEveryNodeHasANeighbour) {
  world w(fixed_latency(10ms), 1, 3);
  w.join(0);
  EXPECT_EQ(w.sim.isolated(w.topic), 1u);
  EXPECT_FALSE(w.sim.all_have_neighbor_since(w.topic));
  w.join(1, {0});  // node 1 counts node 0 at once; node 0 learns of node 1 at 30 ms
  w.sim.run_until(at_ms(29));
  EXPECT_EQ(w.sim.isolated(w.topic), 1u);
  w.sim.run_until(at_ms(100));
  EXPECT_EQ(*w.sim.all_have_neighbor_since(w.topic), at_ms(30));
  w.join(2, {1});
  w.sim.run_until(at_ms(1000));
  EXPECT_EQ(w.sim.isolated(w.topic), 0u);
  ASSERT_TRUE(w.sim.all_have_neighbor_since(w.topic));
  // Node 2 had no neighbour for an instant at 100 ms (joined, then counted its contact).
  EXPECT_EQ(*w.sim.all_have_neighbor_since(w.topic), at_ms(100));
}

// ------------------------------------------------------------- determinism --

TEST(Determinism, SameSeedSameMetricsWithAStandInProtocol) {
  for (auto seed : sim::test_support::test_seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    for (const char* name : {"multi", "churn", "partition"}) {
      SCOPED_TRACE(name);
      scenario_options o;
      o.name = name;
      o.peers = 40;
      o.seed = seed;
      o.link.mode = latency_mode::per_message;
      o.link.loss = 0.01;
      o.heal_observe = 5s;
      flood_registry r1, r2;
      auto a = to_json(run_scenario(o, r1.factory()));
      auto b = to_json(run_scenario(o, r2.factory()));
      EXPECT_EQ(a.dump(), b.dump());
      o.seed = seed + 1000;
      flood_registry r3;
      auto c = to_json(run_scenario(o, r3.factory()));
      EXPECT_NE(a["messages"].dump(), c["messages"].dump());
    }
  }
}

TEST(Scenario, RejectsUnknownNamesAndTooFewPeers) {
  flood_registry r;
  scenario_options o;
  o.name = "nope";
  EXPECT_THROW(run_scenario(o, r.factory()), std::invalid_argument);
  o.name = "single";
  o.peers = 1;
  EXPECT_THROW(run_scenario(o, r.factory()), std::invalid_argument);
}
