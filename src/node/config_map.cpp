#include "node/config_map.hpp"

#include "gossip/codec.hpp"

#include <chrono>
#include <string>
#include <utility>

namespace topicswarm::detail {

using std::chrono::duration_cast;
using std::chrono::microseconds;

gossip::config to_core(const gossip_config& g) {
  gossip::config c;
  c.membership.active_view_capacity = g.active_view_capacity;
  c.membership.passive_view_capacity = g.passive_view_capacity;
  c.membership.active_random_walk_length = g.active_random_walk_length;
  c.membership.passive_random_walk_length = g.passive_random_walk_length;
  c.membership.shuffle_random_walk_length = g.shuffle_random_walk_length;
  c.membership.shuffle_interval = duration_cast<microseconds>(g.shuffle_interval);
  c.membership.shuffle_active_view_count = g.shuffle_active_view_count;
  c.membership.shuffle_passive_view_count = g.shuffle_passive_view_count;
  c.membership.neighbor_request_timeout = duration_cast<microseconds>(g.neighbor_request_timeout);
  c.membership.max_active_per_range = g.max_active_per_range;
  c.membership.max_passive_per_range = g.max_passive_per_range;
  c.membership.limit_local_ranges = g.limit_local_ranges;
  c.broadcast.lazy_push_interval = duration_cast<microseconds>(g.lazy_push_interval);
  c.broadcast.graft_timeout_1 = duration_cast<microseconds>(g.graft_timeout_1);
  c.broadcast.graft_timeout_2 = duration_cast<microseconds>(g.graft_timeout_2);
  c.broadcast.optimization_threshold = g.optimization_threshold;
  c.broadcast.message_cache_retention = duration_cast<microseconds>(g.message_cache_retention);
  c.broadcast.message_id_retention = duration_cast<microseconds>(g.message_id_retention);
  c.broadcast.cache_evict_interval = duration_cast<microseconds>(g.cache_evict_interval);
  c.broadcast.message_cache_capacity = g.message_cache_capacity;
  c.broadcast.message_cache_bytes = g.message_cache_bytes;
  c.broadcast.message_id_capacity = g.message_id_capacity;
  c.max_message_size = g.max_message_size;
  return c;
}

net::config to_net(const transport_config& t, std::size_t max_frame_payload) {
  net::config c;
  c.max_connections = t.max_connections;
  c.max_pending_handshakes = t.max_pending_handshakes;
  c.max_inbound_per_ip = t.max_inbound_per_ip;
  c.max_inbound_per_prefix = t.max_inbound_per_prefix;
  c.max_handshakes_per_ip = t.max_handshakes_per_ip;
  c.outbound_reserve = t.outbound_reserve;
  c.limit_loopback = t.limit_loopback;
  c.dial_from_listen_port = t.dial_from_listen_port;
  c.connect_timeout = t.connect_timeout;
  c.handshake_timeout = t.handshake_timeout;
  c.idle_timeout = t.idle_timeout;
  c.keepalive_interval = t.keepalive_interval;
  c.duplicate_grace = t.duplicate_grace;
  c.max_send_queue_bytes = t.max_send_queue_bytes;
  c.max_total_send_queue_bytes = t.max_total_send_queue_bytes;
  c.send_backpressure_bytes = t.send_backpressure_bytes;
  c.send_stall_timeout = t.send_stall_timeout;
  c.max_dial_queue_bytes = t.max_dial_queue_bytes;
  c.max_frame_payload = max_frame_payload;
  return c;
}

namespace {

result<void> validate_gossip(const gossip_config& g) {
  const auto bad = [](std::string what) { return result<void>{errc::invalid_argument, "gossip." + what}; };
  if (g.max_message_size == 0 || g.max_message_size > gossip::limits::max_content_size)
    return bad("max_message_size must be between 1 and " + std::to_string(gossip::limits::max_content_size) +
               " bytes");
  if (g.active_view_capacity == 0) return bad("active_view_capacity must be at least 1");
  if (g.max_active_per_range == 0 || g.max_passive_per_range == 0)
    return bad("max_active_per_range and max_passive_per_range must be at least 1");
  // Walk lengths travel as a ttl, which the wire format bounds.
  const std::pair<const char*, std::uint8_t> walks[] = {
      {"active_random_walk_length", g.active_random_walk_length},
      {"passive_random_walk_length", g.passive_random_walk_length},
      {"shuffle_random_walk_length", g.shuffle_random_walk_length},
  };
  for (const auto& [name, length] : walks)
    if (length > gossip::limits::max_ttl)
      return bad(std::string(name) + " must be at most " + std::to_string(gossip::limits::max_ttl) +
                 " (the ttl bound of the wire format)");
  // A shuffle lists us and the sampled peers; the wire format bounds the list.
  const std::size_t max_sampled = gossip::limits::max_shuffle_nodes - 1;
  if (g.shuffle_active_view_count > max_sampled ||
      g.shuffle_passive_view_count > max_sampled - g.shuffle_active_view_count)
    return bad("shuffle_active_view_count + shuffle_passive_view_count must be at most " + std::to_string(max_sampled) +
               " (a shuffle carries at most " + std::to_string(gossip::limits::max_shuffle_nodes) +
               " peers, ourselves included)");
  const std::pair<const char*, std::chrono::milliseconds> durations[] = {
      {"shuffle_interval", g.shuffle_interval},
      {"neighbor_request_timeout", g.neighbor_request_timeout},
      {"lazy_push_interval", g.lazy_push_interval},
      {"graft_timeout_1", g.graft_timeout_1},
      {"graft_timeout_2", g.graft_timeout_2},
      {"message_cache_retention", g.message_cache_retention},
      {"message_id_retention", g.message_id_retention},
      {"cache_evict_interval", g.cache_evict_interval},
  };
  for (const auto& [name, d] : durations)
    if (d.count() <= 0) return bad(std::string(name) + " must be positive");
  return {};
}

}  // namespace

result<void> validate(const node_config& c) {
  if (c.advertise_interfaces && c.interface_check_interval.count() <= 0)
    return {errc::invalid_argument, "interface_check_interval must be positive"};
  if (auto g = validate_gossip(c.gossip); !g) return g;
  if (c.lan.enabled && (c.lan.port == 0 || c.lan.interval.count() <= 0))
    return {errc::invalid_argument, "lan.port must not be 0 and lan.interval must be positive"};
  const auto& t = c.transport;
  if (t.max_connections == 0 || t.max_pending_handshakes == 0)
    return {errc::invalid_argument, "transport.max_connections and max_pending_handshakes must be at least 1"};
  if (t.max_inbound_per_ip == 0 || t.max_inbound_per_prefix == 0 || t.max_handshakes_per_ip == 0)
    return {errc::invalid_argument,
            "transport.max_inbound_per_ip, max_inbound_per_prefix and max_handshakes_per_ip must be at least 1"};
  if (t.outbound_reserve >= t.max_connections)
    return {errc::invalid_argument, "transport.outbound_reserve must be below max_connections (inbound needs room)"};
  if (t.connect_timeout.count() <= 0 || t.handshake_timeout.count() <= 0 || t.idle_timeout.count() <= 0 ||
      t.keepalive_interval.count() <= 0 || t.send_stall_timeout.count() <= 0 || t.admission_timeout.count() <= 0)
    return {errc::invalid_argument, "transport timeouts must be positive"};
  if (t.keepalive_interval >= t.idle_timeout)
    return {errc::invalid_argument, "transport.keepalive_interval must be shorter than idle_timeout"};
  if (t.max_total_send_queue_bytes < t.max_send_queue_bytes)
    return {errc::invalid_argument, "transport.max_total_send_queue_bytes must be at least max_send_queue_bytes"};
  if (t.send_backpressure_bytes == 0 || t.send_backpressure_bytes > t.max_send_queue_bytes)
    return {errc::invalid_argument, "transport.send_backpressure_bytes must be in (0, max_send_queue_bytes]"};
  if (c.timeouts.join_peer_timeout.count() <= 0 || c.timeouts.broadcast_timeout.count() <= 0 ||
      c.timeouts.broadcast_neighbors_timeout.count() <= 0)
    return {errc::invalid_argument, "timeouts.join_peer_timeout, broadcast_timeout and broadcast_neighbors_timeout "
                                    "must be positive"};
  if (c.event_queue_capacity == 0) return {errc::invalid_argument, "event_queue_capacity must be at least 1"};
  if (t.max_admission_failures == 0)
    return {errc::invalid_argument, "transport.max_admission_failures must be at least 1"};
  return {};
}

admission::config to_admission(const transport_config& t) {
  admission::config c;
  c.admission_timeout = std::chrono::duration_cast<core::duration>(t.admission_timeout);
  c.max_failures = t.max_admission_failures;
  return c;
}

void add_to(gossip_stats& s, const gossip::topic_counters& c, std::size_t eager_links, std::size_t lazy_links) {
  const auto& m = c.membership;
  const auto& b = c.broadcast;
  s.messages_sent += m.messages_sent + b.messages_sent;
  s.messages_received += c.messages_received;
  s.delivered += b.gossip_delivered;
  s.duplicates += b.gossip_duplicates;
  s.ihave_sent += b.ihave_sent;
  s.graft_sent += b.graft_sent;
  s.prune_sent += b.prune_sent;
  s.prunes_withheld += b.prunes_withheld;
  s.eager_announcements += b.eager_announcements;
  s.grafts_refused += b.grafts_refused;
  s.grafts_over_budget += b.grafts_over_budget;
  s.ihave_ids_over_budget += b.ihave_ids_over_budget;
  // Public "invalid": dropped without effect, whichever layer noticed.
  s.invalid_messages += c.malformed_messages + b.invalid_messages;
  s.neighbor_up += m.neighbor_up;
  s.neighbor_down += m.neighbor_down;
  s.shuffles += m.shuffles;
  s.walks_refused += m.walks_refused;
  s.joins_not_forwarded += m.joins_not_forwarded;
  s.neighbor_requests_downgraded += m.neighbor_requests_downgraded;
  s.active_range_refusals += m.active_range_refusals;
  s.passive_range_refusals += m.passive_range_refusals;
  s.eager_links += eager_links;
  s.lazy_links += lazy_links;
}

void add_to(auto_discovery_stats& d, const tracker::counters& c) {
  // Counters the public type carries under the core's own name.
  using public_field = std::uint64_t auto_discovery_stats::*;
  using core_field = std::uint64_t tracker::counters::*;
  static constexpr std::pair<public_field, core_field> same[] = {
      {&auto_discovery_stats::gets, &tracker::counters::gets},
      {&auto_discovery_stats::get_timeouts, &tracker::counters::get_timeouts},
      {&auto_discovery_stats::puts, &tracker::counters::puts},
      {&auto_discovery_stats::put_failures, &tracker::counters::put_failures},
      {&auto_discovery_stats::put_retries, &tracker::counters::put_retries},
      {&auto_discovery_stats::records_valid, &tracker::counters::records_valid},
      {&auto_discovery_stats::records_invalid, &tracker::counters::records_invalid},
      {&auto_discovery_stats::rounds, &tracker::counters::rounds},
      {&auto_discovery_stats::publishes_skipped_cap, &tracker::counters::publishes_skipped_cap},
      {&auto_discovery_stats::dials, &tracker::counters::dials},
      {&auto_discovery_stats::dial_failures, &tracker::counters::dial_failures},
      {&auto_discovery_stats::joins, &tracker::counters::joins},
      {&auto_discovery_stats::bubble_merges, &tracker::counters::bubble_merges},
      {&auto_discovery_stats::overlap_merges, &tracker::counters::overlap_merges},
      {&auto_discovery_stats::island_merges, &tracker::counters::island_merges},
      {&auto_discovery_stats::rebootstraps, &tracker::counters::rebootstraps},
      {&auto_discovery_stats::listed_dials_capped, &tracker::counters::listed_dials_capped},
  };
  ++d.topics;
  for (const auto& [to, from] : same) d.*to += c.*from;
  d.publishes += c.bootstrap_publishes + c.publisher_publishes;
}

void add_to(auto_discovery_stats& d, const tracker::driver_counters& c) {
  d.records_rejected_length += c.rejected_length;
  d.records_rejected_format += c.rejected_format;
  d.records_rejected_seq += c.rejected_seq;
  d.records_rejected_decryption += c.rejected_decryption;
  d.records_rejected_topic += c.rejected_topic;
  d.records_rejected_window += c.rejected_window;
  d.records_rejected_signature += c.rejected_signature;
  d.records_rejected_other += c.rejected_other;
}

transport_stats from_net(const net::stats& n) {
  transport_stats s;
  s.accepted = n.accepted;
  s.dialled = n.dialled;
  s.dial_failures = n.dial_failures;
  s.handshake_failures = n.handshake_failures;
  s.identity_mismatches = n.identity_mismatches;
  s.refused_connection_cap = n.refused_connection_cap;
  s.refused_handshake_cap = n.refused_handshake_cap;
  s.refused_per_ip = n.refused_per_ip;
  s.refused_per_prefix = n.refused_per_prefix;
  s.refused_handshakes_per_ip = n.refused_handshakes_per_ip;
  s.refused_inbound_share = n.refused_inbound_share;
  s.duplicate_connections = n.duplicate_connections;
  s.frames_in = n.frames_in;
  s.frames_out = n.frames_out;
  s.bytes_in = n.bytes_in;
  s.bytes_out = n.bytes_out;
  s.malformed_frames = n.malformed_frames;
  s.oversized_frames = n.oversized_frames;
  s.idle_timeouts = n.idle_timeouts;
  s.stranded_closes = n.stranded_closes;
  s.listen_port_fallbacks = n.listen_port_fallbacks;
  s.send_queue_overflows = n.send_queue_overflows;
  s.send_budget_closes = n.send_budget_closes;
  s.stalled_connections = n.stalled_connections;
  s.dial_queue_drops = n.dial_queue_drops;
  s.hello_timeouts = n.hello_timeouts;
  s.hello_violations = n.hello_violations;
  s.hello_malformed = n.hello_malformed;
  s.version_mismatches = n.version_mismatches;
  s.frames_unknown_kind = n.frames_unknown_kind;
  s.connections = n.connections;
  s.handshakes_in_progress = n.handshakes_in_progress;
  s.queued_bytes = n.queued_bytes;
  return s;
}

}  // namespace topicswarm::detail
