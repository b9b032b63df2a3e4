// The network discovery core (src/discovery/discovery.hpp, issue 14) at every
// node of a simulation, beside the gossip router that carries the network
// topic, over the shared in-memory BEP 44 store (DESIGN.md §3, "one
// simulator"). It performs the core's effects the way the node's driver
// (src/node/discovery_driver) does, in virtual time:
//  - broadcast: gossip content on the network topic (topic id = the core's
//    wire_id()), a broadcast of the node's router;
//  - join: in::join_peers into the router, through the named peers;
//  - router outputs on the network topic reach the core one event later
//    (never re-entrantly): neighbour up/down as in::neighbor, delivered
//    content as in::announce_received;
//  - send: the discovery frame is encoded (wire::encode, as the node frames
//    it), counted, and delivered decoded after the link's latency (FIFO per
//    direction). A frame to a node that is down or across a partition, or
//    one that is down or cut off when the frame lands, is lost; the sender
//    hears in::unreachable after the link's dial failure delay (a frame on a
//    dead connection). Every closed connection or failed dial the simulator
//    reports to the node's router is fed to the core as in::unreachable too
//    (discovery frames share the node's connections with gossip);
//  - dht_get / dht_put: the bootstrap chain's reads and claims against the
//    shared bep44_store, with the latency model of dht_model_config (read
//    halfway through the lookup, stored halfway through the put; BEP 44's
//    seq rules apply, so a claim with a lower seq fails);
//  - schedule: a simulator event, dropped if the node stopped meanwhile;
//  - peer_discovered / peer_updated / peer_departed: handed to the event hook.
// Each node sees a core::clock with the virtual monotonic time and its own
// wall clock (unix ms at virtual zero + virtual time + the node's offset).
//
// There is no shared driver between this and src/node/discovery_driver (as
// there is for the tracker, src/tracker/driver): the discovery core itself
// holds everything that is not IO (keys, signing, sealing chain records), so
// what is left on either side is only the mapping of effects to IO.
//
// Every core opens entries through one shared memo (opened_entries): 1,000
// cores verify the same announces, and the memo returns exactly what
// open_entry would, at a fraction of the run time.
//
// Entries are signed, so every node has a real Ed25519 identity (derived
// from its index as tracker_swarm derives it); the simulator's node ids are
// not public keys, and the swarm maps between the two.
//
// Traffic: every frame a node sends is counted as the transport would frame
// it (4-byte length + kind byte + body): gossip frames of the network topic
// (gossip::encode of the topic and message, counted when the router emits
// them) and discovery frames. TLS record overhead is not included.
//
// A node can be made hostile (set_hostile): it still runs its core, but the
// digest and fetch requests it receives are answered by the swarm from its
// catalog mixed with extra entries (forged, garbage, another network's, from
// the future: whatever the test hands in).
#pragma once

