// The tracker core at scale, in the simulator: peers that know only the
// topic name find each other through the in-memory DHT (with latency), form
// one overlay, and heal a partition through the merges. Each test runs
// several seeds (TOPICSWARM_SIM_SEED sets the first).
#include "sim/tracker_scenario.hpp"
#include "sim_test_support.hpp"

#include <gtest/gtest.h>

using namespace topicswarm;
using namespace topicswarm::sim;
using namespace std::chrono_literals;

namespace {

std::string hint(const tracker_scenario_options& o) {
  return "seed " + std::to_string(o.seed) + " (replay: topicswarm sim --scenario " + o.name + " --peers " +
         std::to_string(o.peers) + " --seed " + std::to_string(o.seed) + ")";
}

}  // namespace

TEST(TrackerSim, TwoHundredPeersJoiningAtOnceFormOneOverlay) {
  for (const auto seed : test_support::test_seeds(5)) {
    tracker_scenario_options o;
    o.name = "tracker-simultaneous";
    o.peers = 200;
    o.seed = seed;
    o.settle = 30s;
    SCOPED_TRACE(hint(o));
    const auto r = run_tracker_scenario(o);
    EXPECT_EQ(r.never_joined, 0u);
    EXPECT_EQ(r.joined, 200u);
    ASSERT_TRUE(r.connected_ms.has_value()) << "the overlay never became one connected graph";
    EXPECT_TRUE(r.overlay_final.connected);
    EXPECT_EQ(r.overlay_final.isolated, 0u);
    // One broadcast after the run reaches every peer.
    EXPECT_EQ(r.final_broadcast.expected, 199u);
    EXPECT_EQ(r.final_broadcast.missed, 0u);
    // Everyone found the others through records: some were read and opened,
    // and no put broke BEP 44's rules except by losing a race for a slot.
    EXPECT_GT(r.dht.records, 0u);
    EXPECT_EQ(r.dht.invalid, 0u);
    // The per-window cap held: at most K = 5 records per window could be
    // stored, so most publishers were turned away by a full window.
    EXPECT_GT(r.trackers.publishes_skipped_cap, 0u);
  }
}

TEST(TrackerSim, PartitionHealsIntoOneOverlayWithinTenMinutes) {
  for (const auto seed : test_support::test_seeds(4)) {
    tracker_scenario_options o;
    o.name = "tracker-partition";
    o.peers = 200;
    o.seed = seed;
    o.settle = 60s;
    o.heal_observe = 600s;  // the bound under test: 10 virtual minutes
    SCOPED_TRACE(hint(o));
    const auto r = run_tracker_scenario(o);
    ASSERT_TRUE(r.connected_ms.has_value());
    EXPECT_GE(r.components_during, 2u) << "the partition did not split the overlay";
    // Each side kept delivering its own messages while split.
    EXPECT_EQ(r.partition_broadcasts.missed, 0u);
    EXPECT_TRUE(r.healed);
    ASSERT_TRUE(r.heal_ms.has_value());
    EXPECT_LE(*r.heal_ms, 600'000.0);
    EXPECT_GT(r.trackers.overlap_merges, 0u) << "the message-overlap merge should be what healed it";
    EXPECT_EQ(r.final_broadcast.missed, 0u);
  }
}

TEST(TrackerSim, WithoutMergesAPartitionStaysSplit) {
  // The control for the test above: the gossip layer alone does not rejoin
  // the two sides (HyParView has no reason to look across a healed cut).
  tracker_scenario_options o;
  o.name = "tracker-partition";
  o.peers = 200;
  o.seed = 1;  // a seed whose bootstrap forms one overlay without merges
  o.settle = 60s;
  o.heal_observe = 600s;
  o.tracker.merge.bubble.enabled = false;
  o.tracker.merge.message_overlap.enabled = false;
  o.tracker.bootstrap.post_join_check = 0ms;
  SCOPED_TRACE(hint(o));
  const auto r = run_tracker_scenario(o);
  ASSERT_TRUE(r.connected_ms.has_value());
  EXPECT_GE(r.components_during, 2u);
  EXPECT_FALSE(r.healed);
}

TEST(TrackerSim, PeersJoiningOneBySecondFindTheOverlayQuickly) {
  for (const auto seed : test_support::test_seeds(3)) {
    tracker_scenario_options o;
    o.name = "tracker-join";
    o.peers = 100;
    o.seed = seed;
    o.settle = 30s;
    SCOPED_TRACE(hint(o));
    const auto r = run_tracker_scenario(o);
    EXPECT_EQ(r.never_joined, 0u);
    ASSERT_TRUE(r.connected_ms.has_value());
    EXPECT_EQ(r.final_broadcast.missed, 0u);
    // A joiner reads records that exist already: its first neighbour comes
    // from its first read round (lookups take 0.3–2 s here), not from polls.
    EXPECT_LT(r.first_neighbor_ms.p50, 3000.0);
  }
}

TEST(TrackerSim, PeersWithAnotherSecretNeverJoinTheOthers) {
  for (const auto seed : test_support::test_seeds(3)) {
    tracker_scenario_options o;
    o.name = "tracker-simultaneous";
    o.peers = 60;
    o.foreign_peers = 12;
    o.seed = seed;
    o.settle = 30s;
    SCOPED_TRACE(hint(o));
    const auto r = run_tracker_scenario(o);
    ASSERT_TRUE(r.connected_ms.has_value());
    EXPECT_EQ(r.cross_secret_links, 0u);
    // Record format 2: slots derive from the window secret, so the two
    // groups never even read each other's values.
    EXPECT_EQ(r.dht.invalid, 0u);
    // The simulator counts every member of the topic as a recipient: the 59
    // other peers with our secret got the last broadcast, the 12 with
    // another secret did not (they are an overlay of their own).
    EXPECT_EQ(r.final_broadcast.expected, 71u);
    EXPECT_EQ(r.final_broadcast.delivered, 59u);
    EXPECT_EQ(r.final_broadcast.missed, 12u);
  }
}

TEST(TrackerSim, ReportsDhtLoadPerPeerPerMinute) {
  tracker_scenario_options o;
  o.name = "tracker-simultaneous";
  o.peers = 50;
  o.seed = test_support::base_seed();
  o.settle = 300s;
  const auto r = run_tracker_scenario(o);
  const auto j = to_json(r);
  ASSERT_TRUE(j.contains("dht"));
  EXPECT_GT(j["dht"]["gets_per_peer_minute"].get<double>(), 0.0);
  EXPECT_GT(j["dht"]["puts_per_peer_minute"].get<double>(), 0.0);
  ASSERT_TRUE(r.steady_gets_per_peer_minute.has_value());
  // Steady state: a healthy node reads only for the publisher (once per
  // window when the window is full) and the overlap merge's island test
  // while its views are small; it stays far below the bootstrap's rate.
  EXPECT_LT(*r.steady_gets_per_peer_minute, 20.0);
  EXPECT_LT(*r.steady_puts_per_peer_minute, 1.0);
}
