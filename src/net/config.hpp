// The transport's own settings and counters. The net layer sees no public
// API type beyond the vocabulary (ids, endpoints, errors, bytes, identity):
// src/node/config_map maps the public transport_config onto net::config and
// net::stats onto the public transport_stats; transport_config_map_test checks that
// every field makes the trip (defaults included).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace topicswarm::net {

// Defaults and their reasons: docs/PROTOCOL.md §10.6.
struct config {
  std::size_t max_connections = 256;                 // established + handshaking
  std::size_t max_pending_handshakes = 32;           // inbound TLS handshakes and hellos in progress
  // Per source, over inbound connections (handshaking and established), so
  // that one address or one network cannot take the table: per IP address,
  // per prefix (IPv4 /24, IPv6 /48), and handshakes in progress per IP.
  std::size_t max_inbound_per_ip = 8;
  std::size_t max_inbound_per_prefix = 32;
  std::size_t max_handshakes_per_ip = 4;
  // Room inbound connections from strangers cannot take: our own dials, and
  // peers the owner knows (transport_handler::known_peer). A stranger is
  // refused once inbound connections reach max_connections - outbound_reserve.
  std::size_t outbound_reserve = 32;
  // Whether the per-source limits apply to loopback sources. Off by default:
  // local testnets and tests connect everything from 127.0.0.1, and a local
  // attacker has easier means than this.
  bool limit_loopback = false;
  std::chrono::milliseconds connect_timeout{3'000};  // per address, TCP connect
  // Dial from the listen port (SO_REUSEADDR + SO_REUSEPORT on listener and
  // dialling sockets), falling back to an ephemeral port when the four-tuple
  // is taken or the TLS handshake fails (simultaneous open): a NAT that keeps
  // one external port per local port then shows peers a dialable address.
  // On by default (issue 16): the whole suite runs with it.
  bool dial_from_listen_port = true;
  // Bounds the TLS handshake, and then separately the wait for the peer's
  // hello once TLS is up.
  std::chrono::milliseconds handshake_timeout{5'000};
  std::chrono::milliseconds idle_timeout{30'000};        // no complete frame received for this long: close
  std::chrono::milliseconds keepalive_interval{10'000};  // send a keepalive after this much silence
  std::chrono::milliseconds duplicate_grace{2'000};      // a losing duplicate is still read this long
  std::size_t max_send_queue_bytes = 16u << 20;          // beyond it the peer is closed as too slow
  // All send queues together (established connections and frames held while
  // dialling): when a frame would take the total over it, the connection
  // with the longest queue (the slowest peer) is closed, until the frame fits.
  std::size_t max_total_send_queue_bytes = 64u << 20;
  std::size_t send_backpressure_bytes = 1u << 20;        // send_ready() is false above it
  std::chrono::milliseconds send_stall_timeout{5'000};   // one write without progress this long: close
  std::size_t max_dial_queue_bytes = 1u << 20;           // frames queued per peer while dialling
  // How long a dial waits for the peer's own connection once a connection
  // reversal was asked for (transport::on_reverse): the helpers' round trip
  // and the peer's connect and handshake (docs/PROTOCOL.md §19.7).
  std::chrono::milliseconds reverse_timeout{10'000};
  // Relay circuits we serve (transport::on_relay, docs/PROTOCOL.md §19.9):
  // how long the first end waits for the second, and per circuit the bytes
  // copied (both directions together) and its lifetime; beyond either the
  // circuit is closed. Both ends then look for another way (a direct
  // connection replaces a relayed one).
  std::chrono::milliseconds relay_pair_timeout{10'000};
  std::uint64_t relay_max_bytes = 64u << 20;
  std::chrono::milliseconds relay_max_duration{600'000};
  // Largest frame payload (kind byte + body) accepted or sent. The owner
  // derives it from what its layers send (the node: the largest gossip
  // encoding); peers must agree, since a larger frame closes the connection.
  std::size_t max_frame_payload = 64u << 10;
};

struct stats {
  std::uint64_t accepted = 0, dialled = 0;  // connections established (hello exchanged), by direction
  std::uint64_t dial_failures = 0;
  std::uint64_t handshake_failures = 0, identity_mismatches = 0;
  std::uint64_t refused_connection_cap = 0, refused_handshake_cap = 0;
  // Inbound connections refused by source (closed at accept, before TLS),
  // and strangers refused once inbound connections filled their share
  // (closed after TLS named them).
  std::uint64_t refused_per_ip = 0, refused_per_prefix = 0, refused_handshakes_per_ip = 0;
  std::uint64_t refused_inbound_share = 0;
  std::uint64_t duplicate_connections = 0;  // simultaneous dials resolved
  std::uint64_t frames_in = 0, frames_out = 0, bytes_in = 0, bytes_out = 0;
  std::uint64_t malformed_frames = 0, oversized_frames = 0;
  std::uint64_t idle_timeouts = 0, send_queue_overflows = 0, stalled_connections = 0, dial_queue_drops = 0;
  std::uint64_t stranded_closes = 0;        // closed by close_stranded(): our local address left the machine
  std::uint64_t listen_port_fallbacks = 0;  // dials from the listen port redone from an ephemeral port
  // Dial-back probes (transport::probe): sent and delivered, sent and failed
  // (connect, TLS, identity, write), received and handed over, received and
  // dropped (no frame in time, oversized, no handler).
  std::uint64_t probes_sent = 0, probes_failed = 0, probes_received = 0, probes_dropped = 0;
  // Dials that waited for a connection reversal: the peer connected to us,
  // or it did not (every helper said no, or reverse_timeout passed).
  std::uint64_t reversals_waited = 0, reversals_connected = 0, reversals_failed = 0;
  // Hole punching (transport::punch, docs/PROTOCOL.md §19.8): punches run;
  // TCP connects tried (refused ones are redone within the window); how a
  // connect was answered: the peer's own punch socket (simultaneous open) or
  // its listener; a punch's end: connected, the window passed without a TCP
  // connection, or the preamble, TLS or identity check failed. And as
  // listener, connects that were another node's punch.
  std::uint64_t punches = 0, punch_connects = 0, punch_connects_failed = 0;
  std::uint64_t punch_simultaneous_opens = 0, punch_listener_answers = 0;
  std::uint64_t punches_connected = 0, punches_timed_out = 0, punches_failed_handshake = 0;
  std::uint64_t punches_accepted = 0;
  // Relaying (docs/PROTOCOL.md §19.9). As relay: circuits whose two ends
  // met, ends refused (no circuit for their token, or from another
  // address), ends whose partner never came, circuits closed at their byte
  // or time limit, bytes copied. As an end: relay dials made, connected
  // (TLS through the relay proved the peer), failed.
  std::uint64_t relay_circuits = 0, relay_refused = 0, relay_unpaired = 0, relay_limit_closes = 0;
  std::uint64_t relay_bytes = 0;
  std::uint64_t relay_dials = 0, relay_dials_connected = 0, relay_dials_failed = 0;
  // Relayed connections replaced by a direct or punched one (either end
  // counts it), and punches to a relayed peer that failed (the relayed
  // connection stays).
  std::uint64_t upgrades = 0, upgrades_failed = 0;
  // Connections closed because all send queues together reached
  // max_total_send_queue_bytes (each had the longest queue at the time).
  std::uint64_t send_budget_closes = 0;
  // The hello exchange (each closes the connection): no hello within
  // handshake_timeout; another frame before it or a second one; a hello that
  // does not decode; a peer of another major version.
  std::uint64_t hello_timeouts = 0, hello_violations = 0, hello_malformed = 0, version_mismatches = 0;
  // Frames of a kind with no handler here: dropped, the connection stays.
  std::uint64_t frames_unknown_kind = 0;
  std::size_t connections = 0;             // established (including ones being retired)
  std::size_t handshakes_in_progress = 0;  // TLS handshakes and hello exchanges
  std::size_t queued_bytes = 0;            // waiting to be written, all connections
};

}  // namespace topicswarm::net
