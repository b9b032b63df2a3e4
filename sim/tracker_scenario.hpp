// Tracker scenarios: peers that know only the topic name find each other
// through the simulated DHT (tracker_swarm) and form one overlay.
//
//  tracker-join          one peer starts every join_interval (default 1 s);
//                        the run waits until every peer has a neighbour and
//                        the overlay is one connected graph.
//  tracker-simultaneous  every peer starts at the same instant; same wait.
//  tracker-partition     as tracker-simultaneous, then `settle`; then the
//                        peers are split into two random halves; after
//                        partition_settle, each side broadcasts one message
//                        every message_interval for partition_duration; then
//                        the split is lifted and the run reports when the
//                        overlay is one connected graph again (checked every
//                        second, for at most heal_observe), and whether a
//                        broadcast after that reaches every peer.
// Every scenario ends, 5 s after the above, with one broadcast from a random
// peer (delivery check)
// and reports DHT gets and puts per peer per minute, over the whole run and
// over the steady state (from "connected" to the end).
#pragma once

#include "sim/metrics.hpp"
#include "sim/simulator.hpp"
#include "sim/tracker_swarm.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace topicswarm::sim {

struct tracker_scenario_options {
  std::string name = "tracker-simultaneous";
  std::uint32_t peers = 200;
  std::uint64_t seed = 1;
  link_config link;
  gossip::config proto;
  auto_discovery_config tracker;
  dht_model_config dht;
  core::duration join_interval = 1s;         // tracker-join
  core::duration connect_deadline = 600s;    // longest wait for one connected overlay after the last start
  core::duration settle = 120s;              // steady state before the partition, or before the end
  core::duration partition_settle = 20s;     // after the split, before the sides broadcast
  core::duration partition_duration = 180s;  // broadcasting while split
  core::duration message_interval = 5s;
  core::duration heal_observe = 900s;
  core::duration check_interval = 250ms;  // how often connectivity is sampled
  // Peers with another secret (0: none): they start with the others, and must
  // never join them (their records do not open for the rest, and vice versa).
  std::uint32_t foreign_peers = 0;
};

struct tracker_scenario_result {
  std::string scenario;
  std::uint32_t peers = 0;
  std::uint64_t seed = 0;
  double virtual_ms = 0;
  double wall_ms = 0;  // filled in by the caller
  // Time from each peer's start to its first neighbour.
  std::uint32_t joined = 0, never_joined = 0;
  percentiles first_neighbor_ms;
  std::optional<double> all_joined_ms;    // from the first start until every peer has had a neighbour
  std::optional<double> connected_ms;     // from the first start until one connected overlay
  overlay_metrics overlay_at_all_joined;  // when the last peer got its first neighbour
  overlay_metrics overlay_at_connected;
  overlay_metrics overlay_final;
  broadcast_metrics final_broadcast;
  // Partition (tracker-partition only).
  std::size_t components_during = 0;
  bool healed = false;
  std::optional<double> heal_ms;
  broadcast_metrics partition_broadcasts;
  // Foreign-secret peers.
  std::uint32_t foreign_peers = 0;
  std::uint64_t cross_secret_links = 0;  // active-view entries between the two secrets (must be 0)
  // DHT load.
  tracker_dht_counters dht;
  double gets_per_peer_minute = 0, puts_per_peer_minute = 0;
  std::optional<double> steady_gets_per_peer_minute, steady_puts_per_peer_minute;
  tracker::counters trackers;  // summed over peers
  std::uint64_t events = 0;
};

const std::vector<std::string>& tracker_scenario_names();
bool is_tracker_scenario(const std::string& name);

// Throws std::invalid_argument for an unknown name or bad options.
tracker_scenario_result run_tracker_scenario(const tracker_scenario_options& opts);

nlohmann::json to_json(const tracker_scenario_result& r);
std::string to_text(const tracker_scenario_result& r);

}  // namespace topicswarm::sim
