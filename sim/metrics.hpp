// Metrics computed from a simulator's bookkeeping.
//
// Broadcast (PlumTree paper, Leitão et al. SRDS 2007, §4):
//  - missed: expected recipients (members that were up and reachable from the
//    origin when it broadcast) that are still up and never delivered it;
//  - RMR, relative message redundancy, per message: m / (n - 1) - 1 with m the
//    gossip payload messages received for it and n the nodes that delivered it
//    (the origin included). 0 means every node got exactly one payload;
//  - LDH, last delivery hop: the largest hop count of any delivery;
//  - delivery latency from broadcast to delivery, in virtual milliseconds.
// Overlay (HyParView, Leitão et al. DSN 2007): the graph of active views among
// live members: symmetry (fraction of directed active-view edges whose reverse
// edge exists), connectivity (undirected), isolated live nodes.
#pragma once

#include "sim/simulator.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace topicswarm::sim {

struct percentiles {
  double p50 = 0, p95 = 0, p99 = 0, max = 0;
};

// Nearest-rank percentiles of microsecond samples, reported in milliseconds.
percentiles latency_percentiles(std::vector<std::int64_t> samples_us);

struct broadcast_metrics {
  std::uint32_t messages = 0;
  std::uint64_t expected = 0;   // expected deliveries
  std::uint64_t delivered = 0;  // deliveries (any node but the origin)
  std::uint64_t missed = 0;
  std::uint64_t payload_received = 0;
  double rmr_mean = 0;  // mean of per-message RMR
  double rmr_max = 0;
  std::uint32_t ldh_max = 0;
  double ldh_mean = 0;
  percentiles latency_ms;
};

broadcast_metrics summarize_broadcasts(const simulator& sim, std::span<const std::uint32_t> message_numbers);
double message_rmr(const tracked_message& m);

// Nodes expected to deliver message `number` that are up and did not.
std::vector<node_index> missing_nodes(const simulator& sim, std::uint32_t number);

struct overlay_metrics {
  std::size_t live = 0;          // up members of the topic
  std::size_t isolated = 0;      // live nodes with no live node in their active view
  std::uint64_t edges = 0;       // directed active-view entries (towards any node)
  std::uint64_t mutual = 0;      // entries whose reverse entry exists
  std::uint64_t dead_edges = 0;  // entries pointing at nodes that are down
  double symmetry = 1.0;         // mutual / edges
  std::size_t components = 0;    // connected components among live nodes
  std::size_t largest_component = 0;
  bool connected = false;
  double active_mean = 0, passive_mean = 0;
  std::size_t active_min = 0, active_max = 0;
};

// Active-view links of topic t between two members (each pair once), by
// how their connection got through the NATs (simulator::path).
std::array<std::uint64_t, link_path_count> links_by_path(const simulator& sim, topic_index t);
overlay_metrics analyze_overlay(const simulator& sim, topic_index t);
// Human-readable findings, at most `limit`: active-view entries without their
// reverse entry ("n3 has n7 in its active view, not the reverse"), entries
// pointing at nodes that are down, and live nodes without a live neighbour.
std::vector<std::string> audit_views(const simulator& sim, topic_index t, std::size_t limit = 50);
// Components among live members of t restricted to the given node subset
// (e.g. one side of a partition); 0 if the subset has no live member.
// mutual_only: count only links both ends have in their active view (a
// link half made, e.g. while a join is answered, carries no broadcast yet).
std::size_t count_components(const simulator& sim, topic_index t, std::span<const node_index> subset,
                             bool mutual_only = false);

}  // namespace topicswarm::sim
