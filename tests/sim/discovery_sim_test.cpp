// The network discovery core at scale, in the simulator (issue 14, "Proof"):
// peers that know only the network find each other through the DHT chain and
// fill their catalogs, a newcomer is known at once, crashed peers are purged
// and stopped ones leave at once, a hostile sync delivers every good entry.
// Fewer peers than the 1,000 of `topicswarm sim --scenario discovery` (every
// announce is verified by every peer: the run time grows as peers squared);
// each test names the command that replays it.
#include "sim/discovery_scenario.hpp"
#include "sim_test_support.hpp"

#include <gtest/gtest.h>

using namespace topicswarm;
using namespace topicswarm::sim;
using namespace std::chrono_literals;

namespace {

std::string hint(const discovery_scenario_options& o) {
  return "seed " + std::to_string(o.seed) + " (replay: topicswarm sim --scenario " + o.name + " --peers " +
         std::to_string(o.peers) + " --seed " + std::to_string(o.seed) + " --purge-after-s " +
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(o.core.catalog.purge_after).count()) + ")";
}

discovery_scenario_options small(std::uint32_t peers, std::uint64_t seed) {
  discovery_scenario_options o;
  o.peers = peers;
  o.seed = seed;
  o.settle = 10s;
  o.measure = 20s;
  return o;
}

}  // namespace

TEST(DiscoverySim, PeersFoundOnlyThroughTheChainFillTheirCatalogsWithinAMinute) {
  for (const auto seed : test_support::test_seeds(2)) {
    auto o = small(150, seed);
    o.join = false;
    o.churn = false;
    SCOPED_TRACE(hint(o));
    const auto r = run_discovery_scenario(o);
    EXPECT_EQ(r.peers_full, 150u);
    ASSERT_TRUE(r.full_view_ms.has_value());
    EXPECT_LE(*r.full_view_ms, 60'000.0);
    EXPECT_GT(r.claims, 0u);
    EXPECT_EQ(r.swarm.frames_malformed, 0u);
    EXPECT_EQ(r.live_peer_departures, 0u);
    // Steady state is measured and reported.
    ASSERT_TRUE(r.steady_measured);
    EXPECT_GT(r.bytes_per_peer_minute.mean, 0.0);
    EXPECT_GE(r.bytes_per_peer_minute.p99, r.bytes_per_peer_minute.p50);
  }
}

TEST(DiscoverySim, ANewcomerKnowsEveryoneAndIsKnownByEveryoneWithinFiveSeconds) {
  for (const auto seed : test_support::test_seeds(2)) {
    auto o = small(150, seed);
    o.churn = false;
    SCOPED_TRACE(hint(o));
    const auto r = run_discovery_scenario(o);
    ASSERT_TRUE(r.full_view_ms.has_value());
    ASSERT_TRUE(r.join_run);
    ASSERT_TRUE(r.join_knows_all_ms.has_value()) << r.join_knows << " of " << r.join_expected;
    ASSERT_TRUE(r.join_known_by_all_ms.has_value()) << r.join_known_by << " of " << r.join_expected;
    EXPECT_LE(*r.join_knows_all_ms, 5'000.0);
    EXPECT_LE(*r.join_known_by_all_ms, 5'000.0);
  }
}

TEST(DiscoverySim, CrashedPeersArePurgedAndStoppedOnesLeaveAtOnce) {
  auto o = small(150, test_support::base_seed());
  o.join = false;
  // A shorter purge (announces every 15 s +- 50 % keep the living well inside it).
  o.core.catalog.purge_after = 60s;
  o.core.announce_interval = 15s;
  SCOPED_TRACE(hint(o));
  const auto r = run_discovery_scenario(o);
  ASSERT_TRUE(r.full_view_ms.has_value());
  ASSERT_TRUE(r.churn_run);
  EXPECT_EQ(r.crashed, 15u);
  EXPECT_GE(r.left, 7u);
  // Stopped peers: gone from every live catalog at once, every departure graceful.
  ASSERT_TRUE(r.graceful_removed_ms.has_value());
  EXPECT_LE(*r.graceful_removed_ms, 2'000.0);
  EXPECT_GT(r.left_graceful, 0u);
  EXPECT_EQ(r.left_other_cause, 0u);
  // Crashed peers: purged from every live catalog, never before purge_after
  // since their last update, and within one purge check after it.
  ASSERT_TRUE(r.crashed_removed_ms.has_value());
  EXPECT_EQ(r.still_holding_crashed, 0u);
  EXPECT_GT(r.crashed_purged, 0u);
  EXPECT_EQ(r.crashed_other_cause, 0u);
  ASSERT_TRUE(r.purge_min_s.has_value());
  EXPECT_GT(*r.purge_min_s, 60.0);
  EXPECT_LE(*r.purge_max_s, 60.0 + 5.0 + 1.0);
  // Nobody alive was dropped.
  EXPECT_EQ(r.live_peer_departures, 0u);
}

TEST(DiscoverySim, AHostileSyncDeliversEveryGoodEntryAndCountsEachRejection) {
  for (const auto seed : test_support::test_seeds(2)) {
    discovery_scenario_options o;
    o.name = "discovery-hostile";
    o.peers = 120;
    o.seed = seed;
    o.bad_per_kind = 4;
    SCOPED_TRACE(hint(o));
    const auto r = run_discovery_scenario(o);
    ASSERT_TRUE(r.full_view_ms.has_value());
    ASSERT_TRUE(r.hostile_run);
    EXPECT_EQ(r.good_entries, 120u);  // the other 119 and the hostile node itself
    EXPECT_EQ(r.good_delivered, r.good_entries);
    EXPECT_EQ(r.joiner_catalog, r.good_entries);
    // Forged entries name an id the joiner asked for: the signature check fails.
    EXPECT_EQ(r.joiner.entries_invalid, 4u);
    EXPECT_EQ(r.joiner.other_network, 4u);
    EXPECT_EQ(r.joiner.clock_ahead, 4u);
    // Garbage names no id the joiner asked for (its id bytes are noise), so it
    // is dropped as unasked before any signature check, like the one unasked entry.
    EXPECT_EQ(r.joiner.entries_unasked, 4u + 1u);
    EXPECT_GE(r.joiner.syncs_completed, 1u);
  }
}
