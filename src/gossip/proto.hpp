// Gossip core vocabulary: configuration, wire messages, inputs, outputs.
//
// The core is a state machine: handle(input, now) appends outputs. It reads no
// clock (time comes in as `now`), owns a seeded RNG, does no IO and starts no
// threads. Timers are plain values it asks to be scheduled; they are never
// cancelled, so every timer handler first checks whether it still applies.
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/ids.hpp>

#include "core/effects.hpp"
#include "core/peer_info.hpp"
#include "core/time.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <variant>
#include <vector>

namespace topicswarm::gossip {

using core::duration;
using core::instant;
using namespace std::chrono_literals;

// ------------------------------------------------------------ configuration --

// HyParView (Leitão, Pereira, Rodrigues, DSN 2007). Defaults: the paper's §5
// values for active 5 / passive 30, ARWL 6 / PRWL 3; shuffle sizes and period
// as in iroh-gossip (3 active + 4 passive every 60 s).
struct membership_config {
  std::size_t active_view_capacity = 5;
  std::size_t passive_view_capacity = 30;
  std::uint8_t active_random_walk_length = 6;   // ARWL
  std::uint8_t passive_random_walk_length = 3;  // PRWL
  std::uint8_t shuffle_random_walk_length = 6;
  duration shuffle_interval = 60s;
  std::size_t shuffle_active_view_count = 3;
  std::size_t shuffle_passive_view_count = 4;
  duration neighbor_request_timeout = 500ms;
  // Eclipse resistance (added, not in the paper; docs/PROTOCOL.md §9 "Address
  // ranges in the views"): at most this many neighbours whose connections come
  // from one address range (IPv4 /24, IPv6 /48), and at most this many
  // passive peers whose first address is in one range, so that one machine
  // with many identities, or one network, cannot fill a view. 2 of 5: a
  // range never holds a majority of the neighbours.
  std::size_t max_active_per_range = 2;
  std::size_t max_passive_per_range = 6;
  // Apply the rule to loopback, link-local and private ranges too (off: a
  // LAN, or a local testnet, puts every peer in one range).
  bool limit_local_ranges = false;
};

// Where each connected peer's connection comes from (the remote address the
// shell saw), shared by one router's topics; an entry lives as long as the
// connection. Feeds the active view's range rule.
using peer_sources = std::map<node_id, endpoint>;

// PlumTree (Leitão, Pereira, Rodrigues, SRDS 2007). Timeouts as in
// iroh-gossip; optimisation threshold from the paper's §3.8 evaluation.
struct broadcast_config {
  duration lazy_push_interval = 5ms;  // IHAVE batching
  duration graft_timeout_1 = 80ms;    // first GRAFT after a missing IHAVE
  duration graft_timeout_2 = 40ms;    // then again, to the next announcer
  std::uint16_t optimization_threshold = 7;
  duration message_cache_retention = 30s;  // full messages kept to answer GRAFTs
  duration message_id_retention = 90s;     // ids kept to detect duplicates
  duration cache_evict_interval = 1s;
  // Added bounds (not in the papers): the cache and the id set also evict
  // their oldest entries when full, so a flood cannot grow them without limit.
  std::size_t message_cache_capacity = 65536;      // full messages
  std::size_t message_cache_bytes = 16u << 20;     // their content bytes
  std::size_t message_id_capacity = 65536;    // ids for duplicate detection
};

struct config {
  membership_config membership;
  broadcast_config broadcast;
  std::size_t max_message_size = 4096;  // content bytes of one broadcast
};

// ------------------------------------------------------------- wire limits --

// Hard bounds of the wire format (docs/PROTOCOL.md "Gossip wire format"). The
// codec rejects anything beyond them and the cores drop (and count) messages
// that exceed them when they arrive without the codec (e.g. in the simulator).
namespace limits {
inline constexpr std::size_t max_addresses = 4;            // per peer_info / join / neighbor
inline constexpr std::size_t max_shuffle_nodes = 64;       // shuffle / shuffle_reply lists
inline constexpr std::size_t max_ihave_entries = 256;      // one IHAVE message
inline constexpr std::uint8_t max_ttl = 32;                // forward_join / shuffle walks
inline constexpr std::size_t max_content_size = 1 << 20;   // codec ceiling; config.max_message_size applies below it
}  // namespace limits

// --------------------------------------------------------------- wire types --

// A peer and the addresses it can be dialled at (src/core/peer_info.hpp).
using core::peer_info;

enum class priority : std::uint8_t { low = 0, high = 1 };
// swarm: flood to every member; neighbors: deliver to direct neighbours only.
enum class scope : std::uint8_t { swarm = 0, neighbors = 1 };

namespace wire {
struct join { std::vector<endpoint> addresses; };
struct forward_join { peer_info peer; std::uint8_t ttl = 0; };
struct neighbor { priority prio = priority::low; std::vector<endpoint> addresses; };
struct neighbor_reply { bool accepted = false; };
struct disconnect { bool alive = true; };
struct shuffle { peer_info origin; std::uint8_t ttl = 0; std::vector<peer_info> nodes; };
struct shuffle_reply { std::vector<peer_info> nodes; };
struct gossip { message_id id; bytes content; std::uint16_t round = 0; scope sc = scope::swarm; };
struct ihave_entry { message_id id; std::uint16_t round = 0; };
struct ihave { std::vector<ihave_entry> entries; };
struct graft { std::optional<message_id> id; std::uint16_t round = 0; };
struct prune {};
using message = std::variant<join, forward_join, neighbor, neighbor_reply, disconnect, shuffle, shuffle_reply,
                             gossip, ihave, graft, prune>;
}  // namespace wire

// ------------------------------------------------------------------- timers --

namespace timers {
struct shuffle {};
struct neighbor_request { node_id peer; std::uint64_t attempt = 0; };
// HyParView refill tick of a node with at most one neighbour (see hyparview.hpp);
// `generation` tells the live chain from stale ones.
struct refill { std::uint64_t generation = 0; };
struct lazy_push {};
// `attempt` tells a stale timer (from an earlier wait for the same id) from the live one.
struct graft { message_id id; std::uint8_t stage = 0; std::uint64_t attempt = 0; };
struct evict_cache {};
using timer = std::variant<shuffle, neighbor_request, lazy_push, graft, evict_cache, refill>;
}  // namespace timers

// ------------------------------------------------------------------- inputs --

namespace in {
struct received { node_id from; wire::message msg; };
struct join_peers { std::vector<peer_info> peers; };
struct broadcast { bytes content; scope sc = scope::swarm; };
struct quit {};
struct timer_fired { timers::timer t; };
// The connection to `peer` closed or could not be established.
struct peer_disconnected { node_id peer; };
using input = std::variant<received, join_peers, broadcast, quit, timer_fired, peer_disconnected>;
}  // namespace in

// ------------------------------------------------------------------ outputs --

namespace out {
// Shared effects (core/effects.hpp), with this core's message and timer types.
using send = core::effect::send<wire::message>;
struct neighbor_up { node_id peer; };
struct neighbor_down { node_id peer; };
// `round`: the PlumTree round the message arrived with: 0 when pushed by its
// origin itself, so the number of hops it travelled is round + 1.
struct received { bytes content; node_id delivered_from; scope sc = scope::swarm; message_id id; std::uint16_t round = 0; };
using schedule = core::effect::schedule<timers::timer>;
// This topic no longer needs a connection to `peer`.
using drop_peer = core::effect::close;
// Learned dialling data for the address book. `first_hand`: the peer's own
// entry in a message the peer itself sent (a join, a neighbour request, its
// own entry in a shuffle); otherwise a third party's claim (a forward-join,
// shuffle entries of others, a join contact given to us).
struct peer_data {
  peer_info info;
  bool first_hand = false;
};
using output = std::variant<send, neighbor_up, neighbor_down, received, schedule, drop_peer, peer_data>;
}  // namespace out

}  // namespace topicswarm::gossip
