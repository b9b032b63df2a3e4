// `topicswarm sim`: run a scenario of the deterministic simulator and print
// its metrics (readable, or JSON with --json). It drives the simulator
// through its public header (sim/sim.hpp) only.
//
// The seed comes from --seed, else from TOPICSWARM_SIM_SEED, else 1; it is
// printed with the results so any run can be replayed exactly.
#include "cli/commands.hpp"

#include "sim/sim.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace topicswarm::cli {
namespace {

struct sim_cli_options {
  sim::run_options run;
  std::optional<std::uint64_t> seed;
  bool no_merges = false;
  bool no_join = false, no_churn = false, progress = false;
  double post_join_check_ms = -1;  // < 0: the library's default
  bool json = false;
  bool trace = false;
  bool audit = false;
};

std::uint64_t seed_from_env() {
  const char* v = std::getenv("TOPICSWARM_SIM_SEED");
  if (!v || !*v) return 1;
  char* end = nullptr;
  const auto s = std::strtoull(v, &end, 10);
  if (*end != '\0') throw std::invalid_argument(std::string("TOPICSWARM_SIM_SEED: not a number: '") + v + "'");
  return s;
}

void run(sim_cli_options& o) {
  auto& r = o.run;
  r.seed = o.seed ? *o.seed : seed_from_env();
  r.merges = !o.no_merges;
  if (o.no_join) r.discovery_join = false;
  if (o.no_churn) r.discovery_churn = false;
  if (o.progress)
    r.progress = [](std::string_view line) {
      std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
    };
  if (o.post_join_check_ms >= 0) r.post_join_check_ms = o.post_join_check_ms;
  if (o.trace)
    r.trace = [](std::string_view line) { std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data()); };
  if (o.audit)
    r.audit = [](std::string_view phase, std::string_view finding) {
      std::fprintf(stderr, "audit %.*s: %.*s\n", static_cast<int>(phase.size()), phase.data(),
                   static_cast<int>(finding.size()), finding.data());
    };
  const auto report = sim::run(r);
  if (o.json)
    std::printf("%s\n", report.json.dump(2).c_str());
  else
    std::printf("%sreplay: topicswarm sim %s\n", report.text.c_str(), report.replay.c_str());
}

}  // namespace

void register_sim_command(CLI::App& app) {
  auto o = std::make_shared<sim_cli_options>();
  auto& r = o->run;
  auto* cmd = app.add_subcommand("sim", "Run a deterministic simulation of the gossip overlay and print its metrics");
  // Virtual milliseconds of the network and DHT models: up to a minute.
  auto add_ms = [cmd](const char* name, double& value, const char* help) {
    return cmd->add_option(name, value, help)->check(CLI::Range(0.0, 60000.0))->capture_default_str();
  };
  cmd->add_option("--scenario", r.scenario,
                  "single | multi | burst | churn | partition (gossip, peers given contacts), or "
                  "tracker-join | tracker-simultaneous | tracker-partition (peers find each other through the "
                  "simulated DHT), or discovery | discovery-hostile (the network catalog and its DHT chain)")
      ->check(CLI::IsMember(sim::scenarios()))
      ->capture_default_str();
  cmd->add_option("--peers", r.peers, "Number of peers")->check(CLI::Range(2u, 1000000u))->capture_default_str();
  cmd->add_option("--seed", o->seed, "RNG seed (default: $TOPICSWARM_SIM_SEED, else 1)");
  cmd->add_option("--rounds", r.rounds,
                  "Broadcast rounds (burst: messages) (default: single/multi/churn 10, burst 50, partition 5)");
  cmd->add_flag("--json", o->json, "Print the metrics as JSON");
  add_ms("--latency-min-ms", r.latency_min_ms, "Smallest one-way link latency");
  add_ms("--latency-max-ms", r.latency_max_ms, "Largest one-way link latency");
  cmd->add_flag("--latency-per-message", r.latency_per_message,
                "Draw latency per message (FIFO per connection) instead of once per link");
  cmd->add_option("--loss", r.loss, "Probability that a message is lost")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--settle-s", r.settle_s,
                  "Quiet virtual seconds after the bootstrap (default: 10, churn and partition 150)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--warmup", r.warmup, "Tree-building broadcasts before the measured ones")->capture_default_str();
  cmd->add_option("--churn-fraction", r.churn_fraction, "churn: fraction of peers replaced")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--churn-leave", r.churn_graceful, "churn: peers leave gracefully instead of crashing");
  cmd->add_option("--private-fraction", r.private_fraction,
                  "single/multi/burst/churn/partition: share of peers behind NATs (node 0 stays public); the report "
                  "says how links got through: direct, reversed, punched or relayed")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--symmetric-fraction", r.symmetric_fraction,
                  "With --private-fraction: share of the private peers behind endpoint-dependent (symmetric) NATs")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--trace", o->trace, "Print an event trace to stderr (with --trace-node: only those nodes)");
  cmd->add_option("--trace-node", r.trace_nodes, "Node index to trace (repeatable)");
  cmd->add_flag("--audit", o->audit,
                "Print, at the end of each phase, asymmetric active-view entries and isolated nodes to stderr");
  add_ms("--dht-get-min-ms", r.dht_get_min_ms, "tracker-*: shortest DHT lookup");
  add_ms("--dht-get-max-ms", r.dht_get_max_ms, "tracker-*: longest DHT lookup");
  add_ms("--dht-put-min-ms", r.dht_put_min_ms, "tracker-*: shortest DHT store");
  add_ms("--dht-put-max-ms", r.dht_put_max_ms, "tracker-*: longest DHT store");
  cmd->add_option("--join-interval-ms", r.join_interval_ms, "tracker-join: time between two peers' starts")
      ->check(CLI::Range(0.0, 3600000.0))
      ->capture_default_str();
  cmd->add_option("--foreign-peers", r.foreign_peers,
                  "tracker-*: extra peers on the same topic with another secret (they must never join the others)")
      ->capture_default_str();
  cmd->add_flag("--no-merges", o->no_merges, "tracker-*: disable the bubble and message-overlap merges");
  cmd->add_option("--post-join-check-ms", o->post_join_check_ms,
                  "tracker-*: auto_discovery_config::bootstrap.post_join_check (0: off; default: the library's)")
      ->check(CLI::Range(0.0, 600000.0));
  cmd->add_option("--start-spread-s", r.start_spread_s, "discovery*: peers start uniformly over this many seconds")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  cmd->add_option("--measure-s", r.measure_s, "discovery: the steady-state window (after --settle-s)")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
  cmd->add_option("--purge-after-s", r.purge_after_s, "discovery*: catalog purge_after")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
  cmd->add_option("--crash-fraction", r.crash_fraction, "discovery: fraction of the peers that crash (no departure)")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  cmd->add_option("--leave-fraction", r.leave_fraction, "discovery: fraction of the peers that stop gracefully")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  cmd->add_flag("--no-join", o->no_join, "discovery: skip the join phase");
  cmd->add_flag("--no-churn", o->no_churn, "discovery: skip the churn phase");
  cmd->add_flag("--progress", o->progress, "discovery*: print a line to stderr at the end of each phase");
  cmd->add_option("--bad-per-kind", r.bad_per_kind,
                  "discovery-hostile: forged, garbage, other-network and clock-ahead entries, this many of each")
      ->check(CLI::Range(0u, 1000u))
      ->capture_default_str();
  cmd->callback([o] { run(*o); });
}

}  // namespace topicswarm::cli