#include "discovery/discovery.hpp"
#include "sim/bep44_store.hpp"
#include "sim/dht_model.hpp"
#include "sim/simulator.hpp"

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace topicswarm::sim {

// Every field of discovery::counters (src/discovery/discovery.hpp), for
// summing and reporting; a field missing here is caught by the static_assert
// in discovery_swarm.cpp.
#define TOPICSWARM_DISCOVERY_COUNTERS(X) \
  X(announces_sent)                      \
  X(announces_received)                  \
  X(announces_malformed)                 \
  X(departures_sent)                     \
  X(departures_honoured)                 \
  X(departures_stale)                    \
  X(departures_unknown)                  \
  X(added)                               \
  X(updated)                             \
  X(other_network)                       \
  X(self)                                \
  X(clock_ahead)                         \
  X(clock_behind)                        \
  X(outdated)                            \
  X(not_newer)                           \
  X(full)                                \
  X(evicted)                             \
  X(purged)                              \
  X(entries_invalid)                     \
  X(syncs_started)                       \
  X(syncs_completed)                     \
  X(syncs_failed)                        \
  X(pages_received)                      \
  X(entries_fetched)                     \
  X(entries_unasked)                     \
  X(responses_unexpected)                \
  X(requests_served)                     \
  X(requests_over_budget)                \
  X(requests_wrong_network)              \
  X(pings_sent)                          \
  X(pongs_received)                      \
  X(ping_timeouts)                       \
  X(chain_polls)                         \
  X(chain_gets)                          \
  X(chain_records_valid)                 \
  X(chain_records_invalid)               \
  X(chain_peers_healthy)                 \
  X(chain_peers_unhealthy)               \
  X(chain_claims)                        \
  X(chain_claims_failed)

struct discovery_swarm_config {
  discovery::config core;  // every node's, unless start() is given another
  dht_model_config dht;
  std::string network = "topicswarm-sim-network";
  // The network key; unset: the open key of the network topic.
  std::optional<secret_hash> key;
  // How long a gracefully stopping node keeps its connections after its
  // core announced the departure, before it leaves the network topic. A
  // node whose PlumTree has no eager peer sends a broadcast as IHAVEs only:
  // they leave after lazy_push_interval, and the others GRAFT the message
  // from it. Leaving at once (zero) loses such a node's departure: its
  // batched IHAVEs go with the topic state.
  core::duration stop_linger = 1s;
};

// Frames and bytes one node sent.
struct discovery_traffic {
  std::uint64_t gossip_frames = 0, gossip_bytes = 0;        // network topic
  std::uint64_t discovery_frames = 0, discovery_bytes = 0;  // sync and ping
  std::uint64_t bytes() const noexcept { return gossip_bytes + discovery_bytes; }
};

inline constexpr std::size_t discovery_message_types = std::variant_size_v<discovery::wire::message>;
// "digest_request", "digest_page", ... in the order of discovery::wire::message.
const char* discovery_message_name(std::size_t variant_index);

struct discovery_swarm_counters {
  std::uint64_t frames_sent = 0, frames_delivered = 0;
  std::uint64_t frames_lost_down = 0, frames_lost_cut = 0, frames_lost_unknown = 0;
  std::uint64_t frames_malformed = 0;  // did not encode or decode (a core bug: must stay 0)
  std::uint64_t unreachable = 0;       // in::unreachable fed to cores
  std::uint64_t broadcasts = 0, joins = 0, join_peers = 0;
  std::uint64_t gets = 0, puts = 0, puts_stored = 0, puts_refused = 0, get_timeouts = 0;
  std::uint64_t hostile_answers = 0;
  // Swarm-wide bytes by message type (framed as above).
  std::array<std::uint64_t, wire_type_count> gossip_bytes_by_type{};
  std::array<std::uint64_t, discovery_message_types> discovery_bytes_by_type{};
};

// a += b, field by field.
void add_counters(discovery::counters& a, const discovery::counters& b);

class discovery_swarm {
 public:
  // Called for every event a core emits (peer_discovered, peer_updated,
  // peer_departed), after the core updated its catalog.
  using event_hook = std::function<void(node_index observer, const discovery::out::output& event)>;

  discovery_swarm(simulator& sim, discovery_swarm_config cfg);
  ~discovery_swarm();
  discovery_swarm(const discovery_swarm&) = delete;
  discovery_swarm& operator=(const discovery_swarm&) = delete;

  // Starts node n: it joins the network topic through `bootstrap` (none:
  // the chain must find the network) and starts its core, with `cfg` if
  // given, else the swarm's.
  void start(node_index n, std::span<const node_index> bootstrap = {},
             const std::optional<discovery::config>& cfg = std::nullopt);
  // SIGKILL: the node goes down silently (no departure).
  void crash(node_index n);
  // A graceful stop: the core announces its signed departure (and hears
  // nothing more); after stop_linger the node leaves (its router says
  // goodbye and closes its connections) and goes down.
  void stop(node_index n);
  // Node n answers digest and fetch requests from its catalog mixed with
  // `extra` (node id -> encoded entry, whatever its bytes): listed in its
  // digest pages under that id (version: the entry's if it opens, else
  // (1, now)), and returned when asked for. Every fetch response also
  // carries `unasked` if given (an entry nobody asked for).
  void set_hostile(node_index n, std::map<node_id, bytes> extra, std::optional<bytes> unasked = std::nullopt);
  // Offsets node n's wall clock (what its core signs and compares).
  void set_clock_offset(node_index n, std::int64_t offset_ms);
  void set_event_hook(event_hook h) { hook_ = std::move(h); }

  topic_index topic() const noexcept { return topic_; }
  const topic_id& wire_id() const noexcept { return wire_; }
  const secret_hash& key() const noexcept { return key_; }
  std::uint64_t unix_ms(node_index n) const;
  // The node's identity (its node id in entries); made on first use.
  const identity& identity_of(node_index n);
  node_id key_of(node_index n) { return identity_of(n).id(); }
  node_index index_of_key(const node_id& key) const;
  const discovery::state* core(node_index n) const;
  bool running(node_index n) const { return core(n) != nullptr; }
  std::optional<core::instant> started_at(node_index n) const;

  const discovery_traffic& traffic(node_index n) const;
  const discovery_swarm_counters& counters() const noexcept { return c_; }
  // The cores' counters summed over every node ever started (those of
  // stopped and crashed nodes as they were when they went).
  discovery::counters core_counters() const;
  const bep44_store& store() const noexcept { return store_; }

 private:
  struct hostile_state {
    std::map<node_id, bytes> extra;
    std::map<node_id, entry_version> versions;
    std::optional<bytes> unasked;
  };
  struct node_state {
    std::unique_ptr<discovery::state> core;
    std::uint64_t incarnation = 0;  // effects of an earlier start are dropped
    std::int64_t clock_offset_ms = 0;
    std::optional<core::instant> started;
    discovery_traffic traffic;
    std::unique_ptr<hostile_state> hostile;
  };

  core::clock clock_of(node_index n) const;
  node_state& state_of(node_index n);
  void feed(node_index n, discovery::in::input input);
  void perform(node_index n, std::vector<discovery::out::output>& out);
  void send_frame(node_index from, const node_id& to, const discovery::wire::message& msg);
  void deliver(node_index from, node_index to, std::uint64_t to_incarnation, const bytes& body);
  bool answer_hostile(node_index n, node_index from, const discovery::wire::message& msg);
  void do_get(node_index n, const discovery::out::dht_get& g);
  void do_put(node_index n, discovery::out::dht_put& p);
  // Runs fn for node n's current incarnation (dropped if it stopped).
  void later(node_index n, core::duration after, std::function<void()> fn);
  core::duration draw(core::duration lo, core::duration hi);

  simulator& sim_;
  discovery_swarm_config cfg_;
  network_id network_;
  secret_hash key_;
  topic_id wire_;
  topic_index topic_;
  bep44_store store_;
  std::shared_ptr<discovery::opened_entries> opened_;  // one memo for every core
  std::mt19937_64 rng_;
  std::vector<node_state> nodes_;
  std::deque<identity> identities_;  // stable addresses: cores keep references
  std::map<node_id, node_index> by_key_;
  // FIFO per direction of discovery frames: when the last one lands.
  std::unordered_map<std::uint64_t, core::instant> last_arrival_;  // lookups only
  bytes gossip_buf_, frame_buf_;
  event_hook hook_;
  discovery_swarm_counters c_;
  discovery::counters retired_;
};

}  // namespace topicswarm::sim
