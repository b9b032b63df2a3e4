#include "sim/tracker_scenario.hpp"

#include "sim/report.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace topicswarm::sim {
namespace {

double ms_between(core::instant from, core::instant to) {
  return static_cast<double>(core::to_micros(to) - core::to_micros(from)) / 1000.0;
}

void add_counters(tracker::counters& a, const tracker::counters& b) {
  a.gets += b.gets;
  a.get_timeouts += b.get_timeouts;
  a.puts += b.puts;
  a.put_failures += b.put_failures;
  a.put_retries += b.put_retries;
  a.records_valid += b.records_valid;
  a.records_invalid += b.records_invalid;
  a.records_own += b.records_own;
  a.slots_empty += b.slots_empty;
  a.rounds += b.rounds;
  a.bootstrap_publishes += b.bootstrap_publishes;
  a.publisher_publishes += b.publisher_publishes;
  a.publishes_skipped_cap += b.publishes_skipped_cap;
  a.dials += b.dials;
  a.dial_failures += b.dial_failures;
  a.joins += b.joins;
  a.bubble_merges += b.bubble_merges;
  a.overlap_merges += b.overlap_merges;
  a.island_merges += b.island_merges;
  a.rebootstraps += b.rebootstraps;
}

class tracker_runner {
 public:
  explicit tracker_runner(const tracker_scenario_options& o)
      : o_(o),
        sim_(sim_config{o.seed, o.link, nat_config{}}, router_factory(o.proto)),
        topic_(sim_.add_topic(topic_id_from_name("topicswarm-sim-tracker"))),
        swarm_(sim_, topic_, o.tracker, o.dht) {}

  tracker_scenario_result run() {
    if (!is_tracker_scenario(o_.name)) throw std::invalid_argument("unknown tracker scenario '" + o_.name + "'");
    if (o_.peers < 2) throw std::invalid_argument("a tracker scenario needs at least 2 peers");
    r_.scenario = o_.name;
    r_.peers = o_.peers;
    r_.seed = o_.seed;
    r_.foreign_peers = o_.foreign_peers;
    for (std::uint32_t i = 0; i < o_.peers + o_.foreign_peers; ++i) sim_.add_node();
    for (node_index n = 0; n < o_.peers; ++n) main_.push_back(n);
    for (node_index n = o_.peers; n < o_.peers + o_.foreign_peers; ++n) foreign_.push_back(n);

    const core::instant t0 = sim_.now();
    core::instant last_start = t0;
    if (o_.name == "tracker-join") {
      for (node_index n : main_) {
        const core::duration at = o_.join_interval * static_cast<std::int64_t>(n);
        sim_.schedule(at, [this, n] { swarm_.start(n); });
        last_start = t0 + at;
      }
    } else {
      for (node_index n : main_) swarm_.start(n);
    }
    for (node_index n : foreign_) swarm_.start(n, "another-secret");

    // Until every peer has had a neighbour and the overlay is one graph.
    const core::instant deadline = last_start + o_.connect_deadline;
    bool all_joined = false;
    while (sim_.now() < deadline) {
      if (!all_joined && every_joined()) {
        all_joined = true;
        r_.all_joined_ms = ms_between(t0, sim_.now());
        r_.overlay_at_all_joined = analyze_overlay(sim_, topic_);
      }
      if (all_joined && count_components(sim_, topic_, main_, true) == 1) {
        r_.connected_ms = ms_between(t0, sim_.now());
        break;
      }
      sim_.run_for(o_.check_interval);
    }
    r_.overlay_at_connected = analyze_overlay(sim_, topic_);
    const core::instant steady_from = sim_.now();
    const auto gets_at = swarm_.counters().gets, puts_at = swarm_.counters().puts;

    if (o_.name == "tracker-partition" && r_.connected_ms) {
      sim_.run_for(o_.settle);
      partition();
    } else {
      sim_.run_for(o_.settle);
    }

    // Merges that joined across a healed cut churn active views for a moment:
    // a link that exists now may be evicted while a message crosses it.
    sim_.run_for(std::chrono::seconds(5));
    const node_index sender = main_[std::uniform_int_distribution<std::size_t>(0, main_.size() - 1)(sim_.rng())];
    const std::uint32_t last = swarm_.broadcast(sender, content(0x5a));
    sim_.run_for(10s);
    r_.final_broadcast = summarize_broadcasts(sim_, std::vector<std::uint32_t>{last});
    r_.overlay_final = analyze_overlay(sim_, topic_);

    // Per peer, time to first neighbour.
    std::vector<std::int64_t> first_us;
    for (node_index n : main_) {
      const auto s = swarm_.started_at(n);
      const auto j = swarm_.joined_at(n);
      if (s && j) {
        ++r_.joined;
        first_us.push_back(core::to_micros(*j) - core::to_micros(*s));
      } else {
        ++r_.never_joined;
      }
      if (const auto* c = swarm_.core(n)) add_counters(r_.trackers, c->stats());
    }
    r_.first_neighbor_ms = latency_percentiles(std::move(first_us));
    for (node_index n : main_)
      for (const auto& id : sim_.protocol(n).active_view(sim_.topic(topic_))) {
        const node_index p = sim_.index_of(id);
        if (p != no_node && std::find(foreign_.begin(), foreign_.end(), p) != foreign_.end()) ++r_.cross_secret_links;
      }

    r_.dht = swarm_.counters();
    r_.virtual_ms = ms_between(t0, sim_.now());
    const double peers = static_cast<double>(o_.peers + o_.foreign_peers);
    const double minutes = r_.virtual_ms / 60'000.0;
    if (minutes > 0) {
      r_.gets_per_peer_minute = static_cast<double>(r_.dht.gets) / peers / minutes;
      r_.puts_per_peer_minute = static_cast<double>(r_.dht.puts) / peers / minutes;
    }
    const double steady_minutes = ms_between(steady_from, sim_.now()) / 60'000.0;
    if (r_.connected_ms && steady_minutes > 0) {
      r_.steady_gets_per_peer_minute = static_cast<double>(r_.dht.gets - gets_at) / peers / steady_minutes;
      r_.steady_puts_per_peer_minute = static_cast<double>(r_.dht.puts - puts_at) / peers / steady_minutes;
    }
    r_.events = sim_.events_processed();
    return r_;
  }

