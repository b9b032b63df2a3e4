// The node: one peer of topicswarm, its encrypted transport and its topics.
//
// A node runs on its own thread with its own Asio executor: every protocol
// state machine, timer and connection of the node lives there, and nothing
// else touches them. The public API below may be used from any thread or
// coroutine; asynchronous operations return asio::awaitable and complete on
// the executor of the coroutine that awaits them. They honour per-operation
// cancellation: `co_await (rx.next() || timer.async_wait(use_awaitable))` is a
// next() with a timeout. (Asio's `||` waits for the first operation to
// *succeed*; a cancelled timer fails, so cancelling it does not end the wait:
// to end such a wait early, expire the timer instead.)
//
//   auto node = topicswarm::node::start(cfg);               // result<node>
//   auto t = node->subscribe(topic_id_from_name("chat"), {peer});
//   auto [tx, rx] = std::move(*t).split();
//   co_await tx.broadcast(as_bytes("hello"));
//   while (auto ev = co_await rx.next()) { ... }             // result<event>
//
// Lifetimes: a topic is left (neighbours are told, its timers and queues
// disappear) when the last topic, sender and receiver handle for it is
// destroyed. Destroying the node stops everything; handles that outlive it
// fail with errc::node_stopped.
#pragma once

#include <topicswarm/auto_discovery.hpp>
#include <topicswarm/bytes.hpp>
#include <topicswarm/dht_client.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/export.hpp>
#include <topicswarm/identity.hpp>
#include <topicswarm/ids.hpp>
#include <topicswarm/network.hpp>
#include <topicswarm/record.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace topicswarm {

// A peer and where it can be dialled. Printed and parsed as
// "NODEID@HOST:PORT" (one address) for the command line.
struct TOPICSWARM_API peer_addr {
  node_id id;
  std::vector<endpoint> addresses;

  static result<peer_addr> parse(std::string_view text);
  std::string to_string() const;  // the first address only, or just the id
  friend bool operator==(const peer_addr&, const peer_addr&) = default;
};

