// The deterministic simulator (DESIGN.md §3): many nodes, each running the
// sans-IO gossip core (through node_protocol), over a modelled network in
// virtual time.
//
// Determinism: one event queue ordered by (virtual time, sequence number); two
// seeded RNGs (network: latency draws and loss; scenario: senders, contacts,
// churn); every per-node seed is derived from the run's seed; no unordered
// container is ever iterated; no threads; no wall clock.
//
// How router outputs are performed:
//  - send: delivered to the target as in::received after the link latency.
//    Connections are implicit: the first send between two nodes dials. A dial
//    to a node that is down, or across a partition, fails: the sender gets
//    peer_disconnected after link_config::dial_failure_delay. The message is lost.
//    The failure is not reported if by then a working connection to the peer
//    exists (it dialled us meanwhile, or a later dial succeeded).
//  - Dialling needs an address, as in the node shell (src/node), which dials a
//    peer only at addresses in its address book: a node knows a peer's address
//    once it was handed the peer as a join contact (join(), or an injected
//    in::join_peers) or its router emitted out::peer_data with the peer's
//    address. A send to a peer without a usable connection and without a known
//    address is lost and fails like a dial (counted as no_address). A peer
//    that dialled us can be answered over that connection while it is open.
//  - schedule: an event that feeds in::timer_fired to the node (if still up).
//  - drop_peer: a graceful close. The peer gets peer_disconnected once every
//    message already sent to it has arrived (FIFO); messages it sent on that
//    connection before the close reached it still arrive (a half-close: the
//    transport keeps reading a connection it is closing until the peer's
//    close), later sends dial anew.
//  - peer_data: the node learns the peer's address (see above).
//  - neighbor_up / neighbor_down / received: recorded for the metrics.
//
// Churn model:
//  - crash(n): silent. n's connections go dead; each peer notices after
//    link_config::keepalive_timeout, or send_timeout after it next sends to n,
//    whichever is first (it then gets peer_disconnected). Messages in flight
//    to n are lost; n's timers never fire again.
//  - leave(n): graceful. The router leaves every topic (its disconnect
//    messages go out), then n closes all its connections like drop_peer
//    does and goes down.
//  - join(n, contacts): n starts and is handed the contacts' peer_info.
//  - set_partition(groups): nodes in different groups cannot reach each other.
//    Connections across the cut go dead (detected as for a crash, on both
//    sides), messages in flight across it are dropped, and dials across it
//    fail. heal() lifts it; dead connections stay dead until detected.
//
// Broadcast bookkeeping (for RMR/LDH, never on the wire): each broadcast is
// tracked by message id. A gossip message carries, in the simulator's own
// event envelope, hop = (sender's delivery hop) + 1, the origin being hop 0;
// a node's delivery hop is the envelope hop of the message whose handling made
// its router emit out::received.
//
// Extension point (issue 5, tracker scenarios): schedule() runs arbitrary work
// in the same deterministic queue, and add_output_hook() observes every router
// output. An in-memory BEP 44 store with latency is a component beside this
// class: it answers a node's get/put by schedule()-ing the reply after a latency
// drawn from link_model, and feeds results to that node's tracker core, which
// reaches the router through inject(). add_disconnect_hook() tells another
// core of the node that a connection is gone (issue 14: discovery frames
// share the node's connections with gossip).
#pragma once

#include "sim/connection_table.hpp"
#include "sim/event_queue.hpp"
#include "sim/link_model.hpp"
#include "sim/node_protocol.hpp"

#include <array>
#include <cstdarg>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

