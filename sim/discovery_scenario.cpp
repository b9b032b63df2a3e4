#include "sim/discovery_scenario.hpp"

#include "sim/sim_identity.hpp"

#include "crypto/hash.hpp"
#include "discovery/entry.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>

namespace topicswarm::sim {
namespace {

double ms_between(core::instant from, core::instant to) {
  return static_cast<double>(core::to_micros(to) - core::to_micros(from)) / 1000.0;
}
double seconds(core::duration d) { return static_cast<double>(d.count()) / 1e6; }

nlohmann::json opt(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

nlohmann::json to_json(const percentiles& p) {
  return {{"p50", p.p50}, {"p95", p.p95}, {"p99", p.p99}, {"max", p.max}};
}
nlohmann::json to_json(const distribution& d) {
  return {{"mean", d.mean}, {"p50", d.p50}, {"p99", d.p99}, {"min", d.min}, {"max", d.max}, {"peers", d.samples}};
}

// A deterministic identity that belongs to no simulated node (the hostile
// scenario's made-up peers).
identity outsider(std::uint64_t i) { return sim_identity(i, {'s', 'i', 'm', '-', 'b', 'a', 'd', 0}); }

discovery_swarm_config swarm_config(const discovery_scenario_options& o) {
  discovery_swarm_config c;
  c.core = o.core;
  c.dht = o.dht;
  return c;
}

class discovery_runner {
 public:
  explicit discovery_runner(const discovery_scenario_options& o)
      : o_(o), sim_(sim_config{o.seed, o.link, nat_config{}}, router_factory(o.proto)), swarm_(sim_, swarm_config(o)) {}

  discovery_scenario_result run() {
    if (!is_discovery_scenario(o_.name)) throw std::invalid_argument("unknown discovery scenario '" + o_.name + "'");
    if (o_.peers < 2) throw std::invalid_argument("a discovery scenario needs at least 2 peers");
    if (o_.crash_fraction < 0 || o_.leave_fraction < 0 || o_.crash_fraction + o_.leave_fraction > 0.9)
      throw std::invalid_argument("crash and leave fractions must be >= 0 and leave at least 10 % of the peers");
    r_.scenario = o_.name;
    r_.peers = o_.peers;
    r_.seed = o_.seed;
    // The peers, and one more: the joiner (discovery) or the fresh peer that
    // meets the hostile one (discovery-hostile).
    for (std::uint32_t i = 0; i <= o_.peers; ++i) sim_.add_node();
    fresh_ = o_.peers;
    state_.assign(sim_.node_count(), peer_state::idle);
    full_at_.assign(sim_.node_count(), std::nullopt);
    first_neighbor_at_.assign(sim_.node_count(), std::nullopt);
    known_by_.assign(sim_.node_count(), 0);
    swarm_.set_event_hook([this](node_index n, const discovery::out::output& o) { on_event(n, o); });
    sim_.add_output_hook([this](node_index n, const gossip::routed& r) {
      if (r.topic == swarm_.wire_id() && std::holds_alternative<gossip::out::neighbor_up>(r.o) &&
          !first_neighbor_at_[n])
        first_neighbor_at_[n] = sim_.now();
    });
    t0_ = sim_.now();
    sample_minutes();

    bootstrap();
    progress("bootstrap");
    if (o_.name == "discovery") {
      if (r_.full_view_ms) {
        steady();
        progress("steady");
        if (o_.join) {
          join();
          progress("join");
        }
        if (o_.churn) {
          churn();
          progress("churn");
        }
      }
    } else {
      hostile();
      progress("hostile");
    }

    r_.cores = swarm_.core_counters();
    r_.swarm = swarm_.counters();
    r_.network = sim_.counters();
    r_.virtual_ms = ms_between(t0_, sim_.now());
    r_.events = sim_.events_processed();
    return r_;
  }

 private:
  enum class peer_state : std::uint8_t { idle, live, crashed, left };

  bool live(node_index n) const { return state_[n] == peer_state::live; }

  void progress(const char* phase) {
    if (!o_.progress) return;
    char line[160];
    std::snprintf(line, sizeof line, "%s done at %.1f virtual s, %llu events", phase,
                  ms_between(t0_, sim_.now()) / 1000.0, static_cast<unsigned long long>(sim_.events_processed()));
    o_.progress(line);
  }

  void on_event(node_index obs, const discovery::out::output& o) {
    if (const auto* d = std::get_if<discovery::out::peer_discovered>(&o)) {
      const node_index p = swarm_.index_of_key(d->entry.node);
      if (!full_at_[obs] && obs < o_.peers && swarm_.core(obs)->peers().size() >= o_.peers - 1) {
        full_at_[obs] = sim_.now();
        ++full_count_;
      }
      if (p == no_node || !live(obs)) return;
      if (joining_ && p == fresh_ && obs != fresh_ && !known_by_[obs]) {
        known_by_[obs] = 1;
        ++r_.join_known_by;
      }
      if (joining_ && obs == fresh_) r_.join_knows = static_cast<std::uint32_t>(swarm_.core(obs)->peers().size());
      if (state_[p] == peer_state::crashed) ++holding_crashed_;
      if (state_[p] == peer_state::left) ++holding_left_;
      return;
    }
    const auto* d = std::get_if<discovery::out::peer_departed>(&o);
    if (!d || !live(obs)) return;
    const node_index p = swarm_.index_of_key(d->peer);
    if (p == no_node) return;
    if (state_[p] == peer_state::crashed) {
      --holding_crashed_;
      if (d->cause == departure_cause::purged) {
        ++r_.crashed_purged;
        const double stale_s = static_cast<double>(static_cast<std::int64_t>(swarm_.unix_ms(obs)) -
                                                   static_cast<std::int64_t>(last_update_ms_.at(p))) /
                               1000.0;
        r_.purge_min_s = std::min(r_.purge_min_s.value_or(stale_s), stale_s);
        r_.purge_max_s = std::max(r_.purge_max_s.value_or(stale_s), stale_s);
      } else {
        ++r_.crashed_other_cause;
      }
    } else if (state_[p] == peer_state::left) {
      --holding_left_;
      ++(d->cause == departure_cause::graceful ? r_.left_graceful : r_.left_other_cause);
    } else if (live(p)) {
      ++r_.live_peer_departures;
    }
  }

  // Mean bytes per live peer, each virtual minute from the first start.
  void sample_minutes() {
    sim_.schedule(60s, [this] {
      std::uint64_t total = 0;
      std::size_t peers = 0;
      for (node_index n = 0; n < sim_.node_count(); ++n) {
        total += swarm_.traffic(n).bytes();
        if (live(n)) ++peers;
      }
      r_.bytes_per_peer_by_minute.push_back(
          peers ? static_cast<double>(total - minute_bytes_) / static_cast<double>(peers) : 0.0);
      minute_bytes_ = total;
      sample_minutes();
    });
  }

  void bootstrap() {
    r_.full_view_target_ms = seconds(o_.full_view_target) * 1000.0;
    std::uniform_int_distribution<std::int64_t> when(0, o_.start_spread.count());
    for (node_index n = 0; n < o_.peers; ++n) {
      const core::duration at(when(sim_.rng()));
      sim_.schedule(at, [this, n] {
        state_[n] = peer_state::live;
        swarm_.start(n);
      });
    }
    sim_.run_until([this] { return full_count_ == o_.peers; }, t0_ + o_.full_view_observe);
    if (full_count_ == o_.peers) r_.full_view_ms = ms_between(t0_, sim_.now());
    r_.peers_full = full_count_;
    std::vector<std::int64_t> full_us, first_us;
    for (node_index n = 0; n < o_.peers; ++n) {
      const auto s = swarm_.started_at(n);
      if (!s) continue;
      if (full_at_[n]) full_us.push_back(core::to_micros(*full_at_[n]) - core::to_micros(*s));
      if (first_neighbor_at_[n]) first_us.push_back(core::to_micros(*first_neighbor_at_[n]) - core::to_micros(*s));
    }
    r_.time_to_full_ms = latency_percentiles(std::move(full_us));
    r_.first_neighbor_ms = latency_percentiles(std::move(first_us));
    const auto c = swarm_.core_counters();
    r_.claims = static_cast<std::uint32_t>(c.chain_claims);
    r_.bootstrap_gets = swarm_.counters().gets;
  }

  void steady() {
    sim_.run_for(o_.settle);
    const auto peers = live_peers();
    std::vector<discovery_traffic> before;
    for (auto n : peers) before.push_back(swarm_.traffic(n));
    const auto c0 = swarm_.counters();
    sim_.run_for(o_.measure);
    const auto c1 = swarm_.counters();
    const double minutes = seconds(o_.measure) / 60.0;
    r_.steady_measured = true;
    r_.measure_s = seconds(o_.measure);
    std::vector<double> rate;
    double gossip = 0, disc = 0;
    for (std::size_t i = 0; i < peers.size(); ++i) {
      if (!live(peers[i])) continue;
      const auto& a = before[i];
      const auto& b = swarm_.traffic(peers[i]);
      rate.push_back(static_cast<double>(b.bytes() - a.bytes()) / minutes);
      gossip += static_cast<double>(b.gossip_bytes - a.gossip_bytes) / minutes;
      disc += static_cast<double>(b.discovery_bytes - a.discovery_bytes) / minutes;
    }
    const double np = static_cast<double>(rate.size());
    r_.bytes_per_peer_minute = distribution_of(std::move(rate));
    r_.gossip_bytes_per_peer_minute = gossip / np;
    r_.discovery_bytes_per_peer_minute = disc / np;
    for (std::size_t t = 0; t < wire_type_count; ++t) {
      const auto b = c1.gossip_bytes_by_type[t] - c0.gossip_bytes_by_type[t];
      if (b)
        r_.bytes_per_peer_minute_by_type[std::string("gossip.") + wire_type_name(t)] =
            static_cast<double>(b) / np / minutes;
    }
    for (std::size_t t = 0; t < discovery_message_types; ++t) {
      const auto b = c1.discovery_bytes_by_type[t] - c0.discovery_bytes_by_type[t];
      if (b)
        r_.bytes_per_peer_minute_by_type[std::string("discovery.") + discovery_message_name(t)] =
            static_cast<double>(b) / np / minutes;
    }
    r_.announces_per_peer_minute = static_cast<double>(c1.broadcasts - c0.broadcasts) / np / minutes;
    r_.dht_gets_per_peer_minute = static_cast<double>(c1.gets - c0.gets) / np / minutes;
    r_.dht_puts_per_peer_minute = static_cast<double>(c1.puts - c0.puts) / np / minutes;
  }

  void join() {
    r_.join_run = true;
    r_.join_target_ms = seconds(o_.join_target) * 1000.0;
    const auto others = live_peers();
    r_.join_expected = static_cast<std::uint32_t>(others.size());
    joining_ = true;
    state_[fresh_] = peer_state::live;
    const core::instant at = sim_.now();
    swarm_.start(fresh_);  // no bootstrap peers: the chain
    const auto expected = others.size();
    const auto knows_all = [&] {
      const auto* c = swarm_.core(fresh_);
      return c && c->peers().size() >= expected;
    };
    sim_.run_until(
        [&] {
          if (!r_.join_knows_all_ms && knows_all()) r_.join_knows_all_ms = ms_between(at, sim_.now());
          if (!r_.join_known_by_all_ms && r_.join_known_by == expected)
            r_.join_known_by_all_ms = ms_between(at, sim_.now());
          return r_.join_knows_all_ms && r_.join_known_by_all_ms;
        },
        at + o_.join_observe);
    if (first_neighbor_at_[fresh_]) r_.join_first_neighbor_ms = ms_between(at, *first_neighbor_at_[fresh_]);
    r_.join_knows = static_cast<std::uint32_t>(swarm_.core(fresh_)->peers().size());
    r_.joiner = swarm_.core(fresh_)->stats();
    joining_ = false;
  }

  void churn() {
    r_.churn_run = true;
    r_.purge_after_s = static_cast<double>(o_.core.catalog.purge_after.count()) / 1000.0;
    // The joiner stays: its counters are reported.
    std::vector<node_index> pool;
    for (auto n : live_peers())
      if (n != fresh_) pool.push_back(n);
    std::shuffle(pool.begin(), pool.end(), sim_.rng());
    const auto total = static_cast<double>(live_peers().size());
    const auto crashes = static_cast<std::size_t>(std::lround(o_.crash_fraction * total));
    const auto leaves = static_cast<std::size_t>(std::lround(o_.leave_fraction * total));
    std::vector<node_index> crashed(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(crashes));
    std::vector<node_index> left(pool.begin() + static_cast<std::ptrdiff_t>(crashes),
                                 pool.begin() + static_cast<std::ptrdiff_t>(crashes + leaves));
    for (auto n : crashed) {
      last_update_ms_[n] = swarm_.core(n)->local().entry.version.update_ms;
      state_[n] = peer_state::crashed;
    }
    for (auto n : left) state_[n] = peer_state::left;
    // Who holds them now (live observers only); events keep the counts.
    for (auto obs : live_peers()) {
      const auto& cat = swarm_.core(obs)->peers();
      for (auto n : crashed) holding_crashed_ += cat.contains(swarm_.key_of(n)) ? 1 : 0;
      for (auto n : left) holding_left_ += cat.contains(swarm_.key_of(n)) ? 1 : 0;
    }
    for (auto n : crashed) swarm_.crash(n);
    for (auto n : left) swarm_.stop(n);
    r_.crashed = static_cast<std::uint32_t>(crashed.size());
    r_.left = static_cast<std::uint32_t>(left.size());
    r_.live_after_churn = static_cast<std::uint32_t>(live_peers().size());
    const core::instant at = sim_.now();
    const core::duration observe = o_.churn_observe > core::duration::zero()
                                       ? o_.churn_observe
                                       : core::duration(o_.core.catalog.purge_after) + 2 * o_.core.purge_check + 30s;
    if (sim_.run_until([this] { return holding_left_ == 0; }, at + observe))
      r_.graceful_removed_ms = ms_between(at, sim_.now());
    if (sim_.run_until([this] { return holding_crashed_ == 0; }, at + observe))
      r_.crashed_removed_ms = ms_between(at, sim_.now());
    r_.still_holding_left = holding_left_;
    r_.still_holding_crashed = holding_crashed_;
  }

  void hostile() {
    r_.hostile_run = true;
    r_.bad_injected_per_kind = o_.bad_per_kind;
    if (!r_.full_view_ms) return;
    sim_.run_for(5s);
    const auto peers = live_peers();
    const node_index h = peers[std::uniform_int_distribution<std::size_t>(0, peers.size() - 1)(sim_.rng())];
    const auto* hc = swarm_.core(h);
    const std::uint64_t now_ms = swarm_.unix_ms(h);
    const auto wire = swarm_.wire_id();
    const auto other_wire = wire_topic_id(network_topic_id(network_id_from_name("another-network")),
                                          open_topic_key(network_topic_id(network_id_from_name("another-network"))));
    const endpoint addr = endpoint::v4({127, 0, 9, 9}, 9999);
    std::map<node_id, bytes> extra;
    std::uint64_t next = 0;
    const auto& good_entries = hc->peers().entries();
    auto good_it = good_entries.begin();
    for (std::uint32_t k = 0; k < o_.bad_per_kind; ++k) {
      // Forged: a good entry with another node id in it (the signature no longer holds).
      {
        const auto x = outsider(next++);
        bytes b = good_it->second.encoded;
        if (++good_it == good_entries.end()) good_it = good_entries.begin();
        const auto id = x.id();
        std::copy(id.span().begin(), id.span().end(), b.begin() + 1 + 32);
        extra[id] = std::move(b);
      }
      // Garbage: the format byte, then noise.
      {
        const auto x = outsider(next++);
        bytes b(300);
        for (auto& v : b) v = static_cast<std::byte>(sim_.rng()() & 0xff);
        b[0] = std::byte{discovery::entry_format};
        extra[x.id()] = std::move(b);
      }
      // Another network's entry, validly signed.
      {
        const auto x = outsider(next++);
        extra[x.id()] =
            discovery::sign_entry(peer_entry{other_wire, x.id(), {now_ms - 1000, now_ms}, {addr}, {}, {}}, x)->encoded;
      }
      // A clock an hour ahead, validly signed.
      {
        const auto x = outsider(next++);
        extra[x.id()] =
            discovery::sign_entry(peer_entry{wire, x.id(), {now_ms - 1000, now_ms + 3'600'000}, {addr}, {}, {}}, x)
                ->encoded;
      }
    }
    const auto u = outsider(next++);
    const bytes unasked =
        discovery::sign_entry(peer_entry{wire, u.id(), {now_ms - 1000, now_ms}, {addr}, {}, {}}, u)->encoded;
    // What the fresh peer must end with: the hostile node's catalog and its own entry.
    std::vector<node_id> good;
    for (const auto& [id, e] : good_entries) good.push_back(id);
    good.push_back(swarm_.key_of(h));
    r_.good_entries = static_cast<std::uint32_t>(good.size());
    swarm_.set_hostile(h, std::move(extra), unasked);

    // The hostile node and the fresh peer on their own: every entry the
    // fresh peer gets comes through the hostile node's sync.
    std::vector<std::uint32_t> groups(sim_.node_count(), 0);
    groups[h] = 1;
    groups[fresh_] = 1;
    sim_.set_partition(std::move(groups));
    discovery::config cfg = o_.core;
    cfg.chain = false;
    state_[fresh_] = peer_state::live;
    const node_index boot[] = {h};
    swarm_.start(fresh_, boot, cfg);
    const core::instant at = sim_.now();
    sim_.run_until(
        [&] {
          const auto& s = swarm_.core(fresh_)->stats();
          return s.syncs_completed + s.syncs_failed > 0;
        },
        at + 60s);
    sim_.run_for(2s);
    const auto& cat = swarm_.core(fresh_)->peers();
    for (const auto& id : good) r_.good_delivered += cat.contains(id) ? 1 : 0;
    r_.joiner_catalog = static_cast<std::uint32_t>(cat.size());
    r_.joiner = swarm_.core(fresh_)->stats();
  }

  std::vector<node_index> live_peers() const {
    std::vector<node_index> v;
    for (node_index n = 0; n < state_.size(); ++n)
      if (live(n)) v.push_back(n);
    return v;
  }

 private:
  discovery_scenario_options o_;
  simulator sim_;
  discovery_swarm swarm_;
  discovery_scenario_result r_;
  core::instant t0_{};
  node_index fresh_ = no_node;
  std::vector<peer_state> state_;
  std::vector<std::optional<core::instant>> full_at_, first_neighbor_at_;
  std::vector<std::uint8_t> known_by_;
  std::uint32_t full_count_ = 0;
  bool joining_ = false;
  std::map<node_index, std::uint64_t> last_update_ms_;
  std::int64_t holding_crashed_ = 0, holding_left_ = 0;
  std::uint64_t minute_bytes_ = 0;
};

}  // namespace

distribution distribution_of(std::vector<double> v) {
  distribution d;
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
  };
  d.samples = v.size();
  d.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  d.p50 = at(0.50);
  d.p99 = at(0.99);
  d.min = v.front();
  d.max = v.back();
  return d;
}

const std::vector<std::string>& discovery_scenario_names() {
  static const std::vector<std::string> names{"discovery", "discovery-hostile"};
  return names;
}

bool is_discovery_scenario(const std::string& name) {
  const auto& n = discovery_scenario_names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

discovery_scenario_result run_discovery_scenario(const discovery_scenario_options& opts) {
  return discovery_runner(opts).run();
}

nlohmann::json to_json(const discovery::counters& c) {
  nlohmann::json j;
#define TOPICSWARM_SIM_JSON(f) j[#f] = c.f;
  TOPICSWARM_DISCOVERY_COUNTERS(TOPICSWARM_SIM_JSON)
#undef TOPICSWARM_SIM_JSON
  return j;
}

nlohmann::json to_json(const discovery_scenario_result& r) {
  nlohmann::json j;
  j["scenario"] = r.scenario;
  j["peers"] = r.peers;
  j["seed"] = r.seed;
  j["virtual_ms"] = r.virtual_ms;
  j["wall_ms"] = r.wall_ms;
  j["events"] = r.events;
  j["bootstrap"] = {{"full_view_ms", opt(r.full_view_ms)},
                    {"target_ms", r.full_view_target_ms},
                    {"met", r.full_view_ms && *r.full_view_ms <= r.full_view_target_ms},
                    {"peers_full", r.peers_full},
                    {"time_to_full_ms", to_json(r.time_to_full_ms)},
                    {"first_neighbor_ms", to_json(r.first_neighbor_ms)},
                    {"chain_claims", r.claims},
                    {"dht_gets", r.bootstrap_gets}};
  if (r.steady_measured) {
    nlohmann::json types;
    for (const auto& [k, v] : r.bytes_per_peer_minute_by_type) types[k] = v;
    j["steady"] = {{"window_s", r.measure_s},
                   {"bytes_per_peer_minute", to_json(r.bytes_per_peer_minute)},
                   {"gossip_bytes_per_peer_minute", r.gossip_bytes_per_peer_minute},
                   {"discovery_bytes_per_peer_minute", r.discovery_bytes_per_peer_minute},
                   {"bytes_per_peer_minute_by_type", types},
                   {"announces_per_peer_minute", r.announces_per_peer_minute},
                   {"dht_gets_per_peer_minute", r.dht_gets_per_peer_minute},
                   {"dht_puts_per_peer_minute", r.dht_puts_per_peer_minute}};
  }
  j["bytes_per_peer_by_minute"] = r.bytes_per_peer_by_minute;
  if (r.join_run)
    j["join"] = {{"target_ms", r.join_target_ms},
                 {"first_neighbor_ms", opt(r.join_first_neighbor_ms)},
                 {"knows_all_ms", opt(r.join_knows_all_ms)},
                 {"known_by_all_ms", opt(r.join_known_by_all_ms)},
                 {"met", r.join_knows_all_ms && r.join_known_by_all_ms &&
                             std::max(*r.join_knows_all_ms, *r.join_known_by_all_ms) <= r.join_target_ms},
                 {"knows", r.join_knows},
                 {"known_by", r.join_known_by},
                 {"expected", r.join_expected},
                 {"counters", to_json(r.joiner)}};
  if (r.churn_run)
    j["churn"] = {{"crashed", r.crashed},
                  {"left", r.left},
                  {"live", r.live_after_churn},
                  {"purge_after_s", r.purge_after_s},
                  {"graceful_removed_ms", opt(r.graceful_removed_ms)},
                  {"crashed_removed_ms", opt(r.crashed_removed_ms)},
                  {"left_departures", {{"graceful", r.left_graceful}, {"other_cause", r.left_other_cause}}},
                  {"crashed_departures", {{"purged", r.crashed_purged}, {"other_cause", r.crashed_other_cause}}},
                  {"purged_after_last_update_s", {{"min", opt(r.purge_min_s)}, {"max", opt(r.purge_max_s)}}},
                  {"still_holding", {{"left", r.still_holding_left}, {"crashed", r.still_holding_crashed}}}};
  j["live_peer_departures"] = r.live_peer_departures;
  if (r.hostile_run)
    j["hostile"] = {{"bad_per_kind", r.bad_injected_per_kind},
                    {"good_entries", r.good_entries},
                    {"good_delivered", r.good_delivered},
                    {"joiner_catalog", r.joiner_catalog},
                    {"rejected",
                     {{"entries_invalid", r.joiner.entries_invalid},
                      {"other_network", r.joiner.other_network},
                      {"clock_ahead", r.joiner.clock_ahead},
                      {"entries_unasked", r.joiner.entries_unasked}}},
                    {"counters", to_json(r.joiner)}};
  j["cores"] = to_json(r.cores);
  const auto& s = r.swarm;
  j["swarm"] = {{"frames_sent", s.frames_sent},
                {"frames_delivered", s.frames_delivered},
                {"frames_lost_down", s.frames_lost_down},
                {"frames_lost_cut", s.frames_lost_cut},
                {"frames_lost_unknown", s.frames_lost_unknown},
                {"frames_malformed", s.frames_malformed},
                {"unreachable", s.unreachable},
                {"broadcasts", s.broadcasts},
                {"joins", s.joins},
                {"join_peers", s.join_peers},
                {"dht_gets", s.gets},
                {"dht_puts", s.puts},
                {"dht_puts_stored", s.puts_stored},
                {"dht_puts_refused", s.puts_refused},
                {"dht_get_timeouts", s.get_timeouts},
                {"hostile_answers", s.hostile_answers}};
  return j;
}

std::string to_text(const discovery_scenario_result& r) {
  char buf[1024];
  std::string s;
  auto ms_text = [](const std::optional<double>& v) {
    if (!v) return std::string("never");
    char b[64];
    std::snprintf(b, sizeof b, "%.1f s", *v / 1000.0);
    return std::string(b);
  };
  std::snprintf(buf, sizeof buf, "%s: %u peers, seed %llu, %.1f virtual s (%.0f ms wall), %llu events\n",
                r.scenario.c_str(), r.peers, static_cast<unsigned long long>(r.seed), r.virtual_ms / 1000.0, r.wall_ms,
                static_cast<unsigned long long>(r.events));
  s += buf;
  std::snprintf(buf, sizeof buf,
                "full catalogs    %u of %u peers; the last at %s from the first start (target %.0f s); per peer "
                "p50 %.1f s p99 %.1f s max %.1f s after its start\n"
                "first neighbour  p50 %.1f s max %.1f s; %u chain claims\n",
                r.peers_full, r.peers, ms_text(r.full_view_ms).c_str(), r.full_view_target_ms / 1000.0,
                r.time_to_full_ms.p50 / 1000.0, r.time_to_full_ms.p99 / 1000.0, r.time_to_full_ms.max / 1000.0,
                r.first_neighbor_ms.p50 / 1000.0, r.first_neighbor_ms.max / 1000.0, r.claims);
  s += buf;
  if (r.steady_measured) {
    const auto& b = r.bytes_per_peer_minute;
    std::snprintf(buf, sizeof buf,
                  "steady state     bytes sent per peer per minute over %.0f s: mean %.0f p50 %.0f p99 %.0f max %.0f "
                  "(gossip %.0f, discovery %.0f); %.2f announces per peer per minute\n",
                  r.measure_s, b.mean, b.p50, b.p99, b.max, r.gossip_bytes_per_peer_minute,
                  r.discovery_bytes_per_peer_minute, r.announces_per_peer_minute);
    s += buf;
  }
  if (r.join_run) {
    std::snprintf(buf, sizeof buf,
                  "join             first neighbour %s, knows all %s (%u of %u), known by all %s (%u of %u); "
                  "target %.0f s\n",
                  ms_text(r.join_first_neighbor_ms).c_str(), ms_text(r.join_knows_all_ms).c_str(), r.join_knows,
                  r.join_expected, ms_text(r.join_known_by_all_ms).c_str(), r.join_known_by, r.join_expected,
                  r.join_target_ms / 1000.0);
    s += buf;
  }
  if (r.churn_run) {
    std::snprintf(buf, sizeof buf,
                  "churn            %u crashed, %u stopped; stopped gone from every catalog after %s (graceful %llu, "
                  "other %llu); crashed gone after %s (purged %llu, other %llu; %.1f-%.1f s after their last "
                  "update, purge_after %.0f s)\n",
                  r.crashed, r.left, ms_text(r.graceful_removed_ms).c_str(),
                  static_cast<unsigned long long>(r.left_graceful), static_cast<unsigned long long>(r.left_other_cause),
                  ms_text(r.crashed_removed_ms).c_str(), static_cast<unsigned long long>(r.crashed_purged),
                  static_cast<unsigned long long>(r.crashed_other_cause), r.purge_min_s.value_or(0),
                  r.purge_max_s.value_or(0), r.purge_after_s);
    s += buf;
  }
  if (r.hostile_run) {
    std::snprintf(
        buf, sizeof buf,
        "hostile sync     %u of %u good entries delivered (catalog %u); rejected: invalid %llu, other "
        "network %llu, clock ahead %llu, unasked %llu (%u of each kind injected)\n",
        r.good_delivered, r.good_entries, r.joiner_catalog, static_cast<unsigned long long>(r.joiner.entries_invalid),
        static_cast<unsigned long long>(r.joiner.other_network), static_cast<unsigned long long>(r.joiner.clock_ahead),
        static_cast<unsigned long long>(r.joiner.entries_unasked), r.bad_injected_per_kind);
    s += buf;
  }
  std::snprintf(buf, sizeof buf, "false departures %llu (live peers dropped from live catalogs)\n",
                static_cast<unsigned long long>(r.live_peer_departures));
  s += buf;
  return s;
}

}  // namespace topicswarm::sim
