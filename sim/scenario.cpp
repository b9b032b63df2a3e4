#include "sim/scenario.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace topicswarm::sim {
namespace {

double ms_between(core::instant from, core::instant to) {
  return static_cast<double>(core::to_micros(to) - core::to_micros(from)) / 1000.0;
}

class runner {
 public:
  runner(const scenario_options& o, const protocol_factory& f) : o_(o), sim_(sim_config{o.seed, o.link, o.nat}, f) {
    topic_ = sim_.add_topic(topic_id_from_name("topicswarm-sim"));
    if (o.trace) sim_.set_trace(o.trace, o.trace_nodes);
    rounds_ = o.rounds ? o.rounds : default_rounds(o.name);
    settle_ = o.settle > core::duration::zero() ? o.settle : default_settle(o.name);
  }

  scenario_result run() {
    const auto& names = scenario_names();
    if (std::find(names.begin(), names.end(), o_.name) == names.end())
      throw std::invalid_argument("unknown scenario '" + o_.name + "' (single, multi, burst, churn, partition)");
    if (o_.peers < 2) throw std::invalid_argument("a scenario needs at least 2 peers");

    r_.scenario = o_.name;
    r_.peers = o_.peers;
    r_.seed = o_.seed;
    r_.rounds = rounds_;
    r_.options = o_;
    r_.options.trace = nullptr;
    r_.options.observe = nullptr;

    bootstrap();
    r_.overlay_at_rest = analyze_overlay(sim_, topic_);
    observe("at_rest");
    // The single sender's own first message builds the tree it then uses
    // (as in iroh-gossip's single-sender simulation); other scenarios warm up
    // from random nodes.
    const node_index single_sender = o_.name == "single" ? random_live() : no_node;
    std::vector<std::uint32_t> warm;
    for (std::uint32_t i = 0; i < o_.warmup; ++i) {
      warm.push_back(send_one(single_sender != no_node ? single_sender : random_live()));
      run_round({warm.back()});
    }

    std::vector<std::uint32_t> measured;
    if (o_.name == "single") {
      const node_index sender = single_sender;
      for (std::uint32_t i = 0; i < rounds_; ++i) {
        measured.push_back(send_one(sender));
        run_round({measured.back()});
      }
    } else if (o_.name == "multi") {
      multi_rounds(measured);
    } else if (o_.name == "burst") {
      for (std::uint32_t i = 0; i < rounds_; ++i) measured.push_back(send_one(random_live()));
      run_round(measured);
    } else if (o_.name == "churn") {
      churn();
      multi_rounds(measured);
    } else if (o_.name == "partition") {
      partition(measured);
    }
    sim_.run_for(o_.drain);

    r_.warmup = summarize_broadcasts(sim_, warm);
    r_.measured = summarize_broadcasts(sim_, measured);
    {
      std::vector<std::uint32_t> all = warm;
      all.insert(all.end(), measured.begin(), measured.end());
      r_.rmr_including_warmup = summarize_broadcasts(sim_, all).rmr_mean;
    }
    if (r_.partition) r_.partition->after_heal = summarize_broadcasts(sim_, after_heal_);
    for (auto number : measured) {
      for (auto n : missing_nodes(sim_, number)) {
        if (r_.missing_sample.size() >= 20) break;
        r_.missing_sample.emplace_back(number, n);
      }
    }
    for (std::uint32_t i = 0; i < sim_.messages().size(); ++i) {
      const auto& m = sim_.messages()[i];
      scenario_result::message_line l;
      l.number = i;
      l.origin = m.origin;
      l.measured = std::find(measured.begin(), measured.end(), i) != measured.end();
      l.expected = m.expected_count;
      l.delivered = m.delivered;
      l.payload = m.payload_received;
      l.ldh = m.ldh;
      l.rmr = message_rmr(m);
      for (auto us : m.latency_us) l.last_ms = std::max(l.last_ms, static_cast<double>(us) / 1000.0);
      r_.per_message.push_back(l);
    }
    r_.overlay_final = analyze_overlay(sim_, topic_);
    r_.links_by_path = links_by_path(sim_, topic_);
    observe("end");
    r_.counters = sim_.counters();
    r_.events = sim_.events_processed();
    r_.nodes_total = static_cast<std::uint32_t>(sim_.node_count());
    r_.nodes_live = static_cast<std::uint32_t>(live_.size());
    r_.virtual_ms = ms_between(core::instant{}, sim_.now());
    return std::move(r_);
  }