namespace topicswarm::sim {

using node_index = std::uint32_t;
using topic_index = std::uint32_t;
inline constexpr node_index no_node = std::numeric_limits<node_index>::max();

enum class node_status : std::uint8_t { idle, up, crashed, left };

inline constexpr std::size_t wire_type_count = std::variant_size_v<gossip::wire::message>;
// "join", "forward_join", ... in the order of gossip::wire::message.
const char* wire_type_name(std::size_t variant_index);

// The NAT model (issue 16). A node is public (dialable), or private behind
// an endpoint-independent NAT (hole punching works) or an endpoint-dependent
// ("symmetric") one. A dial from a to b gets through as the node does it
// (docs/PROTOCOL.md §19.7-19.9): b public: direct; a public, b private: b
// dials back (a reversal), a direct link after one more round trip; both
// private behind endpoint-independent NATs: a hole punch, after two more
// round trips (connect/reply through a helper, then the sync); otherwise
// through a relay: a public node (up, on both sides of any partition) with
// fewer than relay_capacity circuits, chosen by a hash of the pair, after
// the 5 s punch window that failed (at once when a is symmetric itself);
// its messages then take a->relay->b. With no relay free the dial fails.
// Helpers are assumed present (any common contact); relays do not crash.
enum class nat_type : std::uint8_t { public_node, eim, symmetric };
enum class link_path : std::uint8_t { direct, reversed, punched, relayed };
inline constexpr std::size_t link_path_count = 4;
const char* link_path_name(link_path p);
struct nat_config {
  std::uint32_t relay_capacity = 16;  // reachability.relay_max_circuits
  core::duration punch_window = 5s;    // reachability.punch_window
};

struct network_counters {
  std::array<std::uint64_t, wire_type_count> sent{};       // by message type, as emitted by routers
  std::array<std::uint64_t, wire_type_count> delivered{};  // fed to a live router
  std::uint64_t lost = 0;                                  // random loss
  std::uint64_t cut = 0;                                   // partition: dial across it, or in flight when it started
  std::uint64_t dead = 0;                                  // receiver down, or sent on a dead connection
  std::uint64_t closed = 0;                                // receiver had closed the connection
  std::uint64_t unknown_peer = 0;                          // sent to a node id the simulator does not know
  std::uint64_t no_address = 0;                            // needed a dial, but the sender knows no address of the peer
  std::uint64_t to_self = 0;
  std::uint64_t dials = 0, dial_failures = 0, closes = 0, deaths_detected = 0;
  std::array<std::uint64_t, link_path_count> dials_by_path{};  // by how they got through the NATs
  std::uint64_t no_relay = 0;  // both private, no punch possible, every relay full: the dial failed
  std::uint64_t timers = 0;
  std::uint64_t double_deliveries = 0;  // a router emitted received twice for one message
  // Deliveries whose out::received::round + 1 differs from the simulator's own
  // hop count (a cross-check of the core's PlumTree rounds; LDH uses the hop count).
  std::uint64_t hop_round_mismatches = 0;
};

inline constexpr std::uint16_t not_delivered = std::numeric_limits<std::uint16_t>::max();

struct tracked_message {
  message_id id;
  bool id_known = false;
  node_index origin = no_node;
  topic_index topic = 0;
  core::instant sent_at{};
  bool measured = true;
  std::vector<std::uint16_t> hop;      // per node: delivery hop, or not_delivered (origin: 0)
  std::vector<std::uint8_t> expected;  // per node: 1 if a live member reachable from the origin at send time
  std::uint32_t expected_count = 0;
  std::uint32_t expected_delivered = 0;
  std::uint32_t delivered = 0;         // nodes other than the origin that delivered it
  std::uint32_t payload_received = 0;  // gossip messages with this id fed to live routers
  std::uint16_t ldh = 0;
  std::vector<std::int64_t> latency_us;  // one per delivery
};

struct sim_config {
  std::uint64_t seed = 1;
  link_config link;
  nat_config nat;
};

namespace detail {
struct ev_deliver {
  node_index from, to;
  topic_index topic;
  std::uint64_t gen;
  std::uint16_t hop;
  gossip::wire::message msg;
};
struct ev_timer {
  node_index node;
  topic_index topic;
  gossip::timers::timer t;
};
struct ev_close {  // a graceful close reaches `to`
  node_index to, from;
  std::uint64_t gen;
};
struct ev_detect {  // `node` notices its connection to `peer` is dead
  node_index node, peer;
  std::uint64_t gen;
};
struct ev_dial_failed {
  node_index node, peer;  // peer is no_node for an id the simulator does not know
  node_id peer_id;
};
struct ev_call {
  std::function<void()> fn;
};
using event = std::variant<ev_deliver, ev_timer, ev_close, ev_detect, ev_dial_failed, ev_call>;
}  // namespace detail

class simulator {
 public:
  using output_hook = std::function<void(node_index, const gossip::routed&)>;
  // Called for every message about to be fed to a live router (after the
  // network let it through), before the router handles it.
  using delivery_hook =
      std::function<void(node_index from, node_index to, topic_index, const gossip::wire::message&)>;
  // Called when node `n` is told that its connection to `peer` closed or a
  // dial to it failed (what the router hears as peer_disconnected), before
  // the router handles it. `peer` is no_node for an id the simulator does
  // not know.
  using disconnect_hook = std::function<void(node_index n, node_index peer)>;
  using trace_sink = std::function<void(std::string_view)>;