// Membership (HyParView) and broadcast (PlumTree) settings. Defaults equal the
// core's (src/gossip/proto.hpp, which documents their sources); every field
// reaches the core (src/node/config_map.cpp, tests/unit/config_map_test.cpp).
struct gossip_config {
  std::size_t active_view_capacity = 5;         // HyParView paper §5
  std::size_t passive_view_capacity = 30;       // HyParView paper §5
  std::uint8_t active_random_walk_length = 6;   // ARWL, paper §5; at most 32 (wire ttl bound)
  std::uint8_t passive_random_walk_length = 3;  // PRWL, paper §5; at most 32
  // Hops of a shuffle walk before the node it reaches answers (iroh-gossip's
  // default); at most 32.
  std::uint8_t shuffle_random_walk_length = 6;
  std::chrono::milliseconds shuffle_interval{60'000};  // iroh-gossip
  // Peers a shuffle carries besides ourselves: this many of our neighbours
  // and of our passive view (iroh-gossip: 3 + 4); together at most 63.
  std::size_t shuffle_active_view_count = 3;
  std::size_t shuffle_passive_view_count = 4;
  std::chrono::milliseconds neighbor_request_timeout{500};
  // Eclipse resistance (docs/PROTOCOL.md §9): at most this many neighbours
  // whose connections come from one address range (IPv4 /24, IPv6 /48), and
  // at most this many passive peers whose first address is in one range.
  std::size_t max_active_per_range = 2;
  std::size_t max_passive_per_range = 6;
  // Apply those limits to loopback, link-local and private ranges too (off:
  // a LAN or a local testnet puts every peer in one range).
  bool limit_local_ranges = false;
  std::chrono::milliseconds lazy_push_interval{5};
  std::chrono::milliseconds graft_timeout_1{80};
  std::chrono::milliseconds graft_timeout_2{40};
  std::uint16_t optimization_threshold = 7;
  std::chrono::milliseconds message_cache_retention{30'000};
  std::chrono::milliseconds message_id_retention{90'000};
  // How often messages past their retention are evicted (iroh-gossip: 1 s).
  std::chrono::milliseconds cache_evict_interval{1'000};
  std::size_t message_cache_capacity = 65536;   // messages kept to answer grafts...
  std::size_t message_cache_bytes = 16u << 20;  // ...and their content bytes
  std::size_t message_id_capacity = 65536;
  // Largest content of one broadcast; larger ones are refused with
  // errc::message_too_large before anything is sent. Peers must agree on it
  // (a receiver drops frames above its own limit).
  std::size_t max_message_size = 4096;
};

// Connection limits and timeouts of the TLS transport.
struct transport_config {
  std::size_t max_connections = 256;                     // established + handshaking
  std::size_t max_pending_handshakes = 32;               // inbound handshakes in progress
  // Inbound connections (handshaking and established) per source IP, per
  // prefix (IPv4 /24, IPv6 /48), and inbound handshakes in progress per IP:
  // over these a new connection is closed at once, before TLS.
  std::size_t max_inbound_per_ip = 8;
  std::size_t max_inbound_per_prefix = 32;
  std::size_t max_handshakes_per_ip = 4;
  // Connections kept for our own dials and for peers we know (whose
  // addresses we hold): a stranger's inbound connection is refused once
  // inbound ones reach max_connections - outbound_reserve.
  std::size_t outbound_reserve = 32;
  // Apply the per-source limits to loopback sources too (off: local
  // testnets connect everything from 127.0.0.1).
  bool limit_loopback = false;
  // Dial from the listen port (SO_REUSEADDR + SO_REUSEPORT), so that a NAT
  // keeping one external port per local port shows peers the address they
  // can dial back; an ephemeral port is used where that fails (the
  // four-tuple is taken, or both sides dialled at once: simultaneous open).
  // With it on, the listener sets SO_REUSEPORT, after checking with a plain
  // bind that no other socket holds an explicit listen port. On by default
  // (issue 16): with reachability checks, a node behind such a NAT that
  // also lets strangers in is found public.
  bool dial_from_listen_port = true;
  std::chrono::milliseconds connect_timeout{3'000};      // per address, TCP connect
  std::chrono::milliseconds handshake_timeout{5'000};    // TLS handshake; then again for the peer's hello
  std::chrono::milliseconds idle_timeout{30'000};        // no whole frame received for this long: close
  std::chrono::milliseconds keepalive_interval{10'000};  // send a keepalive after this much silence
  // When two peers dial each other at once, the losing connection is kept
  // for this long (still read, no longer written) so nothing in flight on it
  // is lost, then closed.
  std::chrono::milliseconds duplicate_grace{2'000};
  // Bytes queued for one connection beyond which the connection is closed as
  // too slow (bounded memory per peer).
  std::size_t max_send_queue_bytes = 16u << 20;
  // Bytes queued for all connections together (and frames held while
  // dialling): when a frame would take the total over it, the connection
  // with the longest queue, the slowest peer, is closed (counted in
  // send_budget_closes) until the frame fits. Bounded memory per node.
  std::size_t max_total_send_queue_bytes = 64u << 20;
  // broadcast() waits while any connection has more than this queued: the
  // publisher is slowed to the pace of its slowest neighbour...
  std::size_t send_backpressure_bytes = 1u << 20;
  // ...but a peer for which one write (at most 256 KiB) makes no progress
  // for this long is closed as stalled, so one peer that stops reading
  // cannot stop the topic.
  std::chrono::milliseconds send_stall_timeout{5'000};
  // Frames queued for a peer while it is being dialled, and topic frames
  // held per peer and topic while the peer proves the topic (admission).
  std::size_t max_dial_queue_bytes = 1u << 20;
  // A connection on which the peer has proven no topic this long after it
  // came up is closed; a topic a peer has not proven this long after we
  // asked for it is given up (docs/PROTOCOL.md §12).
  std::chrono::milliseconds admission_timeout{5'000};
  // Bad or unknown-topic proofs and malformed admission frames a peer may
  // send on one connection before it is closed.
  std::uint32_t max_admission_failures = 16;
};

namespace dht {
class testnet;
}

// The node's Mainline DHT client (used by auto-discovery). Off by default: a
// node joined only through known peers needs no DHT.
struct node_dht_config {
  bool enabled = false;
  // The DHT client's own settings: its UDP listen addresses and bootstrap
  // nodes (default: all interfaces, the public Mainline routers).
  dht::client_config client;
};

// Which addresses learnt from others (gossip, records) the node may dial
// (docs/PROTOCOL.md §13). Such an address is a hint: a dial names the node id
// it expects and TLS proves it, but the TCP connect itself reaches wherever
// the hint points, so a peer could otherwise make us probe our own machine or
// LAN. `automatic`: loopback addresses are dialled only if the node has a
// loopback address itself, link-local and private ones (10/8, 172.16/12,
// 192.168/16, 100.64/10, 169.254/16, fc00::/7, fe80::/10) only if it has a
// link-local or private address itself; the node's own addresses are its
// listen and advertised ones (an unspecified 0.0.0.0 / :: says nothing, and a
// loopback-only node does not dial private addresses). `always` / `never`
// force a rule. Public addresses are always dialled; unspecified, multicast,
// broadcast and reserved ones, and port 0, never. Addresses the user passes
// (subscribe bootstrap, join_peers, add_peer_addresses) are the user's
// decision and are dialled whatever this says.
struct dial_policy {
  enum class mode { automatic, always, never };
  mode loopback = mode::automatic;
  mode private_networks = mode::automatic;  // link-local and private
};

// Whether others can dial this node (docs/PROTOCOL.md §19): reachable
// ("public") once connected peers dialled one of its addresses back and TLS
// proved it was us; unreachable ("private") once every candidate address
// was checked and none was reached; unknown before (no peers to ask yet).
enum class reachability : std::uint8_t { unknown, reachable, unreachable };
// "unknown", "public", "private".
TOPICSWARM_API std::string_view to_string(reachability r) noexcept;

// Reachability checks (docs/PROTOCOL.md §19, issue 16).
struct reachability_config {
  // Check candidate addresses (public interface addresses, port mappings,
  // the addresses peers saw us at) by dial-back, and advertise an address
  // of ours that is not on our own interfaces only once checked. Off: the
  // node advertises what it did before (node_config::advertise, else its
  // listen or interface addresses) and answers no nat frames.
  bool enabled = true;
  // From the first time a peer tells us where it sees us to the first
  // checks (so that a node that joins several peers asks several).
  std::chrono::milliseconds check_delay{500};
  // From the dial-back requests to giving up on the answers.
  std::chrono::milliseconds check_timeout{20'000};
  // A confirmed address is checked again this often; a failed one is tried
  // again after retry_after.
  std::chrono::milliseconds recheck_interval{1'800'000};
  std::chrono::milliseconds retry_after{300'000};
  // Ask the gateway (NAT-PMP/PCP, UPnP, through the DHT client; needs
  // node_config::dht) to forward the listen port; a mapping is a candidate
  // like any other, checked before it is advertised, and removed when the
  // node stops. Never tried on loopback or a testnet.
  bool port_mapping = true;
  // Dial-back requests we serve: per peer at most one every serve_interval,
  // and all peers together serve_per_minute (bursts of 8).
  std::chrono::milliseconds serve_interval{10'000};
  std::size_t serve_per_minute = 30;
  // Connection reversal (docs/PROTOCOL.md §19.7): a peer we want but may
  // not dial (it advertises no address we can reach, or every connect to it
  // failed) is asked, through up to 3 connected peers that are connected to
  // it, to dial us; the dial waits reversal_timeout for its connection.
  // Off: such a dial fails at once. Also serves others' reversals (as a
  // helper: forwarding, as a target: dialling, both rate-limited).
  bool connection_reversal = true;
  std::chrono::milliseconds reversal_timeout{10'000};
  // TCP hole punching (docs/PROTOCOL.md §19.8), part of connection reversal
  // (off with it): while this node is not known to be reachable it asks for
  // a punch instead of a reversal: both sides dial each other from their
  // listen ports at the same moment, timed through the helper, and keep
  // trying for punch_window. Off: reversals only (which cannot reach a peer
  // from behind a NAT), and no punches answered.
  bool hole_punching = true;
  std::chrono::milliseconds punch_window{5'000};
  // Relaying (docs/PROTOCOL.md §19.9), part of connection reversal (off with
  // it). A node that is not reachable asks a connected member to relay a
  // connection to a peer when a punch to that peer failed in the last 10
  // minutes, or at once when its own NAT maps endpoint-dependently; the
  // relay copies bytes, and TLS runs end to end through it.
  // relay_serve (opt-in): relay for others, at most relay_max_circuits at
  // once, each within relay_max_bytes (both directions) and
  // relay_max_duration; a circuit whose two ends do not both arrive within
  // 10 s is dropped.
  bool relay_serve = false;
  std::size_t relay_max_circuits = 16;
  std::uint64_t relay_max_bytes = 64u << 20;
  std::chrono::milliseconds relay_max_duration{600'000};
  // A relayed connection is replaced by a direct one as soon as one
  // succeeds (docs/PROTOCOL.md §19.10): the end that asked for the relay
  // tries a punch relay_upgrade_after after the relayed connection came up,
  // then after twice that, and so on up to every 10 minutes while it stays
  // relayed. (Any direct connection that comes meanwhile, e.g. a dial to a
  // newly mapped address, replaces it too.)
  std::chrono::milliseconds relay_upgrade_after{30'000};
};

// LAN discovery (docs/PROTOCOL.md §20): a UDP multicast beacon on the local
// link (239.255.84.83, TTL 1: no router passes it on) with our node id, our
// TCP listen port and, per topic, a tag only holders of the topic's secret
// can compute. Members on one link find each other with no DHT and no
// bootstrap peer, and prefer those addresses to dial. Off by default: a
// beacon announces to everyone on the link that a topicswarm node runs
// here (not which topics). Beacons go out on the interface of each IPv4
// listen address, or, listening on 0.0.0.0, on every IPv4 interface that is
// up (loopback never).
struct lan_config {
  bool enabled = false;
  std::uint16_t port = 48654;                  // the beacons' UDP port (every member must use the same)
  std::chrono::milliseconds interval{5'000};  // between our beacons
};

struct node_config {
  // The node's identity; a fresh one is generated when empty.
  std::optional<identity> id;
  // Addresses to listen on ("IP:PORT"; port 0 picks a free port).
  std::vector<endpoint> listen{*endpoint::parse("0.0.0.0:0"), *endpoint::parse("[::]:0")};
  // Addresses told to peers. Empty: the listen addresses that are not
  // unspecified (0.0.0.0 / ::), with their bound ports. An advertised
  // address with port 0 takes the port bound by the first listen address
  // of its family (so "203.0.113.7:0" works with listen "0.0.0.0:0").
  // A node listening only on unspecified addresses and advertising nothing
  // can dial out but cannot be dialled back (unless advertise_interfaces).
  std::vector<endpoint> advertise;
  // With `advertise` empty: for each unspecified listen address (0.0.0.0,
  // ::), advertise the addresses the host's interfaces carry in that family
  // (loopback ones only if there is no other), with the bound port, and
  // follow them: every interface_check_interval they are read again, and
  // when they changed (a new network, a DHCP renewal) the node's records,
  // catalog entry and gossip messages carry the new ones (records at their
  // next refresh). Off by default: an interface address is not necessarily
  // reachable from others; with it off, reachability checks (below) still
  // find and advertise the public address peers reach us at.
  bool advertise_interfaces = false;
  std::chrono::milliseconds interface_check_interval{2'000};
  gossip_config gossip;
  transport_config transport;
  // Per-operation timeouts of every topic (join_peers, broadcast,
  // broadcast_neighbors). A topic that runs auto-discovery uses the
  // timeouts of its auto_discovery_config instead.
  timeout_config timeouts;
  // Events buffered per receiver; a receiver further behind gets `lagged`.
  std::size_t event_queue_capacity = 4096;
  // Known peers and addresses kept for dialling.
  std::size_t address_book_capacity = 4096;
  // Seed of the protocol RNG; random when empty (set it for reproducible tests).
  std::optional<std::uint64_t> rng_seed;
  node_dht_config dht;
  // Which addresses learnt from others are dialled (loopback and private ones).
  dial_policy dialing;
  reachability_config reachability;
  lan_config lan;

  // Use a local DHT testnet instead of the public DHT: enables the DHT client
  // on 127.0.0.1 and bootstraps it from the testnet's nodes.
  TOPICSWARM_API node_config& attach_testnet(const dht::testnet& net);
};

// How a message was sent: to the whole swarm, or to direct neighbours only.
enum class delivery_scope : std::uint8_t { swarm, neighbors };

namespace events {
struct neighbor_up {
  node_id peer;
};
struct neighbor_down {
  node_id peer;
};
struct received {
  bytes content;
  node_id delivered_from;  // the neighbour that handed it to us (not necessarily its author)
  delivery_scope scope = delivery_scope::swarm;
};
// The receiver fell behind: `missed` events were dropped (oldest first). It
// keeps working from the next one.
struct lagged {
  std::uint64_t missed = 0;
};

// Node-wide events (node::events()): connections, whatever topic they serve.
// A TLS connection to `peer` is established (dialled or accepted); a
// replacement of a duplicate connection to the same peer is not reported.
struct peer_connected {
  node_id peer;
};
// The connection to `peer` closed; `cause` says why (closed by the peer,
// idle timeout, a send queue overflow, the topic no longer needing it, ...).
struct peer_disconnected {
  node_id peer;
  error cause;
};
// Dialling `peer` failed before a connection existed (refused, unreachable,
// timed out, the TLS identity was not the expected one, ...).
struct dial_failed {
  node_id peer;
  error cause;
};
// The gateway answered a port-mapping request (node_config::reachability
// .port_mapping): mapped (with the external address) or refused (why).
struct port_mapping {
  bool ok = false;
  std::string via;  // "natpmp" (NAT-PMP or PCP) or "upnp"
  std::uint16_t local_port = 0;
  std::optional<endpoint> external;
  std::string error;
};
// Reachability or the addresses we advertise changed (after dial-back
// checks, a port mapping, an address change).
struct reachability_changed {
  topicswarm::reachability reachability = topicswarm::reachability::unknown;
  std::vector<endpoint> advertised;
};
}  // namespace events
// The events of a topic (topic::next(), receiver::next()).
using event = std::variant<events::neighbor_up, events::neighbor_down, events::received, events::lagged>;
// The events of the node (node::events()).
using node_event = std::variant<events::peer_connected, events::peer_disconnected, events::dial_failed, events::lagged,
                                events::reachability_changed, events::port_mapping>;

namespace network_events {
// A peer entered the catalog (by announce, catalog sync, or the chain then one of those).
struct peer_discovered {
  peer_entry entry;
};
// A peer we know published a newer entry (addresses, tags or topics changed, or its periodic announce).
struct peer_updated {
  peer_entry entry;
};
// A peer left the catalog, and why.
struct peer_departed {
  node_id peer;
  departure_cause cause;
};
}  // namespace network_events
// The events of a network (network::next()).
using network_event = std::variant<network_events::peer_discovered, network_events::peer_updated,
                                   network_events::peer_departed, events::lagged>;

// Joining a network (node::join_network; docs/PROTOCOL.md §14-18). Every
// member must agree on the name, the secret (or key) and secret_hashing;
// the rest is each node's own choice. Defaults are those of mosaik's
// discovery worker unless a comment says otherwise.
struct network_config {
  std::string name;  // required
  // The network's secret (Argon2id with secret_hashing), or a 32-byte
  // random key used as is; neither: an open network anyone who knows the
  // name can join and read.
  std::string secret;
  std::optional<secret_hash> key;
  secret_hash_params secret_hashing;
  std::vector<std::string> tags;  // at most 16, 1-32 printable ASCII characters each
  // Peers to join the network topic through (addresses are hints). The
  // chain finds the network without them when the DHT is on.
  std::vector<peer_addr> bootstrap;
  // Catalog rules (docs/PROTOCOL.md §15).
  std::chrono::milliseconds purge_after{300'000};
  std::chrono::milliseconds max_clock_drift{50'000};
  std::size_t max_peers = 4096;  // catalog bound; the entry updated longest ago is evicted
  // Announce: every announce_interval +- announce_jitter (a fraction).
  std::chrono::milliseconds announce_interval{45'000};
  double announce_jitter = 0.5;
  bool catalog_sync = true;                         // sync with each new neighbour (off: announces only)
  bool ping = true;                                 // RTT of neighbours (off: rtt() has nothing)
  std::chrono::milliseconds ping_interval{15'000};
  // Topics: dial the catalog peers that list a topic before asking the DHT,
  // and wait this long for one of them before auto-discovery reads the DHT.
  bool topics_from_catalog = true;
  std::chrono::milliseconds catalog_first_wait{1'000};
  // Catalog peers whose smoothed RTT is above this are not dialled for topics.
  std::optional<std::chrono::milliseconds> max_rtt;
  // The DHT bootstrap chain (needs node_config::dht).
  bool chain = true;
  std::chrono::milliseconds chain_poll_alone{5'000};
  std::chrono::milliseconds chain_poll_relaxed{60'000};
  std::chrono::milliseconds chain_record_ttl{600'000};
  std::size_t event_queue_capacity = 1024;  // per network event cursor; beyond it: events::lagged
  class builder;
};

// Chained setters over the defaults; build() validates:
//   auto cfg = network_config::builder().name("my-app").secret("s").tag("worker").chain(false).build();
// errc::invalid_argument naming the field and the allowed range.
TOPICSWARM_API result<void> validate(const network_config& c);

class network_config::builder {
 public:
  using ms = std::chrono::milliseconds;
  builder& name(std::string v) { c_.name = std::move(v); return *this; }
  builder& secret(std::string v) { c_.secret = std::move(v); return *this; }
  builder& key(const secret_hash& k) { c_.key = k; return *this; }
  builder& secret_hashing(secret_hash_params p) { c_.secret_hashing = p; return *this; }
  builder& tag(std::string t) { c_.tags.push_back(std::move(t)); return *this; }
  builder& bootstrap(peer_addr p) { c_.bootstrap.push_back(std::move(p)); return *this; }
  builder& purge_after(ms v) { c_.purge_after = v; return *this; }
  builder& max_clock_drift(ms v) { c_.max_clock_drift = v; return *this; }
  builder& max_peers(std::size_t v) { c_.max_peers = v; return *this; }
  builder& announce_interval(ms v, double jitter = 0.5) {
    c_.announce_interval = v;
    c_.announce_jitter = jitter;
    return *this;
  }
  builder& catalog_sync(bool on) { c_.catalog_sync = on; return *this; }
  builder& ping(bool on, ms interval = ms(15'000)) {
    c_.ping = on;
    c_.ping_interval = interval;
    return *this;
  }
  builder& topics_from_catalog(bool on, ms wait = ms(1'000)) {
    c_.topics_from_catalog = on;
    c_.catalog_first_wait = wait;
    return *this;
  }
  builder& max_rtt(ms v) { c_.max_rtt = v; return *this; }
  builder& chain(bool on) { c_.chain = on; return *this; }
  builder& chain_polls(ms alone, ms relaxed) {
    c_.chain_poll_alone = alone;
    c_.chain_poll_relaxed = relaxed;
    return *this;
  }
  builder& chain_record_ttl(ms v) { c_.chain_record_ttl = v; return *this; }
  builder& event_queue_capacity(std::size_t v) { c_.event_queue_capacity = v; return *this; }
  result<network_config> build() const {
    if (auto v = validate(c_); !v) return v.error();
    return c_;
  }

 private:
  network_config c_;
};

struct transport_stats {
  std::uint64_t accepted = 0, dialled = 0, dial_failures = 0;
  std::uint64_t handshake_failures = 0, identity_mismatches = 0;
  std::uint64_t refused_connection_cap = 0, refused_handshake_cap = 0;
  // Inbound connections refused by source (per IP, per prefix, handshakes
  // per IP), and strangers refused once inbound ones filled their share.
  std::uint64_t refused_per_ip = 0, refused_per_prefix = 0, refused_handshakes_per_ip = 0;
  std::uint64_t refused_inbound_share = 0;
  std::uint64_t duplicate_connections = 0;  // simultaneous dials resolved
  std::uint64_t frames_in = 0, frames_out = 0, bytes_in = 0, bytes_out = 0;
  std::uint64_t malformed_frames = 0, oversized_frames = 0;
  std::uint64_t idle_timeouts = 0, send_queue_overflows = 0, stalled_connections = 0, dial_queue_drops = 0;
  std::uint64_t stranded_closes = 0;  // closed because our local address left the machine (an address change)
  std::uint64_t listen_port_fallbacks = 0;  // dials from the listen port redone from an ephemeral port
  std::uint64_t send_budget_closes = 0;  // closed as the slowest peer when all queues reached their total
  // Connections closed during the hello exchange (docs/PROTOCOL.md §10.5):
  // no hello in time; a frame before it or a second one; a hello that does
  // not decode; a peer of another major version.
  std::uint64_t hello_timeouts = 0, hello_violations = 0, hello_malformed = 0, version_mismatches = 0;
  // Frames of a kind this node does not speak: dropped, the connection stays.
  std::uint64_t frames_unknown_kind = 0;
  std::size_t connections = 0;             // established (including ones being retired)
  std::size_t handshakes_in_progress = 0;  // TLS handshakes and hello exchanges
  std::size_t queued_bytes = 0;            // waiting to be written, all connections
};

// Gossip protocol counters, summed over the topics the node is in now.
struct gossip_stats {
  std::uint64_t messages_sent = 0, messages_received = 0;
  std::uint64_t delivered = 0, duplicates = 0;  // gossip messages: new ones, and copies of known ones
  std::uint64_t ihave_sent = 0, graft_sent = 0, prune_sent = 0;
  // Duplicates that did not prune their sender, because the first copy came
  // over a link already pruned (a copy that was in flight): docs/PROTOCOL.md.
  std::uint64_t prunes_withheld = 0;
  // IHAVEs from the only peer we push to, grafted at once (it has us as lazy).
  std::uint64_t eager_announcements = 0;
  std::uint64_t invalid_messages = 0;  // content hash mismatch, oversize content
  // GRAFTs left unanswered: from a peer that is not a neighbour, or beyond
  // its budget (8 MiB of content per second); IHAVE ids not tracked because
  // their announcer already has a quarter of the missing-message table.
  std::uint64_t grafts_refused = 0, grafts_over_budget = 0, ihave_ids_over_budget = 0;
  std::uint64_t neighbor_up = 0, neighbor_down = 0, shuffles = 0;
  // Membership refusals: walks (forward_join, shuffle) from a peer that is
  // not in our views; a peer's second join in one shuffle period, accepted
  // but not forwarded as walks; a peer's second view-evicting neighbour
  // request in one period, refused.
  std::uint64_t walks_refused = 0, joins_not_forwarded = 0, neighbor_requests_downgraded = 0;
  // Peers not taken into the active / passive view because it already holds
  // its limit of peers from their address range.
  std::uint64_t active_range_refusals = 0, passive_range_refusals = 0;
  // Current PlumTree link states, summed over topics: neighbours we push
  // messages to (tree links) and neighbours we only announce them to.
  std::size_t eager_links = 0, lazy_links = 0;
};

// Admission counters (docs/PROTOCOL.md §12): proofs that a peer holds a
// topic's key, per connection.
struct admission_stats {
  std::uint64_t proofs_sent = 0;
  std::uint64_t proofs_accepted = 0;       // a peer proved a topic
  std::uint64_t proofs_invalid = 0;        // wrong key, or a proof made for another connection
  std::uint64_t proofs_unknown_topic = 0;  // for a topic we are not in (another secret, say)
  std::uint64_t malformed = 0;             // admission frames that did not decode
  std::uint64_t refusals_sent = 0, refusals_received = 0;
  std::uint64_t want_timeouts = 0;        // peers that did not prove a topic in time
  std::uint64_t closed_no_topic = 0;      // connections closed: no proven topic in time
  std::uint64_t closed_failures = 0;      // connections closed: too many failed proofs
  std::uint64_t frames_not_admitted = 0;  // topic frames dropped: the peer has not proven the topic
  std::uint64_t frames_held = 0;          // topic frames held until the peer proved the topic
  std::uint64_t frames_held_dropped = 0;  // held frames dropped (refused, timed out, over the bound)
  std::size_t held_bytes = 0;             // held now
};

// Reachability counters (docs/PROTOCOL.md §19).
struct reachability_stats {
  std::uint64_t observations = 0;        // observed addresses peers told us
  std::uint64_t checks_started = 0;      // check rounds of a candidate
  std::uint64_t requests_sent = 0;       // dial-back requests to helpers
  std::uint64_t proofs_accepted = 0;     // probes that came back through our listener
  std::uint64_t proofs_unexpected = 0;   // probes with an unknown nonce or from another node
  std::uint64_t results_failed = 0, results_refused = 0;  // helpers' answers other than delivered
  std::uint64_t check_timeouts = 0;      // requests with neither proof nor answer in time
  std::uint64_t confirmations = 0, failures = 0;  // candidate check rounds that ended so
  std::uint64_t requests_served = 0;     // probes we made for others
  std::uint64_t requests_refused = 0;    // refused: rate limits, in-flight cap, address policy
  std::uint64_t probes_delivered = 0, probes_failed = 0;
  std::uint64_t malformed = 0;           // nat frames that did not decode or broke a rule
  std::uint64_t candidates_evicted = 0;
  // The transport's side of probes: sent (delivered or failed), received
  // (handed over or dropped).
  std::uint64_t probe_connections_sent = 0, probe_connections_failed = 0;
  std::uint64_t probe_connections_received = 0, probe_connections_dropped = 0;
};

// Connection reversal (docs/PROTOCOL.md §19.7), by role.
struct reversal_stats {
  // Requester: reversals started (a helper was asked), and how they ended:
  // the peer connected to us, every helper said it could not, no answer
  // and no connection in time; wanted with no helper to ask.
  std::uint64_t requested = 0, succeeded = 0, failed = 0, timeouts = 0, no_helper = 0;
  std::uint64_t answers_unknown = 0, answers_refused = 0;  // helpers' answers other than forwarded
  // Helper: requests forwarded to their target, not connected to it, refused
  // (rate limits).
  std::uint64_t forwarded = 0, forward_unknown = 0, forward_refused = 0;
  // Target: dials made for a reverse frame and how they ended; skipped
  // (connected or dialling already, or redialled too soon), refused (rate
  // limits, address policy).
  std::uint64_t dialled = 0, dial_connected = 0, dial_failed = 0, dial_skipped = 0, dial_refused = 0;
  std::uint64_t unexpected = 0;  // answers to nothing we asked
  // The transport's dials that waited for a reversed connection, and whether it came.
  std::uint64_t dials_waited = 0, dials_reached = 0, dials_not_reached = 0;
};

// TCP hole punching (docs/PROTOCOL.md §19.8): two nodes that cannot dial
// each other (both behind NATs) dial each other at once through a helper's
// coordination.
struct punch_stats {
  // Requester: punches asked for (a helper was sent a connect), the target
  // agreed (we synced), no reply in time, every helper said it could not
  // pass the connect on.
  std::uint64_t requested = 0, replies = 0, no_reply = 0, failed_helpers = 0;
  // Target: connects agreed to; declined (busy, the other side's punch wins,
  // a budget or the address policy); agreed but never synced.
  std::uint64_t agreed = 0, declined = 0, unsynced = 0;
  // Punch dials (both sides) and how they ended.
  std::uint64_t dials = 0, connected = 0, failed = 0;
  // The transport's side: punches run, TCP connects tried and failed (each
  // redone within the window), how the connect was answered (the peer's own
  // punch socket: a simultaneous open; or its listener), and how punches
  // ended (connected; no TCP connection in the window; the preamble, TLS or
  // identity failed). As listener: connects that were another node's punch.
  std::uint64_t runs = 0, connects = 0, connects_failed = 0;
  std::uint64_t simultaneous_opens = 0, listener_answers = 0;
  std::uint64_t runs_connected = 0, runs_timed_out = 0, runs_failed_handshake = 0;
  std::uint64_t accepted = 0;
};

// LAN discovery (docs/PROTOCOL.md §20). Beacons sent (one per interface
// each interval) and failed sends; datagrams received, and what became of
// them: malformed, our own, of another minute, over a budget (per source
// IP, or all together), with no tag of a topic of ours; (topic, beacon)
// matches, of which found (the peer was given to the topic) or repeats
// (found within the last 30 s). interfaces: where beacons go now.
struct lan_stats {
  std::uint64_t sent = 0, send_failures = 0;
  std::uint64_t received = 0, malformed = 0, own = 0, stale = 0, rate_limited = 0, unmatched = 0;
  std::uint64_t matches = 0, found = 0, repeats = 0;
  std::size_t interfaces = 0;
};

// Relaying (docs/PROTOCOL.md §19.9), by role.
struct relay_stats {
  // Requester: circuits asked for, agreed by the relay, refused or unknown
  // there. Target: offers taken, declined. Both ends: relay dials and how
  // they ended.
  std::uint64_t requested = 0, agreed = 0, unavailable = 0;
  std::uint64_t offers_taken = 0, offers_declined = 0;
  std::uint64_t dials = 0, connected = 0, failed = 0;
  // Relay (reachability.relay_serve): circuits agreed, refused; circuit
  // ends admitted, refused (unknown token, another address, a second time);
  // circuits that ended with both ends, without; running now; bytes copied;
  // circuits closed at their byte or time limit.
  std::uint64_t circuits_agreed = 0, circuits_refused = 0, ends_admitted = 0, ends_refused = 0;
  std::uint64_t circuits_done = 0, circuits_unpaired = 0;
  std::size_t circuits_running = 0;
  std::uint64_t relayed_bytes = 0, limit_closes = 0;
  // Upgrades (§19.10): punches tried to replace a relayed connection (by the
  // end that asked for the relay), relayed connections replaced by a direct
  // or punched one, upgrade punches that failed (the relay carries on).
  std::uint64_t upgrade_attempts = 0, upgrades = 0, upgrades_failed = 0;
};

// One address the node might be reached at, and what the checks found.
struct address_check {
  endpoint address;
  std::string sources;  // "interface", "mapping", "observed" (comma-separated)
  std::string state;    // "unchecked", "checking", "confirmed", "failed"
  std::size_t observers = 0;      // peers whose latest observation names it
  std::size_t confirmations = 0;  // helpers (distinct address ranges) that reached it
  std::size_t failures = 0;       // helpers that could not, in the last round
};

// One connection the node holds, and how it was made.
struct connection_status {
  node_id peer;
  endpoint remote;     // the peer's end as our TCP sees it
  endpoint local;      // ours
  // "direct" (dialled or accepted), "punched" (TCP hole punch, docs/PROTOCOL.md
  // §19.8), "relayed" (through a relay, §19.9: `remote` is the relay's address)
  std::string path;
  bool dialled = false;  // we were the TLS client (we dialled it, or the punch made us client)
};

// A relay circuit this node serves (reachability.relay_serve): the two
// ends, and whether both have come (running) or it waits for them.
struct relay_circuit_status {
  node_id requester, target;
  bool running = false;
};

// node::network_status(): how others reach this node, and how it reaches
// its peers.
struct network_status {
  topicswarm::reachability reachability = topicswarm::reachability::unknown;
  std::vector<endpoint> advertised;       // what records, catalog entries and gossip carry
  std::vector<address_check> candidates;  // the addresses checked or being checked
  std::vector<events::port_mapping> mappings;  // the gateway's last answer per protocol
  // How our NAT maps the listen port, from what peers in two or more address
  // ranges saw: "unknown", "none" (no NAT), "endpoint-independent" (one
  // public port for every destination: hole punching works),
  // "endpoint-dependent" ("symmetric": another port per destination).
  std::string nat_mapping = "unknown";
  std::vector<connection_status> connections;  // every established connection, by peer id
  // The circuits we relay for others, agreed or running (at most
  // reachability.relay_max_circuits). The relays we use are the
  // connections whose path is "relayed" (their remote is the relay).
  std::vector<relay_circuit_status> relay_circuits;
};

// Auto-discovery counters (docs/PROTOCOL.md §11), summed over the topics
// that run it now.
struct auto_discovery_stats {
  std::size_t topics = 0;             // topics with auto-discovery
  std::size_t dht_ops_in_flight = 0;  // gets and puts not answered yet (all topics, also left ones)
  std::uint64_t gets = 0, get_timeouts = 0, puts = 0, put_failures = 0, put_retries = 0;
  std::uint64_t records_valid = 0;    // records that opened and verified (ours excluded)
  std::uint64_t records_invalid = 0;  // values that did not (garbage, another secret, forged)...
  // ...by the first check they failed (cheapest first, docs/PROTOCOL.md §6):
  // length (truncated or over the largest record), format (format 1 or
  // unknown), seq outside the window, decryption (garbage, another secret,
  // slot or window, tampered), signed for another topic, for another window,
  // a signature not the publisher's, other.
  std::uint64_t records_rejected_length = 0, records_rejected_format = 0, records_rejected_seq = 0,
                records_rejected_decryption = 0, records_rejected_topic = 0, records_rejected_window = 0,
                records_rejected_signature = 0, records_rejected_other = 0;
  std::uint64_t rounds = 0;           // bootstrap read rounds
  std::uint64_t publishes = 0;        // records written (bootstrap and publisher)
  std::uint64_t publishes_skipped_cap = 0;
  std::uint64_t dials = 0, dial_failures = 0, joins = 0;
  std::uint64_t bubble_merges = 0, overlap_merges = 0, island_merges = 0, rebootstraps = 0;
  // Peers that records listed as neighbours, not dialled: over 2 per record
  // or 8 per bootstrap round (what one member's records can make us dial).
  std::uint64_t listed_dials_capped = 0;
};

// Network discovery counters (docs/PROTOCOL.md §14-18; zero when not in a network).
struct network_stats {
  bool joined = false;
  std::size_t peers = 0;  // in the catalog (us not included)
  std::size_t neighbors = 0;
  std::uint64_t announces_sent = 0, announces_received = 0, announces_malformed = 0;
  std::uint64_t departures_sent = 0, departures_honoured = 0, departures_stale = 0;
  std::uint64_t added = 0, updated = 0, other_network = 0, clock_ahead = 0, clock_behind = 0, outdated = 0,
                not_newer = 0, full = 0, evicted = 0, purged = 0, entries_invalid = 0;
  std::uint64_t syncs_started = 0, syncs_completed = 0, syncs_failed = 0, entries_fetched = 0;
  std::uint64_t requests_served = 0, requests_over_budget = 0, frames_not_admitted = 0, frames_malformed = 0;
  std::uint64_t pings_sent = 0, pongs_received = 0, ping_timeouts = 0;
  std::uint64_t chain_polls = 0, chain_gets = 0, chain_records_valid = 0, chain_records_invalid = 0,
                chain_peers_healthy = 0, chain_peers_unhealthy = 0, chain_claims = 0, chain_claims_failed = 0;
  std::uint64_t pages_received = 0, entries_unasked = 0, responses_unexpected = 0, requests_wrong_network = 0,
                departures_unknown = 0;
  std::uint64_t topic_candidates_dialled = 0;  // catalog peers dialled for topics
};

struct node_stats {
  transport_stats transport;
  network_stats network;
  gossip_stats gossip;
  auto_discovery_stats auto_discovery;
  admission_stats admission;
  reachability_stats reachability;
  reversal_stats reversal;
  punch_stats punch;
  relay_stats relay;
  lan_stats lan;
  std::optional<dht::counters> dht;          // when the DHT client runs
  std::uint64_t unknown_topic_messages = 0;  // dropped: for a topic we are not subscribed to
  std::uint64_t undecodable_messages = 0;    // gossip frames the codec rejected
  std::uint64_t lagged_events = 0;           // events dropped from slow receivers
  std::size_t topics = 0;                    // subscribed topics
  std::size_t timers = 0;                    // protocol timers scheduled
  std::size_t tasks = 0;                     // live coroutines (accept loops, connections, ...)
  std::size_t waiters = 0;                   // API operations waiting (next(), joined(), ...)
  std::size_t address_book = 0;              // peers with known addresses
  std::size_t receivers = 0;                 // live receiver handles
  // Addresses learnt from others and not dialled: outside the networks this
  // node is on (node_config::dialing, docs/PROTOCOL.md §13).
  std::uint64_t addresses_refused_scope = 0;
};

// What auto-discovery sees of a topic now (all zero without it).
struct auto_discovery_status {
  bool enabled = false;
  std::size_t records_seen = 0;  // other peers' records in the current and previous window
};

namespace detail {
class node_impl;
struct node_access;  // the library's and its tests' way to a node's internals
struct topic_shared;
struct receiver_state;
template <class Event>
class event_channel;

// Opens a new cursor on a topic's or the node's events (defined in the library).
TOPICSWARM_API std::shared_ptr<receiver_state> open_cursor(const std::shared_ptr<topic_shared>& topic);
TOPICSWARM_API std::shared_ptr<event_channel<node_event>> open_cursor(const std::shared_ptr<node_impl>& node);

// The cursor of an event stream, held by a handle. A copy is a new cursor: a
// bounded queue of its own that gets the events from the moment of the copy
// (copying a queue's backlog would deliver those events twice).
template <class Owner, class Channel>
class cursor {
 public:
  cursor() = default;
  cursor(std::shared_ptr<Owner> o, std::shared_ptr<Channel> c) : owner_(std::move(o)), channel_(std::move(c)) {}
  cursor(const cursor& other) : owner_(other.owner_), channel_(owner_ ? open_cursor(owner_) : nullptr) {}
  cursor& operator=(const cursor& other) {
    if (this != &other) {
      owner_ = other.owner_;
      channel_ = owner_ ? open_cursor(owner_) : nullptr;
    }
    return *this;
  }
  cursor(cursor&&) noexcept = default;
  cursor& operator=(cursor&&) noexcept = default;

  const std::shared_ptr<Owner>& owner() const noexcept { return owner_; }
  const std::shared_ptr<Channel>& channel() const noexcept { return channel_; }
  // Hands the queue over (split()): this cursor is empty afterwards and no
  // longer keeps its owner alive.
  std::shared_ptr<Channel> release() noexcept {
    owner_.reset();
    return std::move(channel_);
  }

 private:
  std::shared_ptr<Owner> owner_;
  std::shared_ptr<Channel> channel_;
};
}  // namespace detail

// The node's own event stream (node::events()). Each copy is an independent
// cursor with its own bounded queue (node_config::event_queue_capacity); a
// cursor that falls behind gets events::lagged.
class TOPICSWARM_API node_events_receiver {
 public:
  // The next event; errc::node_stopped once the node has stopped.
  asio::awaitable<result<node_event>> next();

 private:
  friend class node;
  explicit node_events_receiver(detail::cursor<detail::node_impl, detail::event_channel<node_event>> c)
      : cursor_(std::move(c)) {}
  detail::cursor<detail::node_impl, detail::event_channel<node_event>> cursor_;
};

namespace detail {
struct network_shared;
TOPICSWARM_API std::shared_ptr<event_channel<network_event>> open_cursor(const std::shared_ptr<network_shared>& n);
}  // namespace detail

// A node's membership in a network (node::join_network). Each copy is an
// independent event cursor with its own bounded queue
// (network_config::event_queue_capacity; a cursor that falls behind gets
// events::lagged). The network is left, with a signed departure announced
// to its members, when the last handle is dropped; handles that outlive the
// node fail with errc::node_stopped.
class TOPICSWARM_API network {
 public:
  network_id id() const;
  // The network topic's wire id (what entries and admission name).
  topic_id wire_id() const;
  // The next catalog event: a peer discovered, updated or departed (with the cause).
  asio::awaitable<result<network_event>> next();
  // The whole catalog as the node last saw it (us not included).
  std::vector<peer_entry> snapshot() const;
  std::size_t size() const;
  // Our own entry as last signed (addresses, tags, topics, version).
  peer_entry local() const;
  // The smoothed round-trip time to a peer we ping (our neighbours in the
  // network topic), if we have a sample.
  std::optional<rtt_estimate> rtt(const node_id& peer) const;
  // Replaces our tags; announced at once. errc::invalid_argument for more
  // than 16 tags, or one that is not 1-32 printable ASCII characters, or twice.
  result<void> set_tags(std::vector<std::string> tags);

 private:
  friend class node;
  explicit network(detail::cursor<detail::network_shared, detail::event_channel<network_event>> c)
      : cursor_(std::move(c)) {}
  detail::cursor<detail::network_shared, detail::event_channel<network_event>> cursor_;
};

class sender;
class receiver;

namespace detail {

// What every handle of a topic can do; topic, sender and receiver share this
// one implementation (and the subscription: the last handle leaves the topic).
class TOPICSWARM_API topic_handle {
 public:
  // The topic id (from the name).
  const topic_id& id() const noexcept;
  // The id on the wire: from the topic id and the topic key (wire_topic_id()).
  const topic_id& wire_id() const noexcept;
  // Our current neighbours in this topic.
  std::vector<node_id> neighbors() const;
  bool is_joined() const;  // at least one neighbour
  // Waits until we have a neighbour (errc::timeout after `timeout`).
  asio::awaitable<result<void>> joined(std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  // What auto-discovery sees of this topic now.
  auto_discovery_status auto_discovery() const;

 protected:
  topic_handle() = default;
  explicit topic_handle(std::shared_ptr<topic_shared> s) : shared_(std::move(s)) {}
  std::shared_ptr<topic_shared> shared_;
};

// ...and what the handles that send can do (topic, sender).
class TOPICSWARM_API sending_handle : public topic_handle {
 public:
  // Broadcast to every member of the topic (content ≤ max_message_size; a
  // larger one fails with errc::message_too_large, error::exceeded holding
  // the size and the limit). While a neighbour's connection is over its
  // back-pressure level the broadcast waits, at most timeouts.broadcast_timeout
  // (errc::timeout).
  asio::awaitable<result<void>> broadcast(bytes content) const;
  // Deliver to our direct neighbours only (timeouts.broadcast_neighbors_timeout).
  asio::awaitable<result<void>> broadcast_neighbors(bytes content) const;
  // Join through more peers (their addresses are remembered for dialling).
  // Completes once one of them is our neighbour in this topic, or with
  // errc::timeout after timeouts.join_peer_timeout if none became one.
  asio::awaitable<result<void>> join_peers(std::vector<peer_addr> peers) const;

 protected:
  using topic_handle::topic_handle;
};

}  // namespace detail

// A subscription to one topic. Copyable; see the lifetime note at the top.
// Each copy is an independent cursor (like receiver): a copy gets the events
// from the moment it was made, in a bounded queue of its own.
class TOPICSWARM_API topic : public detail::sending_handle {
 public:
  // The next event of this handle (from the moment of subscribing); see receiver::next().
  asio::awaitable<result<event>> next();

  // The sending and receiving halves; this handle is consumed and its
  // pending events move to the receiver.
  std::pair<sender, receiver> split() &&;
  // A new receiver of this topic's events from now on.
  receiver subscribe_events() const;
  sender make_sender() const;

 private:
  friend class detail::node_impl;
  friend class node;
  topic(std::shared_ptr<detail::topic_shared> s, std::shared_ptr<detail::receiver_state> r);
  detail::cursor<detail::topic_shared, detail::receiver_state> events_;  // the events of this handle
  friend class receiver;
};

// The sending half of a topic. Copies share the subscription.
class TOPICSWARM_API sender : public detail::sending_handle {
 private:
  friend class topic;
  explicit sender(std::shared_ptr<detail::topic_shared> s) : sending_handle(std::move(s)) {}
};

// The receiving half. Each copy is an independent cursor: it gets every event
// from the moment it was made, with its own bounded queue.
class TOPICSWARM_API receiver : public detail::topic_handle {
 public:
  // The next event; errc::topic_closed / errc::node_stopped when there will be none.
  asio::awaitable<result<event>> next();

 private:
  friend class topic;
  receiver(std::shared_ptr<detail::topic_shared> s, std::shared_ptr<detail::receiver_state> r)
      : topic_handle(s), state_(std::move(s), std::move(r)) {}
  detail::cursor<detail::topic_shared, detail::receiver_state> state_;
};

class TOPICSWARM_API node {
 public:
  // Binds the listen addresses and starts the node's thread. Fails with
  // errc::bind_failed (and the address) if an address cannot be bound.
  static result<node> start(node_config config);

  node(node&&) noexcept;
  node& operator=(node&&) noexcept;
  ~node();  // stops the node (see stop())

  node_id id() const;
  // Where peers can reach us: our id and advertised addresses.
  peer_addr address() const;
  std::vector<endpoint> listen_endpoints() const;
  // The largest content broadcast() accepts (gossip_config::max_message_size).
  std::size_t max_message_size() const;
  // The DHT client's bound UDP addresses (empty when the DHT is off).
  std::vector<endpoint> dht_endpoints() const;
  // Waits until the DHT routing table holds `min_nodes` nodes (or `timeout`
  // passes) and returns the size reached; errc::invalid_argument if the DHT is off.
  asio::awaitable<result<int>> wait_dht_bootstrapped(int min_nodes, std::chrono::milliseconds timeout);

  // Subscribes to a topic and starts joining through `bootstrap` (which may be
  // empty: then we wait for others to join us). Returns at once. Without a
  // key the topic is open: anyone who knows the name can join it
  // (open_topic_key()). With a key (hash_secret(), secret_hash_from_key())
  // only peers that prove they hold the same key on their connection take
  // part (docs/PROTOCOL.md §12); others' frames are dropped and counted.
  result<topic> subscribe(const topic_id& topic, std::vector<peer_addr> bootstrap = {});
  result<topic> subscribe(const topic_id& topic, const secret_hash& key, std::vector<peer_addr> bootstrap = {});
  // Subscribes and waits for the first neighbour, or errc::timeout.
  // (Coroutines here take their arguments by value: an awaitable may be
  // awaited after the caller's temporaries are gone.)
  asio::awaitable<result<topic>> subscribe_and_join(topic_id topic, std::vector<peer_addr> bootstrap,
                                                    std::chrono::milliseconds timeout = std::chrono::seconds(30));
  asio::awaitable<result<topic>> subscribe_and_join(topic_id topic, secret_hash key, std::vector<peer_addr> bootstrap,
                                                    std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // hash_secret() (Argon2id) on a worker thread of the node, so neither the
  // caller's executor nor the node's thread is held for its duration.
  asio::awaitable<result<secret_hash>> hash_secret(topic_id topic, std::string secret, secret_hash_params params = {});

  // Auto-discovery (docs/PROTOCOL.md §11): subscribes to `topic` and finds
  // its other members through DHT records only, keeps our record published
  // and heals splits, until the last handle is dropped. Needs the DHT
  // (node_config::dht). Waits for the first neighbour: errc::timeout after
  // config.join_timeout (the topic is left again); errc::invalid_argument for
  // a config that cannot work, a node without the DHT, or a topic that runs
  // auto-discovery already.
  asio::awaitable<result<topic>> join_with_auto_discovery(topic_id topic, std::string initial_secret,
                                                          auto_discovery_config config = {});
  // The secret is hashed with Argon2id (config.secret_hashing) on a worker
  // thread first; an empty secret makes an open topic.
  // The same, returning at once (joining goes on in the background); it
  // hashes the secret on the calling thread (see hash_secret()).
  result<topic> join_with_auto_discovery_no_wait(const topic_id& topic, std::string_view initial_secret,
                                                 auto_discovery_config config = {});
  // A builder for all of the above plus a custom secret rotation.
  class auto_discovery_builder;
  auto_discovery_builder auto_discovery();

  // Joins a network (docs/PROTOCOL.md §14-18): keeps its catalog, announces
  // us, finds it through the DHT bootstrap chain and `config.bootstrap`.
  // Returns once we are in (not once we have found anyone). A node is in at
  // most one network at a time: errc::invalid_argument if it is in one, or
  // for a config validate() refuses. On a node without the DHT
  // (node_config::dht unset) the chain stays off whatever config.chain says:
  // only config.bootstrap and peers met through topics lead into the network
  // (stats().network.chain_polls stays 0).
  asio::awaitable<result<network>> join_network(network_config config);

  // Remember addresses for a peer (used when the protocol asks to dial it).
  void add_peer_addresses(const peer_addr& peer);

  // The node's event stream from now on: peers connected and disconnected
  // (with the cause) and failed dials, whatever topic they serve.
  node_events_receiver events() const;

  // A snapshot of the node's counters.
  asio::awaitable<node_stats> stats() const;
  // Reachability, the advertised addresses and the candidates' checks.
  asio::awaitable<topicswarm::network_status> network_status() const;
  topicswarm::network_status network_status_blocking() const;
  // The same, for code outside coroutines (blocks the calling thread; never
  // call it on an executor that the answer needs).
  node_stats stats_blocking() const;

  // Leaves every topic (telling neighbours), closes every connection and
  // joins the node's thread. Idempotent; the destructor calls it.
  void stop();

 private:
  friend struct detail::node_access;
  explicit node(std::shared_ptr<detail::node_impl> i) : impl_(std::move(i)) {}
  std::shared_ptr<detail::node_impl> impl_;
};

// node.auto_discovery().topic_name("chat").secret("s").rotation(f).config(c).join()
class TOPICSWARM_API node::auto_discovery_builder {
 public:
  explicit auto_discovery_builder(node& n) : node_(&n) {}
  auto_discovery_builder& topic(const topic_id& t) {
    topic_ = t;
    return *this;
  }
  auto_discovery_builder& topic_name(std::string_view name) {
    topic_ = topic_id_from_name(name);
    return *this;
  }
  // A passphrase, hashed with Argon2id when joining (config().secret_hashing).
  auto_discovery_builder& secret(std::string_view initial_secret) {
    secret_ = std::string(initial_secret);
    return *this;
  }
  auto_discovery_builder& secret(byte_span initial_secret) {
    secret_ = std::string(reinterpret_cast<const char*>(initial_secret.data()), initial_secret.size());
    return *this;
  }
  // A topic key used as is (no hashing): secret_hash_from_key(), hash_secret().
  auto_discovery_builder& key(const secret_hash& k) {
    secret_ = k;
    return *this;
  }
  // Peers find each other only if they use the same rotation (record.hpp).
  auto_discovery_builder& rotation(secret_rotation r) {
    rotation_ = std::move(r);
    return *this;
  }
  auto_discovery_builder& config(auto_discovery_config c) {
    config_ = std::move(c);
    return *this;
  }

  // errc::invalid_argument if no topic was given; otherwise as
  // node::join_with_auto_discovery / _no_wait. join() copies the builder
  // into the operation, so the awaitable may outlive it (not the node).
  asio::awaitable<result<class topic>> join() const;
  result<class topic> join_no_wait();

 private:
  static asio::awaitable<result<class topic>> run_join(auto_discovery_builder self);

  node* node_;
  std::optional<topic_id> topic_;
  std::variant<std::string, secret_hash> secret_;  // a passphrase ("" = open topic) or a key
  secret_rotation rotation_ = default_secret_rotation;
  auto_discovery_config config_;
};

}  // namespace topicswarm
