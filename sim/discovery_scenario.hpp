// Network discovery scenarios (issue 14, "Proof"): the discovery core at
// every peer (discovery_swarm), over the gossip router and the in-memory
// BEP 44 store, in virtual time.
//
//  discovery          Phases, in order (each after the one before):
//    bootstrap        `peers` peers start uniformly over start_spread with no
//                     bootstrap peers: only the DHT chain can introduce them.
//                     Waits (at most full_view_observe) until every peer's
//                     catalog holds every other peer; reports when the last
//                     one got there (target: full_view_target).
//    steady           after `settle`, the bytes each peer sends during
//                     `measure` (gossip frames of the network topic and
//                     discovery frames), per minute: mean, p50, p99, max.
//    join             (join) a fresh peer starts, through the chain only;
//                     when it knows every peer and every peer knows it.
//    churn            (churn) crash_fraction of the peers crash (no
//                     departure) and leave_fraction stop gracefully, at
//                     once; when no live catalog holds a stopped peer any
//                     more, when none holds a crashed one, and with which
//                     causes they departed (each purge is checked against
//                     purge_after since the crashed peer's last update).
//  discovery-hostile  `peers` peers bootstrap as above; then one of them
//                     turns hostile and is cut off with a fresh peer that
//                     joins through it alone (chain off): its digest pages
//                     and fetch responses mix forged, garbage,
//                     other-network and clock-ahead entries (bad_per_kind of
//                     each, spread over the id space) and one unasked entry
//                     with the good ones. Reports whether the fresh peer got
//                     every good entry and its rejection counters.
#pragma once

#include "discovery/discovery.hpp"
#include "sim/discovery_swarm.hpp"
#include "sim/metrics.hpp"
#include "sim/simulator.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace topicswarm::sim {

struct discovery_scenario_options {
  std::string name = "discovery";
  std::uint32_t peers = 1000;
  std::uint64_t seed = 1;
  link_config link;
  gossip::config proto;
  discovery::config core;
  dht_model_config dht;
  core::duration start_spread = 5s;         // peers start uniformly over this
  core::duration full_view_target = 60s;    // issue 14: every catalog full within 60 virtual s
  core::duration full_view_observe = 300s;  // the longest wait for it (from the first start)
  core::duration settle = 60s;              // after the full view, before the steady-state window
  core::duration measure = 120s;            // the steady-state window
  bool join = true;
  core::duration join_target = 5s;    // issue 14: knows everyone and known by everyone within 5 s
  core::duration join_observe = 60s;  // the longest wait
  bool churn = true;
  double crash_fraction = 0.10;
  double leave_fraction = 0.05;
  // The longest wait for every crashed peer to be purged; zero:
  // purge_after + 2 purge_check + 30 s.
  core::duration churn_observe{0};
  std::uint32_t bad_per_kind = 4;  // discovery-hostile
  // A line at the end of each phase (long runs: 1,000 peers take minutes).
  std::function<void(std::string_view line)> progress;
};

// Nearest-rank percentiles of a distribution (any unit).
struct distribution {
  double mean = 0, p50 = 0, p99 = 0, max = 0, min = 0;
  std::size_t samples = 0;
};
distribution distribution_of(std::vector<double> v);

struct discovery_scenario_result {
  std::string scenario;
  std::uint32_t peers = 0;
  std::uint64_t seed = 0;
  double virtual_ms = 0;
  double wall_ms = 0;  // filled in by the caller
  std::uint64_t events = 0;

  // bootstrap
  double full_view_target_ms = 0;
  std::uint32_t peers_full = 0;        // peers whose catalog got full
  std::optional<double> full_view_ms;  // from the first start until the last peer's catalog was full
  percentiles time_to_full_ms;         // per peer, from its own start
  percentiles first_neighbor_ms;       // per peer, from its own start
  std::uint32_t claims = 0;            // chain claims (puts) during the bootstrap
  std::uint64_t bootstrap_gets = 0;

  // steady state
  bool steady_measured = false;
  double measure_s = 0;
  distribution bytes_per_peer_minute;
  double gossip_bytes_per_peer_minute = 0, discovery_bytes_per_peer_minute = 0;
  std::map<std::string, double> bytes_per_peer_minute_by_type;  // "gossip.ihave", "discovery.ping", ...
  double announces_per_peer_minute = 0;
  double dht_gets_per_peer_minute = 0, dht_puts_per_peer_minute = 0;
  // Mean bytes per live peer, minute by minute from the first start.
  std::vector<double> bytes_per_peer_by_minute;

  // join
  bool join_run = false;
  double join_target_ms = 0;
  std::optional<double> join_first_neighbor_ms, join_knows_all_ms, join_known_by_all_ms;
  std::uint32_t join_knows = 0, join_known_by = 0, join_expected = 0;

  // churn
  bool churn_run = false;
  std::uint32_t crashed = 0, left = 0, live_after_churn = 0;
  std::optional<double> graceful_removed_ms;              // from the stop until no live catalog holds a stopped peer
  std::optional<double> crashed_removed_ms;               // from the crash until no live catalog holds a crashed peer
  std::uint64_t left_graceful = 0, left_other_cause = 0;  // departures of stopped peers, by cause
  std::uint64_t crashed_purged = 0, crashed_other_cause = 0;  // departures of crashed peers, by cause
  std::optional<double> purge_min_s, purge_max_s;  // a crashed peer's last update to its purge, over every purge
  double purge_after_s = 0;
  std::uint64_t still_holding_left = 0, still_holding_crashed = 0;  // (observer, peer) pairs at the end

  // departures of peers that were alive (false departures), any phase
  std::uint64_t live_peer_departures = 0;

  // discovery-hostile
  bool hostile_run = false;
  std::uint32_t good_entries = 0, good_delivered = 0, bad_injected_per_kind = 0;
  std::uint32_t joiner_catalog = 0;

  discovery::counters cores;   // summed over every peer ever started
  discovery::counters joiner;  // the fresh peer of join / discovery-hostile
  discovery_swarm_counters swarm;
  network_counters network;
};

const std::vector<std::string>& discovery_scenario_names();
bool is_discovery_scenario(const std::string& name);

// Throws std::invalid_argument for an unknown name or bad options.
discovery_scenario_result run_discovery_scenario(const discovery_scenario_options& opts);

nlohmann::json to_json(const discovery::counters& c);
nlohmann::json to_json(const discovery_scenario_result& r);
std::string to_text(const discovery_scenario_result& r);

}  // namespace topicswarm::sim