  simulator(const sim_config& cfg, protocol_factory factory);
  ~simulator();
  simulator(const simulator&) = delete;
  simulator& operator=(const simulator&) = delete;

  // ------------------------------------------------------ time and randomness
  core::instant now() const noexcept { return now_; }
  std::uint64_t seed() const noexcept { return cfg_.seed; }
  const link_model& links() const noexcept { return links_; }
  // For scenario decisions (senders, contacts, churn); the network has its own.
  std::mt19937_64& rng() noexcept { return scenario_rng_; }

  // -------------------------------------------------------------------- nodes
  // A node's id: SHA-256 of its index (8 bytes, little endian).
  static node_id derive_node_id(std::uint64_t index);
  node_index add_node();
  std::size_t node_count() const noexcept { return nodes_.size(); }
  node_status status(node_index n) const { return nodes_[n].status; }
  bool is_up(node_index n) const { return n < nodes_.size() && nodes_[n].status == node_status::up; }
  const core::peer_info& info(node_index n) const { return nodes_[n].info; }
  node_index index_of(const node_id& id) const;
  const node_protocol& protocol(node_index n) const { return *nodes_[n].proto; }
  std::vector<node_index> up_nodes() const;  // ascending

  // Whether `n` can dial `peer`: it learned the peer's address (see above).
  bool knows_address(node_index n, node_index peer) const;
  // A connection between a and b that neither side has closed and that is not dead.
  bool connected(node_index a, node_index b) const;
  // The NAT model (see nat_type). Every node is public until set otherwise.
  void set_nat(node_index n, nat_type t);
  nat_type nat(node_index n) const { return n < nat_.size() ? nat_[n] : nat_type::public_node; }
  // How the connection between a and b got through (none: no connection).
  std::optional<link_path> path(node_index a, node_index b) const;
  // Circuits relay r carries now.
  std::uint32_t relay_load(node_index r) const { return r < relay_load_.size() ? relay_load_[r] : 0; }

  // ------------------------------------------------------------------- topics
  topic_index add_topic(const topic_id& t);  // returns the existing index if known
  const topic_id& topic(topic_index t) const { return topics_[t]; }
  bool is_member(node_index n, topic_index t) const;  // joined t and up

  // ------------------------------------------------- actions (happen at now())
  void join(node_index n, topic_index t, std::span<const node_index> contacts);
  // Returns the message's number (index into messages()).
  std::uint32_t broadcast(node_index n, topic_index t, bytes content, bool measured = true);
  void crash(node_index n);
  void leave(node_index n);
  // group_of[n] is n's side; nodes beyond the vector are in group 0.
  void set_partition(std::vector<std::uint32_t> group_of);
  void heal();
  std::uint32_t group(node_index n) const { return n < group_.size() ? group_[n] : 0; }
  bool reachable(node_index a, node_index b) const { return group(a) == group(b); }
  // Feeds any input to a node's protocol now (extension point for other cores).
  void inject(node_index n, topic_index t, gossip::in::input input);

  // ------------------------------------------------------------------ running
  void schedule(core::duration after, std::function<void()> fn);
  bool step();  // runs one event; false if the queue is empty
  void run_until(core::instant t);
  void run_for(core::duration d) { run_until(now_ + d); }
  // Runs until pred() holds (checked before each event) or the deadline
  // passes; returns whether pred() held. Time stops at the deadline at most.
  bool run_until(const std::function<bool()>& pred, core::instant deadline);
  std::uint64_t events_processed() const noexcept { return events_; }
  std::size_t events_pending() const noexcept { return queue_.size(); }

  // -------------------------------------------------------------- observation
  void add_output_hook(output_hook h) { hooks_.push_back(std::move(h)); }
  void add_delivery_hook(delivery_hook h) { delivery_hooks_.push_back(std::move(h)); }
  void add_disconnect_hook(disconnect_hook h) { disconnect_hooks_.push_back(std::move(h)); }
  // Human-readable event lines for the given nodes (all nodes if empty).
  void set_trace(trace_sink sink, std::vector<node_index> nodes = {});
  const network_counters& counters() const noexcept { return counters_; }
  const std::vector<tracked_message>& messages() const noexcept { return messages_; }
  // Neighbour count as told by neighbor_up/neighbor_down outputs.
  std::uint32_t neighbors(node_index n, topic_index t) const;
  // Members (up, joined) of t that currently have no neighbour.
  std::size_t isolated(topic_index t) const { return topic_state_[t].isolated; }
  // Since when every member of t has had a neighbour (nullopt while one has none).
  std::optional<core::instant> all_have_neighbor_since(topic_index t) const;

