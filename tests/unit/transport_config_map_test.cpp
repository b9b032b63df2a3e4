// The public transport settings and counters against the net layer's own
// (node/config_map): every field makes the trip, and the two sets of
// defaults agree, so a default changed on one side only is caught here.
#include "node/config_map.hpp"

#include <gtest/gtest.h>

namespace topicswarm::detail {
namespace {

using namespace std::chrono_literals;

TEST(transport_config_map, defaults_agree) {
  const net::config n = to_net(transport_config{}, net::config{}.max_frame_payload);
  const net::config d;
  EXPECT_EQ(n.max_connections, d.max_connections);
  EXPECT_EQ(n.max_pending_handshakes, d.max_pending_handshakes);
  EXPECT_EQ(n.max_inbound_per_ip, d.max_inbound_per_ip);
  EXPECT_EQ(n.max_inbound_per_prefix, d.max_inbound_per_prefix);
  EXPECT_EQ(n.max_handshakes_per_ip, d.max_handshakes_per_ip);
  EXPECT_EQ(n.outbound_reserve, d.outbound_reserve);
  EXPECT_EQ(n.limit_loopback, d.limit_loopback);
  EXPECT_EQ(n.dial_from_listen_port, d.dial_from_listen_port);
  EXPECT_EQ(n.connect_timeout, d.connect_timeout);
  EXPECT_EQ(n.handshake_timeout, d.handshake_timeout);
  EXPECT_EQ(n.idle_timeout, d.idle_timeout);
  EXPECT_EQ(n.keepalive_interval, d.keepalive_interval);
  EXPECT_EQ(n.duplicate_grace, d.duplicate_grace);
  EXPECT_EQ(n.max_send_queue_bytes, d.max_send_queue_bytes);
  EXPECT_EQ(n.max_total_send_queue_bytes, d.max_total_send_queue_bytes);
  EXPECT_EQ(n.send_backpressure_bytes, d.send_backpressure_bytes);
  EXPECT_EQ(n.send_stall_timeout, d.send_stall_timeout);
  EXPECT_EQ(n.max_dial_queue_bytes, d.max_dial_queue_bytes);
}

TEST(transport_config_map, every_public_field_reaches_the_net_config) {
  transport_config t;
  // Each field a value unlike its default and unlike every other field's.
  t.max_connections = 11;
  t.max_pending_handshakes = 12;
  t.connect_timeout = 13ms;
  t.handshake_timeout = 14ms;
  t.idle_timeout = 15ms;
  t.keepalive_interval = 16ms;
  t.duplicate_grace = 17ms;
  t.max_send_queue_bytes = 18;
  t.send_backpressure_bytes = 19;
  t.send_stall_timeout = 20ms;
  t.max_dial_queue_bytes = 21;
  t.max_inbound_per_ip = 23;
  t.max_inbound_per_prefix = 24;
  t.max_handshakes_per_ip = 25;
  t.outbound_reserve = 26;
  t.limit_loopback = !net::config{}.limit_loopback;
  t.dial_from_listen_port = !net::config{}.dial_from_listen_port;
  t.max_total_send_queue_bytes = 27;
  const net::config n = to_net(t, 22);
  EXPECT_EQ(n.max_total_send_queue_bytes, 27u);
  EXPECT_EQ(n.max_inbound_per_ip, 23u);
  EXPECT_EQ(n.max_inbound_per_prefix, 24u);
  EXPECT_EQ(n.max_handshakes_per_ip, 25u);
  EXPECT_EQ(n.outbound_reserve, 26u);
  EXPECT_EQ(n.limit_loopback, !net::config{}.limit_loopback);
  EXPECT_EQ(n.dial_from_listen_port, !net::config{}.dial_from_listen_port);
  EXPECT_EQ(n.max_connections, 11u);
  EXPECT_EQ(n.max_pending_handshakes, 12u);
  EXPECT_EQ(n.connect_timeout, 13ms);
  EXPECT_EQ(n.handshake_timeout, 14ms);
  EXPECT_EQ(n.idle_timeout, 15ms);
  EXPECT_EQ(n.keepalive_interval, 16ms);
  EXPECT_EQ(n.duplicate_grace, 17ms);
  EXPECT_EQ(n.max_send_queue_bytes, 18u);
  EXPECT_EQ(n.send_backpressure_bytes, 19u);
  EXPECT_EQ(n.send_stall_timeout, 20ms);
  EXPECT_EQ(n.max_dial_queue_bytes, 21u);
  EXPECT_EQ(n.max_frame_payload, 22u);
}

TEST(transport_config_map, admission_settings_reach_the_admission_core) {
  const admission::config d;
  const admission::config dm = to_admission(transport_config{});
  EXPECT_EQ(dm.admission_timeout, d.admission_timeout);
  EXPECT_EQ(dm.max_failures, d.max_failures);
  transport_config t;
  t.admission_timeout = 1234ms;
  t.max_admission_failures = 7;
  const admission::config m = to_admission(t);
  EXPECT_EQ(m.admission_timeout, std::chrono::milliseconds(1234));
  EXPECT_EQ(m.max_failures, 7u);
  node_config bad;
  bad.transport.max_total_send_queue_bytes = bad.transport.max_send_queue_bytes - 1;
  EXPECT_FALSE(validate(bad));
  bad = {};
  bad.transport.max_admission_failures = 0;
  EXPECT_FALSE(validate(bad));
  bad = {};
  bad.transport.admission_timeout = 0ms;
  EXPECT_FALSE(validate(bad));
}

TEST(transport_config_map, every_net_counter_reaches_the_public_stats) {
  net::stats n;
  std::uint64_t v = 100;
  for (auto* f : {&n.accepted, &n.dialled, &n.dial_failures, &n.handshake_failures, &n.identity_mismatches,
                  &n.refused_connection_cap, &n.refused_handshake_cap, &n.duplicate_connections, &n.frames_in,
                  &n.frames_out, &n.bytes_in, &n.bytes_out, &n.malformed_frames, &n.oversized_frames,
                  &n.idle_timeouts, &n.send_queue_overflows, &n.stalled_connections, &n.dial_queue_drops,
                  &n.hello_timeouts, &n.hello_violations, &n.hello_malformed, &n.version_mismatches,
                  &n.frames_unknown_kind, &n.refused_per_ip, &n.refused_per_prefix, &n.refused_handshakes_per_ip,
                  &n.refused_inbound_share, &n.send_budget_closes, &n.stranded_closes,
                  &n.listen_port_fallbacks})
    *f = ++v;
  n.connections = 201;
  n.handshakes_in_progress = 202;
  n.queued_bytes = 203;
  const transport_stats s = from_net(n);
  EXPECT_EQ(s.accepted, n.accepted);
  EXPECT_EQ(s.dialled, n.dialled);
  EXPECT_EQ(s.dial_failures, n.dial_failures);
  EXPECT_EQ(s.handshake_failures, n.handshake_failures);
  EXPECT_EQ(s.identity_mismatches, n.identity_mismatches);
  EXPECT_EQ(s.refused_connection_cap, n.refused_connection_cap);
  EXPECT_EQ(s.refused_handshake_cap, n.refused_handshake_cap);
  EXPECT_EQ(s.refused_per_ip, n.refused_per_ip);
  EXPECT_EQ(s.refused_per_prefix, n.refused_per_prefix);
  EXPECT_EQ(s.refused_handshakes_per_ip, n.refused_handshakes_per_ip);
  EXPECT_EQ(s.refused_inbound_share, n.refused_inbound_share);
  EXPECT_EQ(s.stranded_closes, n.stranded_closes);
  EXPECT_EQ(s.listen_port_fallbacks, n.listen_port_fallbacks);
  EXPECT_EQ(s.duplicate_connections, n.duplicate_connections);
  EXPECT_EQ(s.frames_in, n.frames_in);
  EXPECT_EQ(s.frames_out, n.frames_out);
  EXPECT_EQ(s.bytes_in, n.bytes_in);
  EXPECT_EQ(s.bytes_out, n.bytes_out);
  EXPECT_EQ(s.malformed_frames, n.malformed_frames);
  EXPECT_EQ(s.oversized_frames, n.oversized_frames);
  EXPECT_EQ(s.idle_timeouts, n.idle_timeouts);
  EXPECT_EQ(s.send_queue_overflows, n.send_queue_overflows);
  EXPECT_EQ(s.send_budget_closes, n.send_budget_closes);
  EXPECT_EQ(s.stalled_connections, n.stalled_connections);
  EXPECT_EQ(s.dial_queue_drops, n.dial_queue_drops);
  EXPECT_EQ(s.hello_timeouts, n.hello_timeouts);
  EXPECT_EQ(s.hello_violations, n.hello_violations);
  EXPECT_EQ(s.hello_malformed, n.hello_malformed);
  EXPECT_EQ(s.version_mismatches, n.version_mismatches);
  EXPECT_EQ(s.frames_unknown_kind, n.frames_unknown_kind);
  EXPECT_EQ(s.connections, 201u);
  EXPECT_EQ(s.handshakes_in_progress, 202u);
  EXPECT_EQ(s.queued_bytes, 203u);
}

}  // namespace
}  // namespace topicswarm::detail
