#include "sim/sim.hpp"

#include "sim/discovery_scenario.hpp"
#include "sim/metrics.hpp"
#include "sim/node_protocol.hpp"
#include "sim/report.hpp"
#include "sim/scenario.hpp"
#include "sim/tracker_scenario.hpp"

#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace topicswarm::sim {
namespace {

core::duration from_ms(double ms) { return core::duration(static_cast<std::int64_t>(ms * 1000.0)); }
double to_ms(core::duration d) { return static_cast<double>(d.count()) / 1000.0; }

void check_range(double min, double max, const char* what) {
  if (max < min) throw std::invalid_argument(what);
}

link_config link_of(const run_options& o) {
  check_range(o.latency_min_ms, o.latency_max_ms, "--latency-max-ms must be at least --latency-min-ms");
  link_config l;
  l.latency_min = from_ms(o.latency_min_ms);
  l.latency_max = from_ms(o.latency_max_ms);
  l.mode = o.latency_per_message ? latency_mode::per_message : latency_mode::per_link;
  l.loss = o.loss;
  return l;
}

// Reads the wall clock around a run: the engine itself never does.
template <class Run>
auto timed(Run run) {
  const auto t0 = std::chrono::steady_clock::now();
  auto result = run();
  result.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

run_report run_tracker(const run_options& o) {
  tracker_scenario_options t;
  t.name = o.scenario;
  t.peers = o.peers;
  t.seed = o.seed;
  t.link = link_of(o);
  check_range(o.dht_get_min_ms, o.dht_get_max_ms, "--dht-*-max-ms must be at least the matching --dht-*-min-ms");
  check_range(o.dht_put_min_ms, o.dht_put_max_ms, "--dht-*-max-ms must be at least the matching --dht-*-min-ms");
  t.dht.get_min = from_ms(o.dht_get_min_ms);
  t.dht.get_max = from_ms(o.dht_get_max_ms);
  t.dht.put_min = from_ms(o.dht_put_min_ms);
  t.dht.put_max = from_ms(o.dht_put_max_ms);
  t.join_interval = from_ms(o.join_interval_ms);
  t.foreign_peers = o.foreign_peers;
  if (!o.merges) {
    t.tracker.merge.bubble.enabled = false;
    t.tracker.merge.message_overlap.enabled = false;
  }
  if (o.settle_s > 0) t.settle = from_ms(o.settle_s * 1000.0);
  if (o.post_join_check_ms)
    t.tracker.bootstrap.post_join_check = std::chrono::milliseconds(static_cast<std::int64_t>(*o.post_join_check_ms));
  const auto result = timed([&] { return run_tracker_scenario(t); });
  return {to_json(result), to_text(result),
          "--scenario " + result.scenario + " --peers " + std::to_string(result.peers) + " --seed " +
              std::to_string(result.seed)};
}

run_report run_discovery(const run_options& o) {
  discovery_scenario_options d;
  d.name = o.scenario;
  d.peers = o.peers;
  d.seed = o.seed;
  d.link = link_of(o);
  check_range(o.dht_get_min_ms, o.dht_get_max_ms, "--dht-*-max-ms must be at least the matching --dht-*-min-ms");
  check_range(o.dht_put_min_ms, o.dht_put_max_ms, "--dht-*-max-ms must be at least the matching --dht-*-min-ms");
  d.dht.get_min = from_ms(o.dht_get_min_ms);
  d.dht.get_max = from_ms(o.dht_get_max_ms);
  d.dht.put_min = from_ms(o.dht_put_min_ms);
  d.dht.put_max = from_ms(o.dht_put_max_ms);
  if (o.settle_s > 0) d.settle = from_ms(o.settle_s * 1000.0);
  d.start_spread = from_ms(o.start_spread_s * 1000.0);
  if (o.measure_s > 0) d.measure = from_ms(o.measure_s * 1000.0);
  d.core.catalog.purge_after = std::chrono::milliseconds(static_cast<std::int64_t>(o.purge_after_s * 1000.0));
  d.crash_fraction = o.crash_fraction;
  d.leave_fraction = o.leave_fraction;
  d.join = o.discovery_join;
  d.churn = o.discovery_churn;
  d.bad_per_kind = o.bad_per_kind;
  d.progress = o.progress;
  const auto result = timed([&] { return run_discovery_scenario(d); });
  char extra[160];
  std::snprintf(extra, sizeof extra, " --purge-after-s %g --start-spread-s %g", o.purge_after_s, o.start_spread_s);
  return {to_json(result), to_text(result),
          "--scenario " + result.scenario + " --peers " + std::to_string(result.peers) + " --seed " +
              std::to_string(result.seed) + extra};
}

run_report run_gossip(const run_options& o) {
  scenario_options s;
  s.name = o.scenario;
  s.peers = o.peers;
  s.seed = o.seed;
  s.rounds = o.rounds;
  s.link = link_of(o);
  s.settle = from_ms(o.settle_s * 1000.0);
  s.warmup = o.warmup;
  s.churn_fraction = o.churn_fraction;
  s.churn_graceful = o.churn_graceful;
  s.private_fraction = o.private_fraction;
  s.symmetric_fraction = o.symmetric_fraction;
  if (o.trace) {
    s.trace = o.trace;
    s.trace_nodes.assign(o.trace_nodes.begin(), o.trace_nodes.end());
  }
  if (o.audit) {
    s.observe = [audit = o.audit](const simulator& sim, std::string_view phase) {
      for (const auto& finding : audit_views(sim, 0)) audit(phase, finding);
    };
  }
  const auto result = timed([&] { return run_scenario(s, router_factory(s.proto)); });
  return {to_json(result), to_text(result),
          "--scenario " + result.scenario + " --peers " + std::to_string(result.peers) + " --seed " +
              std::to_string(result.seed) + " --rounds " + std::to_string(result.rounds) +
              (o.private_fraction > 0 ? " --private-fraction " + std::to_string(o.private_fraction) +
                                            " --symmetric-fraction " + std::to_string(o.symmetric_fraction)
                                      : std::string())};
}

}  // namespace

run_options::run_options() {
  const scenario_options s;
  const tracker_scenario_options t;
  scenario = s.name;
  peers = s.peers;
  seed = s.seed;
  latency_min_ms = to_ms(s.link.latency_min);
  latency_max_ms = to_ms(s.link.latency_max);
  latency_per_message = s.link.mode == latency_mode::per_message;
  loss = s.link.loss;
  settle_s = to_ms(s.settle) / 1000.0;
  rounds = s.rounds;
  warmup = s.warmup;
  churn_fraction = s.churn_fraction;
  churn_graceful = s.churn_graceful;
  private_fraction = s.private_fraction;
  symmetric_fraction = s.symmetric_fraction;
  dht_get_min_ms = to_ms(t.dht.get_min);
  dht_get_max_ms = to_ms(t.dht.get_max);
  dht_put_min_ms = to_ms(t.dht.put_min);
  dht_put_max_ms = to_ms(t.dht.put_max);
  join_interval_ms = to_ms(t.join_interval);
  foreign_peers = t.foreign_peers;
  merges = true;  // the merges as auto_discovery_config enables them
  const discovery_scenario_options d;
  start_spread_s = to_ms(d.start_spread) / 1000.0;
  measure_s = to_ms(d.measure) / 1000.0;
  purge_after_s = static_cast<double>(d.core.catalog.purge_after.count()) / 1000.0;
  crash_fraction = d.crash_fraction;
  leave_fraction = d.leave_fraction;
  discovery_join = d.join;
  discovery_churn = d.churn;
  bad_per_kind = d.bad_per_kind;
}

std::vector<std::string> scenarios() {
  std::vector<std::string> all = scenario_names();
  for (const auto& n : tracker_scenario_names()) all.push_back(n);
  for (const auto& n : discovery_scenario_names()) all.push_back(n);
  return all;
}

run_report run(const run_options& options) {
  if (is_tracker_scenario(options.scenario)) return run_tracker(options);
  if (is_discovery_scenario(options.scenario)) return run_discovery(options);
  return run_gossip(options);
}

}  // namespace topicswarm::sim