 private:
  void observe(std::string_view phase) {
    if (o_.observe) o_.observe(sim_, phase);
  }

  // ------------------------------------------------------------ live nodes --
  void add_live(node_index n) {
    if (pos_.size() <= n) pos_.resize(n + 1, no_node);
    pos_[n] = static_cast<std::uint32_t>(live_.size());
    live_.push_back(n);
  }
  void remove_live(node_index n) {
    const auto p = pos_[n];
    if (p == no_node) return;
    const node_index last = live_.back();
    live_[p] = last;
    pos_[last] = p;
    live_.pop_back();
    pos_[n] = no_node;
  }
  node_index random_live() {
    std::uniform_int_distribution<std::size_t> d(0, live_.size() - 1);
    return live_[d(sim_.rng())];
  }
  std::vector<node_index> pick_contacts() {
    std::vector<node_index> c;
    if (live_.empty()) return c;
    const std::size_t want =
        std::min<std::size_t>(std::uniform_int_distribution<std::size_t>(1, 3)(sim_.rng()), live_.size());
    while (c.size() < want) {
      const node_index n = random_live();
      if (std::find(c.begin(), c.end(), n) == c.end()) c.push_back(n);
    }
    return c;
  }
  void start_node() {
    const node_index n = sim_.add_node();
    if (o_.private_fraction > 0 && n != 0) {
      std::uniform_real_distribution<double> u(0.0, 1.0);
      if (u(sim_.rng()) < o_.private_fraction)
        sim_.set_nat(n, u(sim_.rng()) < o_.symmetric_fraction ? nat_type::symmetric : nat_type::eim);
    }
    const auto contacts = pick_contacts();
    sim_.join(n, topic_, contacts);
    add_live(n);
    if (!contacts.empty()) check_joined(n, 1);
  }

  void check_joined(node_index n, std::uint32_t attempt) {
    if (attempt >= o_.join_attempts) return;
    sim_.schedule(o_.rejoin_after, [this, n, attempt] {
      if (!sim_.is_up(n) || sim_.neighbors(n, topic_) > 0) return;
      std::vector<node_index> contacts;
      for (auto c : pick_contacts())
        if (c != n) contacts.push_back(c);
      ++r_.join_retries;
      sim_.join(n, topic_, contacts);
      check_joined(n, attempt + 1);
    });
  }

  // --------------------------------------------------------------- phases --
  void bootstrap() {
    for (std::uint32_t i = 0; i < o_.peers; ++i)
      sim_.schedule(static_cast<std::int64_t>(i) * o_.join_interval, [this] { start_node(); });
    const core::instant last_join = core::instant{} + static_cast<std::int64_t>(o_.peers - 1) * o_.join_interval;
    sim_.run_until(last_join);
    if (wait_for_neighbors()) {
      const core::instant since = *sim_.all_have_neighbor_since(topic_);
      r_.bootstrap_all_neighbors_ms = ms_between(core::instant{}, since);
      r_.bootstrap_all_neighbors_after_last_join_ms = std::max(0.0, ms_between(last_join, since));
    }
    sim_.run_for(settle_);
  }

  bool wait_for_neighbors() {
    return sim_.run_until([this] { return sim_.isolated(topic_) == 0; }, sim_.now() + o_.neighbor_wait);
  }

  std::uint32_t send_one(node_index from) {
    const auto number = static_cast<std::uint32_t>(sim_.messages().size());
    char head[96];
    std::snprintf(head, sizeof head, "topicswarm-sim seed=%llu msg=%u from=%u ",
                  static_cast<unsigned long long>(o_.seed), number, from);
    std::string text = head;
    if (text.size() < o_.message_size) text.resize(o_.message_size, '.');
    return sim_.broadcast(from, topic_, to_bytes(text));
  }

  bool complete(std::uint32_t number) const {
    const auto& m = sim_.messages()[number];
    return m.expected_delivered >= m.expected_count;
  }

  void run_round(const std::vector<std::uint32_t>& numbers) {
    sim_.run_until([&] { return std::all_of(numbers.begin(), numbers.end(), [&](auto n) { return complete(n); }); },
                   sim_.now() + o_.round_timeout);
    sim_.run_for(o_.round_gap);
  }

  void multi_rounds(std::vector<std::uint32_t>& measured) {
    for (std::uint32_t i = 0; i < rounds_; ++i) {
      measured.push_back(send_one(random_live()));
      run_round({measured.back()});
    }
  }

