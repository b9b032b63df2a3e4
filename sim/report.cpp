#include "sim/report.hpp"

#include <cstdarg>
#include <cstdio>

namespace topicswarm::sim {
namespace {

double ms(core::duration d) { return static_cast<double>(d.count()) / 1000.0; }

nlohmann::json opt_ms(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

void add(std::string& s, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void add(std::string& s, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  s += buf;
}

std::string opt_text(const std::optional<double>& v) {
  if (!v) return "never";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f ms", *v);
  return buf;
}

void broadcast_text(std::string& s, const char* label, const broadcast_metrics& b) {
  add(s,
      "%-12s %u msgs  missed %llu/%llu  RMR %.3f (max %.3f)  LDH %u (mean %.1f)  latency ms p50 %.1f p95 %.1f p99 %.1f "
      "max %.1f\n",
      label, b.messages, static_cast<unsigned long long>(b.missed), static_cast<unsigned long long>(b.expected),
      b.rmr_mean, b.rmr_max, b.ldh_max, b.ldh_mean, b.latency_ms.p50, b.latency_ms.p95, b.latency_ms.p99,
      b.latency_ms.max);
}

void overlay_text(std::string& s, const char* label, const overlay_metrics& o) {
  add(s,
      "%-12s live %zu  %s (%zu component%s, largest %zu)  symmetry %.4f  isolated %zu  active %.2f [%zu..%zu]  passive "
      "%.1f\n",
      label, o.live, o.connected ? "connected" : "NOT connected", o.components, o.components == 1 ? "" : "s",
      o.largest_component, o.symmetry, o.isolated, o.active_mean, o.active_min, o.active_max, o.passive_mean);
}

}  // namespace

nlohmann::json to_json(const broadcast_metrics& b) {
  return {
      {"messages", b.messages},
      {"expected_deliveries", b.expected},
      {"deliveries", b.delivered},
      {"missed_deliveries", b.missed},
      {"payload_received", b.payload_received},
      {"rmr", b.rmr_mean},
      {"rmr_max", b.rmr_max},
      {"ldh", b.ldh_max},
      {"ldh_mean", b.ldh_mean},
      {"latency_ms",
       {{"p50", b.latency_ms.p50}, {"p95", b.latency_ms.p95}, {"p99", b.latency_ms.p99}, {"max", b.latency_ms.max}}}};
}

nlohmann::json to_json(const overlay_metrics& o) {
  return {{"live", o.live},
          {"connected", o.connected},
          {"components", o.components},
          {"largest_component", o.largest_component},
          {"symmetry", o.symmetry},
          {"edges", o.edges},
          {"mutual_edges", o.mutual},
          {"dead_edges", o.dead_edges},
          {"isolated", o.isolated},
          {"active_mean", o.active_mean},
          {"active_min", o.active_min},
          {"active_max", o.active_max},
          {"passive_mean", o.passive_mean}};
}

nlohmann::json to_json(const network_counters& c) {
  nlohmann::json sent = nlohmann::json::object(), delivered = nlohmann::json::object();
  std::uint64_t sent_total = 0, delivered_total = 0;
  for (std::size_t i = 0; i < wire_type_count; ++i) {
    sent[wire_type_name(i)] = c.sent[i];
    delivered[wire_type_name(i)] = c.delivered[i];
    sent_total += c.sent[i];
    delivered_total += c.delivered[i];
  }
  return {{"sent", sent},
          {"delivered", delivered},
          {"sent_total", sent_total},
          {"delivered_total", delivered_total},
          {"dropped",
           {{"loss", c.lost},
            {"partition", c.cut},
            {"dead", c.dead},
            {"closed", c.closed},
            {"unknown_peer", c.unknown_peer},
            {"no_address", c.no_address},
            {"to_self", c.to_self}}},
          {"dials", c.dials},
          {"dial_failures", c.dial_failures},
          {"closes", c.closes},
          {"deaths_detected", c.deaths_detected},
          {"timers_fired", c.timers},
          {"double_deliveries", c.double_deliveries},
          {"hop_round_mismatches", c.hop_round_mismatches}};
}

nlohmann::json to_json(const scenario_result& r) {
  const auto& o = r.options;
  nlohmann::json j = {
      {"scenario", r.scenario},
      {"peers", r.peers},
      {"seed", r.seed},
      {"rounds", r.rounds},
      {"virtual_duration_ms", r.virtual_ms},
      {"wall_time_ms", r.wall_ms},
      {"events", r.events},
      {"nodes_total", r.nodes_total},
      {"nodes_live", r.nodes_live},
      {"join_retries", r.join_retries},
      {"config",
       {{"latency_min_ms", ms(o.link.latency_min)},
        {"latency_max_ms", ms(o.link.latency_max)},
        {"latency_mode", o.link.mode == latency_mode::per_link ? "per_link" : "per_message"},
        {"loss", o.link.loss},
        {"handshake_rtts", o.link.handshake_rtts},
        {"dial_failure_delay_ms", ms(o.link.dial_failure_delay)},
        {"keepalive_timeout_ms", ms(o.link.keepalive_timeout)},
        {"send_timeout_ms", ms(o.link.send_timeout)},
        {"join_interval_ms", ms(o.join_interval)},
        {"settle_ms", ms(o.settle > core::duration::zero() ? o.settle : default_settle(r.scenario))},
        {"rejoin_after_ms", ms(o.rejoin_after)},
        {"warmup_messages", o.warmup},
        {"message_size", o.message_size},
        {"active_view", o.proto.membership.active_view_capacity},
        {"passive_view", o.proto.membership.passive_view_capacity}}},
      {"time_to_all_neighbors_ms", opt_ms(r.bootstrap_all_neighbors_ms)},
      {"time_to_all_neighbors_after_last_join_ms", opt_ms(r.bootstrap_all_neighbors_after_last_join_ms)},
      {"overlay_at_rest", to_json(r.overlay_at_rest)},
      {"warmup", to_json(r.warmup)},
      {"broadcast", to_json(r.measured)},
      {"overlay", to_json(r.overlay_final)},
      {"messages", to_json(r.counters)},
  };
  // The headline figures, flat, for quick comparison across runs.
  j["missed_deliveries"] = r.measured.missed;
  j["rmr"] = r.measured.rmr_mean;
  j["rmr_including_warmup"] = r.rmr_including_warmup;
  j["ldh"] = r.measured.ldh_max;
  j["view_symmetry"] = r.overlay_final.symmetry;
  j["overlay_connected"] = r.overlay_final.connected;
  if (o.private_fraction > 0) {
    nlohmann::json links;
    for (std::size_t p = 0; p < link_path_count; ++p)
      links[link_path_name(static_cast<link_path>(p))] = r.links_by_path[p];
    j["nat"] = {{"private_fraction", o.private_fraction},
                {"symmetric_fraction", o.symmetric_fraction},
                {"relay_capacity", o.nat.relay_capacity},
                {"links", links},
                {"dials_by_path",
                 {{"direct", r.counters.dials_by_path[0]},
                  {"reversed", r.counters.dials_by_path[1]},
                  {"punched", r.counters.dials_by_path[2]},
                  {"relayed", r.counters.dials_by_path[3]}}},
                {"dials_without_relay", r.counters.no_relay}};
  }
  if (r.churn) {
    j["churn"] = {{"removed", r.churn->removed},
                  {"mode", o.churn_graceful ? "leave" : "crash"},
                  {"joined", r.churn->joined},
                  {"join_retries", r.churn->join_retries},
                  {"time_to_all_neighbors_ms", opt_ms(r.churn->all_neighbors_ms)},
                  {"overlay", to_json(r.churn->overlay)}};
  }
  if (r.partition) {
    const auto& p = *r.partition;
    j["partition"] = {{"side_a", p.side_a},
                      {"side_b", p.side_b},
                      {"components_during", p.components},
                      {"components_side_a", p.components_a},
                      {"components_side_b", p.components_b},
                      {"healed", p.healed},
                      {"heal_time_ms", opt_ms(p.heal_ms)},
                      {"after_heal", to_json(p.after_heal)},
                      {"overlay_after_heal", to_json(p.overlay_after_heal)}};
  }
  nlohmann::json per = nlohmann::json::array();
  for (const auto& l : r.per_message)
    per.push_back({{"n", l.number},
                   {"origin", l.origin},
                   {"measured", l.measured},
                   {"expected", l.expected},
                   {"delivered", l.delivered},
                   {"payload", l.payload},
                   {"rmr", l.rmr},
                   {"ldh", l.ldh},
                   {"last_ms", l.last_ms}});
  j["per_message"] = per;
  nlohmann::json missing = nlohmann::json::array();
  for (const auto& [msg, node] : r.missing_sample) missing.push_back({{"message", msg}, {"node", node}});
  j["missing_sample"] = missing;
  return j;
}

std::string to_text(const scenario_result& r) {
  std::string s;
  add(s, "scenario %s  peers %u  seed %llu  rounds %u\n", r.scenario.c_str(), r.peers,
      static_cast<unsigned long long>(r.seed), r.rounds);
  add(s, "virtual %.1f s  wall %.0f ms  events %llu  nodes %u started, %u live\n", r.virtual_ms / 1000.0, r.wall_ms,
      static_cast<unsigned long long>(r.events), r.nodes_total, r.nodes_live);
  add(s, "bootstrap    every node has a neighbour after %s (%s after the last join)\n",
      opt_text(r.bootstrap_all_neighbors_ms).c_str(), opt_text(r.bootstrap_all_neighbors_after_last_join_ms).c_str());
  overlay_text(s, "at rest", r.overlay_at_rest);
  broadcast_text(s, "warmup", r.warmup);
  if (r.options.private_fraction > 0) {
    const auto& l = r.links_by_path;
    const double total = std::max<double>(1.0, static_cast<double>(l[0] + l[1] + l[2] + l[3]));
    add(s, "nat          %.0f%% private (%.0f%% of them symmetric); links at the end: direct %.1f%%, reversed %.1f%%, "
        "punched %.1f%%, relayed %.1f%% of %.0f; dials failed for want of a relay: %llu\n",
        100.0 * r.options.private_fraction, 100.0 * r.options.symmetric_fraction, 100.0 * l[0] / total,
        100.0 * l[1] / total, 100.0 * l[2] / total, 100.0 * l[3] / total, total,
        static_cast<unsigned long long>(r.counters.no_relay));
  }
  if (r.churn) {
    add(s, "churn        %u %s, %u joined (%u join retries); every live node has a neighbour after %s\n",
        r.churn->removed, r.options.churn_graceful ? "left" : "crashed", r.churn->joined, r.churn->join_retries,
        opt_text(r.churn->all_neighbors_ms).c_str());
    overlay_text(s, "after churn", r.churn->overlay);
  }
  if (r.partition) {
    const auto& p = *r.partition;
    add(s, "partition    halves %u / %u: overlay components %zu (side a %zu, side b %zu)\n", p.side_a, p.side_b,
        p.components, p.components_a, p.components_b);
    add(s, "heal         %s\n",
        p.healed ? ("one overlay again after " + opt_text(p.heal_ms)).c_str()
                 : "overlay still split at the end of the observation");
  }
  broadcast_text(s, "broadcast", r.measured);
  add(s, "%-12s RMR %.3f over warm-up and measured broadcasts together\n", "", r.rmr_including_warmup);
  if (r.partition) broadcast_text(s, "after heal", r.partition->after_heal);
  overlay_text(s, "overlay", r.overlay_final);
  std::uint64_t sent = 0;
  std::string by_type;
  for (std::size_t i = 0; i < wire_type_count; ++i) {
    sent += r.counters.sent[i];
    if (r.counters.sent[i])
      add(by_type, " %s %llu", wire_type_name(i), static_cast<unsigned long long>(r.counters.sent[i]));
  }
  add(s, "messages     %llu sent:%s\n", static_cast<unsigned long long>(sent), by_type.c_str());
  add(s, "dropped      loss %llu  partition %llu  dead %llu  closed %llu; dials %llu, failed %llu\n",
      static_cast<unsigned long long>(r.counters.lost), static_cast<unsigned long long>(r.counters.cut),
      static_cast<unsigned long long>(r.counters.dead), static_cast<unsigned long long>(r.counters.closed),
      static_cast<unsigned long long>(r.counters.dials), static_cast<unsigned long long>(r.counters.dial_failures));
  return s;
}

}  // namespace topicswarm::sim
