// `topicswarm sim`: run a scenario of the deterministic simulator and print
// its metrics (readable, or JSON with --json).
//
// The seed comes from --seed, else from TOPICSWARM_SIM_SEED, else 1; it is
// printed with the results so any run can be replayed exactly.
#include "cli/commands.hpp"

#include "sim/metrics.hpp"
#include "sim/node_protocol.hpp"
#include "sim/report.hpp"
#include "sim/scenario.hpp"
#include "sim/tracker_scenario.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

namespace topicswarm::cli {
namespace {

struct sim_cli_options {
  sim::scenario_options s;
  std::optional<std::uint64_t> seed;
  double latency_min_ms = 10, latency_max_ms = 100;
  double settle_s = 0;
  bool per_message = false;
  bool json = false;
  std::vector<std::uint32_t> trace_nodes;
  bool trace = false;
  bool audit = false;
  // Tracker scenarios.
  double dht_get_min_ms = 300, dht_get_max_ms = 2000;
  double dht_put_min_ms = 500, dht_put_max_ms = 3000;
  double join_interval_ms = 1000;
  std::uint32_t foreign_peers = 0;
  bool no_merges = false;
  double post_join_check_ms = -1;  // < 0: the library's default
};

std::uint64_t seed_from_env() {
  const char* v = std::getenv("TOPICSWARM_SIM_SEED");
  if (!v || !*v) return 1;
  char* end = nullptr;
  const auto s = std::strtoull(v, &end, 10);
  if (*end != '\0') throw std::invalid_argument(std::string("TOPICSWARM_SIM_SEED: not a number: '") + v + "'");
  return s;
}

core::duration ms_to_duration(double ms) { return core::duration(static_cast<std::int64_t>(ms * 1000.0)); }

int run_tracker(sim_cli_options& o) {
  sim::tracker_scenario_options t;
  t.name = o.s.name;
  t.peers = o.s.peers;
  t.seed = o.s.seed;
  t.link = o.s.link;
  t.proto = o.s.proto;
  if (o.dht_get_max_ms < o.dht_get_min_ms || o.dht_put_max_ms < o.dht_put_min_ms)
    throw std::invalid_argument("--dht-*-max-ms must be at least the matching --dht-*-min-ms");
  t.dht.get_min = ms_to_duration(o.dht_get_min_ms);
  t.dht.get_max = ms_to_duration(o.dht_get_max_ms);
  t.dht.put_min = ms_to_duration(o.dht_put_min_ms);
  t.dht.put_max = ms_to_duration(o.dht_put_max_ms);
  t.join_interval = ms_to_duration(o.join_interval_ms);
  t.foreign_peers = o.foreign_peers;
  if (o.no_merges) {
    t.tracker.merge.bubble.enabled = false;
    t.tracker.merge.message_overlap.enabled = false;
  }
  if (o.settle_s > 0) t.settle = ms_to_duration(o.settle_s * 1000.0);
  if (o.post_join_check_ms >= 0)
    t.tracker.bootstrap.post_join_check = std::chrono::milliseconds(static_cast<std::int64_t>(o.post_join_check_ms));
  const auto t0 = std::chrono::steady_clock::now();
  auto result = sim::run_tracker_scenario(t);
  result.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (o.json) {
    std::printf("%s\n", sim::to_json(result).dump(2).c_str());
  } else {
    std::printf("%s", sim::to_text(result).c_str());
    std::printf("replay: topicswarm sim --scenario %s --peers %u --seed %llu\n", result.scenario.c_str(), result.peers,
                static_cast<unsigned long long>(result.seed));
  }
  return 0;
}

int run(sim_cli_options& o) {
  o.s.seed = o.seed ? *o.seed : seed_from_env();
  if (o.latency_max_ms < o.latency_min_ms)
    throw std::invalid_argument("--latency-max-ms must be at least --latency-min-ms");
  o.s.link.latency_min = ms_to_duration(o.latency_min_ms);
  o.s.link.latency_max = ms_to_duration(o.latency_max_ms);
  o.s.link.mode = o.per_message ? sim::latency_mode::per_message : sim::latency_mode::per_link;
  o.s.settle = ms_to_duration(o.settle_s * 1000.0);
  if (sim::is_tracker_scenario(o.s.name)) return run_tracker(o);
  if (o.trace) {
    o.s.trace = [](std::string_view line) {
      std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
    };
    o.s.trace_nodes = o.trace_nodes;
  }

  if (o.audit) {
    o.s.observe = [](const sim::simulator& s, std::string_view phase) {
      for (const auto& line : sim::audit_views(s, 0))
        std::fprintf(stderr, "audit %.*s: %s\n", static_cast<int>(phase.size()), phase.data(), line.c_str());
    };
  }

  // The wall clock is read here, around the run, never inside the simulator.
  const auto t0 = std::chrono::steady_clock::now();
  auto result = sim::run_scenario(o.s, sim::router_factory(o.s.proto));
  result.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  if (o.json) {
    std::printf("%s\n", sim::to_json(result).dump(2).c_str());
  } else {
    std::printf("%s", sim::to_text(result).c_str());
    std::printf("replay: topicswarm sim --scenario %s --peers %u --seed %llu --rounds %u\n", result.scenario.c_str(),
                result.peers, static_cast<unsigned long long>(result.seed), result.rounds);
  }
  return 0;
}

}  // namespace

void register_sim_command(CLI::App& app) {
  auto o = std::make_shared<sim_cli_options>();
  auto* cmd = app.add_subcommand("sim", "Run a deterministic simulation of the gossip overlay and print its metrics");
  std::vector<std::string> all_names = sim::scenario_names();
  for (const auto& n : sim::tracker_scenario_names()) all_names.push_back(n);
  cmd->add_option("--scenario", o->s.name,
                  "single | multi | burst | churn | partition (gossip, peers given contacts), or "
                  "tracker-join | tracker-simultaneous | tracker-partition (peers find each other through the "
                  "simulated DHT)")
      ->check(CLI::IsMember(all_names))
      ->capture_default_str();
  cmd->add_option("--peers", o->s.peers, "Number of peers")->check(CLI::Range(2u, 1000000u))->capture_default_str();
  cmd->add_option("--seed", o->seed, "RNG seed (default: $TOPICSWARM_SIM_SEED, else 1)");
  cmd->add_option("--rounds", o->s.rounds,
                  "Broadcast rounds (burst: messages) (default: single/multi/churn 10, burst 50, partition 5)");
  cmd->add_flag("--json", o->json, "Print the metrics as JSON");
  cmd->add_option("--latency-min-ms", o->latency_min_ms, "Smallest one-way link latency")
      ->check(CLI::Range(0.0, 60000.0))
      ->capture_default_str();
  cmd->add_option("--latency-max-ms", o->latency_max_ms, "Largest one-way link latency")
      ->check(CLI::Range(0.0, 60000.0))
      ->capture_default_str();
  cmd->add_flag("--latency-per-message", o->per_message,
                "Draw latency per message (FIFO per connection) instead of once per link");
  cmd->add_option("--loss", o->s.link.loss, "Probability that a message is lost")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--settle-s", o->settle_s,
                  "Quiet virtual seconds after the bootstrap (default: 10, churn and partition 150)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--warmup", o->s.warmup, "Tree-building broadcasts before the measured ones")->capture_default_str();
  cmd->add_option("--churn-fraction", o->s.churn_fraction, "churn: fraction of peers replaced")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--churn-leave", o->s.churn_graceful, "churn: peers leave gracefully instead of crashing");
  cmd->add_flag("--trace", o->trace, "Print an event trace to stderr (with --trace-node: only those nodes)");
  cmd->add_option("--trace-node", o->trace_nodes, "Node index to trace (repeatable)");
  cmd->add_flag("--audit", o->audit,
                "Print, at the end of each phase, asymmetric active-view entries and isolated nodes to stderr");
  cmd->add_option("--dht-get-min-ms", o->dht_get_min_ms, "tracker-*: shortest DHT lookup")
      ->check(CLI::Range(0.0, 60000.0))
      ->capture_default_str();
  cmd->add_option("--dht-get-max-ms", o->dht_get_max_ms, "tracker-*: longest DHT lookup")
      ->check(CLI::Range(0.0, 60000.0))
      ->capture_default_str();
  cmd->add_option("--dht-put-min-ms", o->dht_put_min_ms, "tracker-*: shortest DHT store")
      ->check(CLI::Range(0.0, 60000.0))
      ->capture_default_str();
  cmd->add_option("--dht-put-max-ms", o->dht_put_max_ms, "tracker-*: longest DHT store")
      ->check(CLI::Range(0.0, 60000.0))
      ->capture_default_str();
  cmd->add_option("--join-interval-ms", o->join_interval_ms, "tracker-join: time between two peers' starts")
      ->check(CLI::Range(0.0, 3600000.0))
      ->capture_default_str();
  cmd->add_option("--foreign-peers", o->foreign_peers,
                  "tracker-*: extra peers on the same topic with another secret (they must never join the others)")
      ->capture_default_str();
  cmd->add_flag("--no-merges", o->no_merges, "tracker-*: disable the bubble and message-overlap merges");
  cmd->add_option("--post-join-check-ms", o->post_join_check_ms,
                  "tracker-*: auto_discovery_config::bootstrap.post_join_check (0: off; default: the library's)")
      ->check(CLI::Range(0.0, 600000.0));
  cmd->callback([o] {
    if (const int rc = run(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace topicswarm::cli