  void churn() {
    churn_report c;
    const auto k = static_cast<std::uint32_t>(std::lround(static_cast<double>(o_.peers) * o_.churn_fraction));
    std::vector<node_index> victims = live_;
    std::sort(victims.begin(), victims.end());
    std::shuffle(victims.begin(), victims.end(), sim_.rng());
    victims.resize(std::min<std::size_t>(k, victims.size()));
    const core::instant start = sim_.now();
    const auto window = std::max<std::int64_t>(o_.churn_window.count(), 1);
    std::uniform_int_distribution<std::int64_t> when(0, window - 1);
    for (auto v : victims) {
      sim_.schedule(core::duration(when(sim_.rng())), [this, v] {
        remove_live(v);
        if (o_.churn_graceful)
          sim_.leave(v);
        else
          sim_.crash(v);
      });
    }
    for (std::uint32_t i = 0; i < victims.size(); ++i)
      sim_.schedule(core::duration(when(sim_.rng())), [this] { start_node(); });
    sim_.run_until(start + core::duration(window));
    const auto retries_before = r_.join_retries;
    c.removed = static_cast<std::uint32_t>(victims.size());
    c.joined = static_cast<std::uint32_t>(victims.size());
    if (wait_for_neighbors())
      c.all_neighbors_ms = std::max(0.0, ms_between(start, *sim_.all_have_neighbor_since(topic_)));
    sim_.run_for(o_.churn_settle);
    c.join_retries = r_.join_retries - retries_before;
    c.overlay = analyze_overlay(sim_, topic_);
    observe("after_churn");
    r_.churn = c;
  }

  void partition(std::vector<std::uint32_t>& measured) {
    partition_report p;
    std::vector<node_index> order = live_;
    std::sort(order.begin(), order.end());
    std::shuffle(order.begin(), order.end(), sim_.rng());
    const std::size_t half = order.size() / 2;
    std::vector<node_index> a(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(half));
    std::vector<node_index> b(order.begin() + static_cast<std::ptrdiff_t>(half), order.end());
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    std::vector<std::uint32_t> groups(sim_.node_count(), 0);
    for (auto n : b) groups[n] = 1;
    p.side_a = static_cast<std::uint32_t>(a.size());
    p.side_b = static_cast<std::uint32_t>(b.size());
    sim_.set_partition(std::move(groups));
    sim_.run_for(o_.partition_settle);

    auto pick = [&](const std::vector<node_index>& side) {
      return side[std::uniform_int_distribution<std::size_t>(0, side.size() - 1)(sim_.rng())];
    };
    for (std::uint32_t i = 0; i < rounds_; ++i) {
      const auto first = send_one(pick(a));
      const auto second = send_one(pick(b));
      measured.push_back(first);
      measured.push_back(second);
      run_round({first, second});
    }
    p.components = count_components(sim_, topic_, live_);
    p.components_a = count_components(sim_, topic_, a);
    p.components_b = count_components(sim_, topic_, b);
    observe("partitioned");

    sim_.heal();
    const core::instant healed_at = sim_.now();
    const core::instant deadline = healed_at + o_.heal_observe;
    while (sim_.now() < deadline) {
      if (count_components(sim_, topic_, live_) == 1) {
        p.healed = true;
        p.heal_ms = ms_between(healed_at, sim_.now());
        break;
      }
      sim_.run_for(1s);
    }
    after_heal_.push_back(send_one(random_live()));
    run_round({after_heal_.back()});
    p.overlay_after_heal = analyze_overlay(sim_, topic_);
    observe("healed");
    r_.partition = p;
  }

  scenario_options o_;
  simulator sim_;
  topic_index topic_ = 0;
  std::uint32_t rounds_ = 0;
  core::duration settle_{};
  std::vector<node_index> live_;
  std::vector<std::uint32_t> pos_;
  std::vector<std::uint32_t> after_heal_;
  scenario_result r_;
};

}  // namespace

const std::vector<std::string>& scenario_names() {
  static const std::vector<std::string> names{"single", "multi", "burst", "churn", "partition"};
  return names;
}

core::duration default_settle(std::string_view scenario) {
  if (scenario == "churn" || scenario == "partition") return 150s;
  return 10s;
}

std::uint32_t default_rounds(std::string_view scenario) {
  if (scenario == "burst") return 50;
  if (scenario == "partition") return 5;
  return 10;
}

scenario_result run_scenario(const scenario_options& opts, const protocol_factory& factory) {
  runner r(opts, factory);
  return r.run();
}

}  // namespace topicswarm::sim
