// The simulator's public face: what a driver of scenarios needs (the
// `topicswarm sim` command, a script, a test harness) and nothing of the
// engine. A driver names a scenario, sets options in plain units (peers,
// milliseconds, probabilities) and gets the report back as JSON and as text.
// The engine's own types (simulator, scenario_options, metrics, routers) stay
// behind this header, free to change without touching any driver.
//
// Scenarios (see scenario.hpp and tracker_scenario.hpp for what each does):
//  gossip:  single | multi | burst | churn | partition: peers are given
//           contacts and run the gossip core only;
//  tracker: tracker-join | tracker-simultaneous | tracker-partition: peers
//           know only the topic name and find each other through the
//           simulated DHT (the auto-discovery core too).
//  discovery: discovery | discovery-hostile: the network discovery core at
//           every peer (catalog, announce, sync, ping, DHT bootstrap chain).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace topicswarm::sim {

// Every knob of every scenario. A default-constructed value holds the
// engine's defaults (the constructor reads them from the engine, so they have
// one source); a knob a scenario has no use for is ignored by it.
struct run_options {
  run_options();

  std::string scenario;
  std::uint32_t peers;
  std::uint64_t seed;  // the same seed and options replay a run exactly

  // The network model (every scenario).
  double latency_min_ms, latency_max_ms;  // one-way link latency, uniform in the range
  bool latency_per_message;               // drawn per message (FIFO per connection), not once per link
  double loss;                            // probability that a message is lost
  // Quiet virtual seconds after the bootstrap; 0: the scenario's default.
  double settle_s;

  // Gossip scenarios.
  std::uint32_t rounds;  // broadcast rounds (burst: messages); 0: the scenario's default
  std::uint32_t warmup;  // tree-building broadcasts before the measured ones
  double churn_fraction;
  bool churn_graceful;  // churned peers leave instead of crashing
  double private_fraction;    // share of peers behind NATs (simulator.hpp, nat_type)
  double symmetric_fraction;  // of those, behind endpoint-dependent NATs

  // Tracker scenarios.
  double dht_get_min_ms, dht_get_max_ms, dht_put_min_ms, dht_put_max_ms;
  double join_interval_ms;                   // tracker-join: time between two peers' starts
  std::uint32_t foreign_peers;               // extra peers with another secret (they must stay apart)
  bool merges;                               // false: the bubble and message-overlap merges are off
  std::optional<double> post_join_check_ms;  // unset: the library's default

  // Discovery scenarios (settle_s: after the full view, before measuring).
  double start_spread_s;  // peers start uniformly over this
  double measure_s;       // the steady-state window
  double purge_after_s;   // catalog purge_after
  double crash_fraction, leave_fraction;
  bool discovery_join, discovery_churn;  // the join and churn phases of `discovery`
  std::uint32_t bad_per_kind;            // discovery-hostile
  // Discovery scenarios: one line at the end of each phase.
  std::function<void(std::string_view line)> progress;

  // Diagnostics (gossip scenarios). trace: one line per engine event, for
  // the nodes in trace_nodes (all if empty). audit: at the end of each phase,
  // each asymmetric active-view entry and isolated node, as a finding.
  std::function<void(std::string_view line)> trace;
  std::vector<std::uint32_t> trace_nodes;
  std::function<void(std::string_view phase, std::string_view finding)> audit;
};

struct run_report {
  nlohmann::json json;  // every figure of the run
  std::string text;     // a readable summary of the same figures
  // The options that replay this run exactly, e.g. "--scenario single
  // --peers 100 --seed 1 --rounds 10" (the names of `topicswarm sim`).
  std::string replay;
};

// Every scenario name, gossip scenarios first.
std::vector<std::string> scenarios();

// Runs one scenario. Throws std::invalid_argument for an unknown scenario or
// inconsistent options (a range whose maximum is below its minimum). The
// report's wall time is measured here, around the engine, which never reads
// a clock.
run_report run(const run_options& options);

}  // namespace topicswarm::sim