 private:
  bool every_joined() const {
    for (node_index n : main_)
      if (!swarm_.joined_at(n)) return false;
    return true;
  }

  // 64 bytes, distinct per message (equal content would be one message id).
  bytes content(std::uint8_t tag) {
    bytes b(64, std::byte{tag});
    const std::uint64_t n = ++messages_;
    for (std::size_t i = 0; i < 8; ++i) b[i] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
    return b;
  }

  node_index pick(const std::vector<node_index>& side) {
    return side[std::uniform_int_distribution<std::size_t>(0, side.size() - 1)(sim_.rng())];
  }

  void partition() {
    std::vector<node_index> order = main_;
    std::shuffle(order.begin(), order.end(), sim_.rng());
    const std::size_t half = order.size() / 2;
    std::vector<node_index> a(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(half));
    std::vector<node_index> b(order.begin() + static_cast<std::ptrdiff_t>(half), order.end());
    std::vector<std::uint32_t> groups(sim_.node_count(), 2);  // foreign peers: a group of their own
    for (auto n : a) groups[n] = 0;
    for (auto n : b) groups[n] = 1;
    sim_.set_partition(std::move(groups));
    // Each side repairs its own overlay first (dead links are noticed after
    // the keepalive timeout; HyParView refills from passive views).
    sim_.run_for(o_.partition_settle);

    std::vector<std::uint32_t> during;
    const core::instant split_end = sim_.now() + o_.partition_duration;
    while (sim_.now() < split_end) {
      during.push_back(swarm_.broadcast(pick(a), content(0x0a)));
      during.push_back(swarm_.broadcast(pick(b), content(0x0b)));
      sim_.run_for(o_.message_interval);
    }
    r_.partition_broadcasts = summarize_broadcasts(sim_, during);
    r_.components_during = count_components(sim_, topic_, main_, true);

    sim_.heal();
    const core::instant healed_at = sim_.now();
    const core::instant deadline = healed_at + o_.heal_observe;
    core::instant next_message = healed_at;
    while (sim_.now() < deadline) {
      if (count_components(sim_, topic_, main_, true) == 1) {
        r_.healed = true;
        r_.heal_ms = ms_between(healed_at, sim_.now());
        break;
      }
      if (sim_.now() >= next_message) {
        // Both former sides keep talking, so their records keep showing it.
        swarm_.broadcast(pick(a), content(0x1a), false);
        swarm_.broadcast(pick(b), content(0x1b), false);
        next_message = sim_.now() + o_.message_interval;
      }
      sim_.run_for(1s);
    }
  }

