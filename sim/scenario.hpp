// Scenarios: a bootstrap of N peers followed by a workload, measured.
//
// Common bootstrap: node 0 starts alone; every join_interval (10 ms) one more
// node joins through 1-3 random nodes that already joined (distinct, live). A
// joiner that still has no neighbour rejoin_after (5 s) later, because its
// contacts died before answering, joins again through new random live nodes
// (at most join_attempts in all), as any bootstrap retries. Once the last node
// joined, the run waits until every node has a neighbour, then lets the
// overlay settle for `settle` (10 s; 150 s for churn and partition, so that
// shuffles fill passive views first). Then `warmup` broadcasts (1) build the
// PlumTree eager tree; they are reported apart ("warmup"), because the first
// broadcast over a fresh overlay floods every active link by design (PlumTree
// §3: the tree emerges from its PRUNEs). "rmr_including_warmup" reports the
// mean over both, as iroh-gossip's simulation averages its rounds.
//
//  single     one sender (a random node, fixed for the run; it also sends the
//             warm-up) broadcasts `rounds` messages, one after another (default 10).
//  multi      each round a random live node broadcasts one message (default 10).
//  burst      `rounds` messages (default 50) from random senders at the same instant.
//  churn      30% of the nodes crash (or leave, with churn_graceful) while as many
//             new nodes join, each at a random instant of churn_window (through
//             1-3 random live nodes, which may be among those about to crash); then the
//             run waits for every node to have a neighbour, settles for
//             churn_settle and runs `rounds` multi rounds (default 10).
//  partition  the nodes are split in two random halves; after partition_settle,
//             each round one random node per half broadcasts (default 5 rounds;
//             expected recipients: its own half); then the split is healed and
//             the run reports whether and when the overlay became one connected
//             graph again (checked every second for heal_observe), followed by
//             one broadcast over the whole overlay.
// A round ends when every expected recipient delivered or after round_timeout,
// then round_gap passes. After the last round the run drains for `drain`, so
// that late repairs (GRAFTs) count, before misses are counted.
#pragma once

#include "sim/metrics.hpp"
#include "sim/simulator.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace topicswarm::sim {

struct scenario_options {
  std::string name = "single";
  std::uint32_t peers = 100;
  std::uint64_t seed = 1;
  std::uint32_t rounds = 0;  // 0: the scenario's default
  link_config link;
  gossip::config proto;
  core::duration join_interval = 10ms;
  // Quiet time after the bootstrap, before any broadcast. 0: the scenario's
  // default: 10 s, but 150 s (two and a half shuffle periods) for churn and
  // partition, so that passive views hold more than the join walks put there
  // before nodes fail (the HyParView paper, §5, also lets shuffles run first).
  core::duration settle = 0s;
  // A node that has no neighbour this long after joining (its contacts died
  // before answering) joins again through new random live contacts, at most
  // join_attempts times in all: the retry every bootstrap does.
  core::duration rejoin_after = 5s;
  std::uint32_t join_attempts = 3;
  core::duration neighbor_wait = 60s;  // longest wait for every node to have a neighbour
  std::uint32_t warmup = 1;
  std::size_t message_size = 64;
  core::duration round_timeout = 10s;
  core::duration round_gap = 200ms;
  core::duration drain = 5s;
  double churn_fraction = 0.3;
  bool churn_graceful = false;
  core::duration churn_window = 10s;
  core::duration churn_settle = 30s;
  core::duration partition_settle = 20s;
  core::duration heal_observe = 180s;
  // Event trace (for debugging a failing seed): lines for these nodes (all if empty).
  simulator::trace_sink trace;
  std::vector<node_index> trace_nodes;
  // NAT model (simulator.hpp, nat_type): this share of the nodes is private,
  // and of those this share behind endpoint-dependent ("symmetric") NATs,
  // the rest endpoint-independent. Node 0 stays public. 0: all public.
  double private_fraction = 0;
  double symmetric_fraction = 0.3;
  nat_config nat;
  // Called with the simulator at the end of each phase: "at_rest" (after
  // bootstrap and settle), "after_churn", "partitioned", "healed", "end".
  std::function<void(const simulator&, std::string_view phase)> observe;
};

struct churn_report {
  std::uint32_t removed = 0;  // crashed or left
  std::uint32_t joined = 0;
  std::uint32_t join_retries = 0;          // joins repeated because every contact died first
  std::optional<double> all_neighbors_ms;  // from churn start until every live node has a neighbour
  overlay_metrics overlay;                 // after churn_settle
};

struct partition_report {
  std::uint32_t side_a = 0, side_b = 0;
  std::size_t components = 0;  // whole overlay, at the end of the split
  std::size_t components_a = 0, components_b = 0;
  bool healed = false;
  std::optional<double> heal_ms;  // from heal until the overlay is one connected graph
  broadcast_metrics after_heal;
  overlay_metrics overlay_after_heal;
};

struct scenario_result {
  std::string scenario;
  std::uint32_t peers = 0;
  std::uint64_t seed = 0;
  std::uint32_t rounds = 0;
  scenario_options options;
  double virtual_ms = 0;
  std::optional<double> bootstrap_all_neighbors_ms;  // from the first join
  std::optional<double> bootstrap_all_neighbors_after_last_join_ms;
  overlay_metrics overlay_at_rest;  // after bootstrap and settle
  broadcast_metrics warmup;
  broadcast_metrics measured;
  // Mean RMR over every broadcast of the run, warm-up included (as iroh-gossip's
  // simulation averages its rounds), for comparison with `measured`.
  double rmr_including_warmup = 0;
  overlay_metrics overlay_final;
  std::optional<churn_report> churn;
  std::optional<partition_report> partition;
  network_counters counters;
  // Active-view links at the end (each pair once, both ends members), by how
  // their connection got through the NATs (link_path order).
  std::array<std::uint64_t, link_path_count> links_by_path{};
  std::uint64_t events = 0;
  struct message_line {
    std::uint32_t number = 0;
    node_index origin = 0;
    bool measured = true;
    std::uint32_t expected = 0, delivered = 0, payload = 0, ldh = 0;
    double rmr = 0, last_ms = 0;
  };
  std::vector<message_line> per_message;  // every broadcast, in order
  std::uint32_t join_retries = 0;         // over the whole run
  std::uint32_t nodes_total = 0;          // every node ever started
  std::uint32_t nodes_live = 0;
  // Up to 20 misses as (message number, node): the starting point of a trace.
  std::vector<std::pair<std::uint32_t, node_index>> missing_sample;
  double wall_ms = 0;  // filled in by the caller: the engine never reads a clock
};

const std::vector<std::string>& scenario_names();
std::uint32_t default_rounds(std::string_view scenario);
core::duration default_settle(std::string_view scenario);

// Runs a scenario with the given node protocol (router_factory(opts.proto)
// for the real gossip core). Throws std::invalid_argument for an unknown name.
scenario_result run_scenario(const scenario_options& opts, const protocol_factory& factory);

}  // namespace topicswarm::sim