 private:
  struct node {
    core::peer_info info;
    std::unique_ptr<node_protocol> proto;
    node_status status = node_status::idle;
  };
  struct topic_track {
    std::vector<std::uint32_t> neighbors;  // per node
    std::vector<std::uint8_t> member;      // per node: joined and up
    std::size_t isolated = 0;
    core::instant zero_since{};
  };

  template <class F>
  void drive(node_index n, F&& f);
  void dispatch(node_index n, std::vector<gossip::routed>& outs);
  void send(node_index from, node_index to, topic_index t, gossip::wire::message&& msg);
  void close_connection(node_index a, node_index b);
  void mark_dead(connection& c, node_index a, node_index b);
  void schedule_detect(connection& c, node_index n, node_index peer, core::instant at);
  void notify_disconnected(node_index n, node_index peer, const node_id& peer_id);
  // A free relay for a dial from a to b, or no_node.
  node_index pick_relay(node_index a, node_index b) const;
  // One message's latency on connection c between a and b (via its relay).
  core::duration hop_latency(const connection& c, node_index a, node_index b);
  void learn_address(node_index n, const core::peer_info& peer);
  void on_event(detail::event& e);
  void on_deliver(detail::ev_deliver& e);
  void on_close(const detail::ev_close& e);
  void on_detect(const detail::ev_detect& e);
  void on_dial_failed(const detail::ev_dial_failed& e);
  void on_received(node_index n, const gossip::out::received& r);
  void set_neighbors(node_index n, topic_index t, std::uint32_t count);
  void leave_topics(node_index n);
  std::optional<std::uint32_t> resolve(const message_id& id, const bytes* content);
  topic_index topic_of(const topic_id& t);
  bool tracing(node_index n) const;
  void trace(node_index n, const char* fmt, ...) const __attribute__((format(printf, 3, 4)));
  // A line about a message or connection between two nodes: shown if either is traced.
  void trace_link(node_index from, node_index to, const char* fmt, ...) const __attribute__((format(printf, 4, 5)));
  void vtrace(node_index n, const char* fmt, va_list ap) const;

  sim_config cfg_;
  protocol_factory factory_;
  link_model links_;
  std::mt19937_64 net_rng_;
  std::mt19937_64 scenario_rng_;
  core::instant now_{};
  std::uint64_t events_ = 0;
  event_queue<detail::event> queue_;

  std::vector<node> nodes_;
  std::unordered_map<node_id, node_index> index_;  // lookups only
  std::vector<topic_id> topics_;
  std::vector<topic_track> topic_state_;
  std::vector<std::uint32_t> group_;
  connection_table conns_;
  std::vector<nat_type> nat_;                // per node (public beyond the vector)
  std::vector<std::uint32_t> relay_load_;    // per node: circuits it relays
  std::unordered_set<std::uint64_t> pending_dial_failure_;  // (from << 32 | to); lookups only
  // Per node: the peers whose address it learned (its address book). Lookups
  // only, never iterated. Unbounded, unlike the shell's (4,096 peers by default).
  std::vector<std::unordered_set<node_index>> address_book_;

  std::vector<tracked_message> messages_;
  std::unordered_map<message_id, std::uint32_t> by_id_;  // lookups only
  std::map<bytes, std::uint32_t> by_content_;            // broadcasts whose id we have not seen yet
  // Context of the delivery being handled: a received output during it gets this hop.
  std::optional<message_id> current_id_;
  std::uint16_t current_hop_ = 0;

  network_counters counters_;
  std::vector<output_hook> hooks_;
  std::vector<delivery_hook> delivery_hooks_;
  std::vector<disconnect_hook> disconnect_hooks_;
  trace_sink trace_;
  std::vector<std::uint8_t> trace_nodes_;
  std::vector<std::vector<gossip::routed>> buffers_;  // reused output vectors
};

}  // namespace topicswarm::sim