  tracker_scenario_options o_;
  simulator sim_;
  topic_index topic_;
  tracker_swarm swarm_;
  std::vector<node_index> main_, foreign_;
  tracker_scenario_result r_;
  std::uint64_t messages_ = 0;
};

nlohmann::json opt(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

}  // namespace

const std::vector<std::string>& tracker_scenario_names() {
  static const std::vector<std::string> names{"tracker-join", "tracker-simultaneous", "tracker-partition"};
  return names;
}

bool is_tracker_scenario(const std::string& name) {
  const auto& n = tracker_scenario_names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

tracker_scenario_result run_tracker_scenario(const tracker_scenario_options& opts) {
  return tracker_runner(opts).run();
}

nlohmann::json to_json(const tracker_scenario_result& r) {
  nlohmann::json j;
  j["scenario"] = r.scenario;
  j["peers"] = r.peers;
  j["seed"] = r.seed;
  j["virtual_ms"] = r.virtual_ms;
  j["wall_ms"] = r.wall_ms;
  j["events"] = r.events;
  j["join"] = {{"joined", r.joined},
               {"never_joined", r.never_joined},
               {"first_neighbor_ms",
                {{"p50", r.first_neighbor_ms.p50},
                 {"p95", r.first_neighbor_ms.p95},
                 {"p99", r.first_neighbor_ms.p99},
                 {"max", r.first_neighbor_ms.max}}},
               {"all_joined_ms", opt(r.all_joined_ms)},
               {"connected_ms", opt(r.connected_ms)}};
  j["overlay_at_all_joined"] = to_json(r.overlay_at_all_joined);
  j["overlay_at_connected"] = to_json(r.overlay_at_connected);
  j["overlay_final"] = to_json(r.overlay_final);
  j["final_broadcast"] = to_json(r.final_broadcast);
  if (r.scenario == "tracker-partition")
    j["partition"] = {{"components_during", r.components_during},
                      {"broadcasts_during", to_json(r.partition_broadcasts)},
                      {"healed", r.healed},
                      {"heal_ms", opt(r.heal_ms)}};
  if (r.foreign_peers) j["foreign_secret"] = {{"peers", r.foreign_peers}, {"cross_secret_links", r.cross_secret_links}};
  j["dht"] = {{"gets", r.dht.gets},
              {"puts", r.dht.puts},
              {"puts_stored", r.dht.puts_stored},
              {"puts_refused", r.dht.puts_refused},
              {"get_timeouts", r.dht.get_timeouts},
              {"records_read", r.dht.records},
              {"empty_reads", r.dht.empty},
              {"invalid_reads", r.dht.invalid},
              {"dials", r.dht.dials},
              {"dial_failures", r.dht.dial_failures},
              {"gets_per_peer_minute", r.gets_per_peer_minute},
              {"puts_per_peer_minute", r.puts_per_peer_minute},
              {"steady_gets_per_peer_minute", opt(r.steady_gets_per_peer_minute)},
              {"steady_puts_per_peer_minute", opt(r.steady_puts_per_peer_minute)}};
  const auto& t = r.trackers;
  j["trackers"] = {{"rounds", t.rounds},
                   {"bootstrap_publishes", t.bootstrap_publishes},
                   {"publisher_publishes", t.publisher_publishes},
                   {"publishes_skipped_cap", t.publishes_skipped_cap},
                   {"put_failures", t.put_failures},
                   {"put_retries", t.put_retries},
                   {"records_valid", t.records_valid},
                   {"records_invalid", t.records_invalid},
                   {"dials", t.dials},
                   {"dial_failures", t.dial_failures},
                   {"joins", t.joins},
                   {"bubble_merges", t.bubble_merges},
                   {"overlap_merges", t.overlap_merges},
                   {"island_merges", t.island_merges},
                   {"rebootstraps", t.rebootstraps}};
  return j;
}

std::string to_text(const tracker_scenario_result& r) {
  char buf[1024];
  std::string s;
  std::snprintf(buf, sizeof buf, "%s: %u peers, seed %llu, %.1f virtual s (%.0f ms wall)\n", r.scenario.c_str(),
                r.peers, static_cast<unsigned long long>(r.seed), r.virtual_ms / 1000.0, r.wall_ms);
  s += buf;
  auto opt_text = [](const std::optional<double>& v) { return v ? std::to_string(*v) + " ms" : std::string("never"); };
  std::snprintf(buf, sizeof buf,
                "first neighbour  %u joined, %u never; p50 %.1f ms p95 %.1f ms max %.1f ms\n"
                "all joined       %s\nconnected        %s\n",
                r.joined, r.never_joined, r.first_neighbor_ms.p50, r.first_neighbor_ms.p95, r.first_neighbor_ms.max,
                opt_text(r.all_joined_ms).c_str(), opt_text(r.connected_ms).c_str());
  s += buf;
  if (r.scenario == "tracker-partition") {
    std::snprintf(buf, sizeof buf, "partition        %zu components during; healed: %s (%s)\n", r.components_during,
                  r.healed ? "yes" : "no", opt_text(r.heal_ms).c_str());
    s += buf;
  }
  std::snprintf(buf, sizeof buf,
                "final broadcast  missed %llu of %llu\n"
                "DHT              %.2f gets and %.3f puts per peer per minute (steady: %.2f and %.3f)\n"
                "merges           bubble %llu, overlap %llu; rebootstraps %llu\n",
                static_cast<unsigned long long>(r.final_broadcast.missed),
                static_cast<unsigned long long>(r.final_broadcast.expected), r.gets_per_peer_minute,
                r.puts_per_peer_minute, r.steady_gets_per_peer_minute.value_or(0),
                r.steady_puts_per_peer_minute.value_or(0), static_cast<unsigned long long>(r.trackers.bubble_merges),
                static_cast<unsigned long long>(r.trackers.overlap_merges),
                static_cast<unsigned long long>(r.trackers.rebootstraps));
  s += buf;
  return s;
}

}  // namespace topicswarm::sim
