// The auto-discovery driver (src/tracker/driver.hpp: the tracker core with
// its record building, slot keys and record opening, the same code the node
// runs) at every node of a simulation, over an in-memory BEP 44 DHT with
// latency (DESIGN.md §3, "one simulator").
//
// The swarm performs the driver's effects the way the node's IO shell does,
// in virtual time:
//  - dht_get: after a lookup latency drawn from dht_model_config, read the
//    item from the shared bep44_store (at half the latency, so reads race
//    puts as on a network) and hand its value to the driver; a lookup slower
//    than the get's timeout answers "incomplete, nothing" at the timeout.
//  - dht_put: sign the BEP 44 item with the slot's key pair; the store
//    applies BEP 44's rules at half the put latency (a lower seq is refused:
//    the put fails).
//  - dial: a probe that succeeds after one round trip if the peer is up and
//    on our side of any partition, and fails after the link's dial failure
//    delay otherwise.
//  - join: in::join_peers into the node's gossip router.
//  - schedule: a simulator event.
// Router outputs reach the driver through an output hook, one event later
// (never re-entrantly): neighbour up/down and delivered message ids. A
// node's own broadcasts are reported with broadcast().
//
// Records use real Ed25519 identities (one per node, from its index) because
// the codec signs them; the simulator's node ids are not public keys, so the
// swarm's directory maps between the two. The DHT is global: partitions cut
// the overlay, not the DHT (a split of the peers of a topic, not of the
// Internet).
#pragma once

#include "sim/bep44_store.hpp"
#include "sim/dht_model.hpp"
#include "sim/simulator.hpp"
#include "tracker/driver.hpp"

#include <topicswarm/record.hpp>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace topicswarm::sim {

struct tracker_dht_counters {
  std::uint64_t gets = 0, puts = 0, puts_stored = 0, puts_refused = 0;
  std::uint64_t get_timeouts = 0, records = 0, empty = 0, invalid = 0;
  std::uint64_t dials = 0, dial_failures = 0, joins = 0;
};

class tracker_swarm {
 public:
  tracker_swarm(simulator& sim, topic_index topic, auto_discovery_config cfg, dht_model_config dht = {});
  ~tracker_swarm();
  tracker_swarm(const tracker_swarm&) = delete;
  tracker_swarm& operator=(const tracker_swarm&) = delete;

  // Starts node n in the topic with no contacts and starts its tracker with
  // the given initial secret.
  void start(node_index n, const std::string& secret = "sim-secret");
  // The node's tracker stops (call after sim.crash / sim.leave).
  void stop(node_index n);
  // Broadcasts from n and tells n's tracker the message id.
  std::uint32_t broadcast(node_index n, bytes content, bool measured = true);

  std::uint64_t unix_ms() const;
  const tracker::tracker* core(node_index n) const;
  std::optional<core::instant> started_at(node_index n) const;
  std::optional<core::instant> joined_at(node_index n) const;  // first out::joined
  const tracker_dht_counters& counters() const noexcept { return c_; }
  const bep44_store& store() const noexcept { return store_; }
  // Gets and puts per node, summed over every node ever started.
  std::uint64_t node_gets(node_index n) const;
  std::uint64_t node_puts(node_index n) const;

 private:
  class node_directory;
  struct node_state {
    std::unique_ptr<node_directory> dir;
    std::unique_ptr<tracker::driver> drv;
    std::optional<core::instant> started, joined;
    std::uint64_t gets = 0, puts = 0;
    std::uint64_t incarnation = 0;  // answers for an earlier start are dropped
  };

  tracker::clock clock() const;
  void feed(node_index n, tracker::in::input input);
  void perform(node_index n, std::vector<tracker::effect::effect>& effects);
  void do_get(node_index n, const tracker::effect::dht_get& g);
  void do_put(node_index n, tracker::effect::dht_put& p);
  void do_dial(node_index n, const core::peer_info& peer);
  // Schedules fn for node n's current incarnation (dropped if it stopped).
  void later(node_index n, core::duration after, std::function<void()> fn);
  node_index index_of_key(const node_id& key) const;
  core::duration draw(core::duration lo, core::duration hi);

  simulator& sim_;
  topic_index topic_;
  topic_id topic_id_;
  auto_discovery_config cfg_;
  dht_model_config dht_;
  bep44_store store_;
  std::mt19937_64 rng_;
  std::vector<node_state> nodes_;
  std::deque<identity> identities_;  // stable addresses: drivers keep references
  std::map<node_id, node_index> by_key_;
  // Opened values, per secret: every reader of a value opens it alike.
  std::map<std::string, std::shared_ptr<tracker::opened_values>> opened_;
  // Topic keys, per secret: Argon2id runs once per secret, not per node
  // (its cost is the node's, not the protocol's).
  std::map<std::string, secret_hash> keys_;
  tracker_dht_counters c_;
};

}  // namespace topicswarm::sim
