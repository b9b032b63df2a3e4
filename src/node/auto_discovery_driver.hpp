// The node's auto-discovery driver: one tracker::driver (src/tracker/
// driver.hpp, shared with the simulator) per topic that runs
// auto-discovery, and the IO its effects need:
//  - dht_get / dht_put on the node's DHT client (coroutines on the node's
//    executor; an answer for an earlier incarnation of the topic's
//    auto-discovery is dropped);
//  - dial: a TLS connection with no gossip on it (a "probe"), answered when
//    the transport reports the peer connected or the dial failed; a probe
//    connection no topic adopts is closed after sweep_after;
//  - join: the gossip driver's join; schedule: this driver's timer queue.
// It watches topics through topic_observer (neighbours, message ids).
#pragma once

#include "core/timer_queue.hpp"
#include "node/gossip_driver.hpp"
#include "node/shell.hpp"
#include "tracker/driver.hpp"

#include <map>
#include <memory>
#include <set>
#include <variant>

namespace topicswarm::detail {

class discovery_driver;

// What attach() needs: everything but the topic.
// `topic`: the id from the name (records); the driver's topics are keyed by
// the wire id (gossip).
struct auto_discovery_setup {
  topic_id topic;
  secret_hash secret;
  secret_rotation rotation;
  auto_discovery_config config;
};

class auto_discovery_driver final : public driver, public topic_observer {
 public:
  auto_discovery_driver(shell& sh, gossip_driver& gossip, std::uint64_t seed);
  ~auto_discovery_driver() override;

  // Whether attach() would succeed: the node is running, the DHT is on, the
  // settings are valid and the topic does not run auto-discovery yet.
  result<void> can_attach(const topic_id& t, const auto_discovery_config& cfg) const;
  // Starts auto-discovery on a topic the gossip driver has attached. When
  // the network catalog lists peers of the topic (dialled already when the
  // topic was attached), the DHT waits network_config::catalog_first_wait:
  // a neighbour found by then means no DHT read at all.
  result<void> attach(const topic_id& t, auto_discovery_setup setup);
  void set_catalog(const discovery_driver* d) { catalog_ = d; }
  // Our addresses changed: every topic publishes a fresh record soon.
  void addresses_changed();

  // ---- topic_observer
  void on_neighbor(const topic_id& t, const node_id& peer, bool up) override;
  void on_message(const topic_id& t, const message_id& id) override;
  void on_topic_left(const topic_id& t) override;

  // ---- driver
  std::optional<core::instant> next_timer() const override { return timers_.next(); }
  void fire_timers(core::instant now) override;
  void on_connected(const node_id& peer) override { probe_answered(peer, true); }
  void on_disconnected(const node_id& peer, const error&) override { probe_answered(peer, false); }
  void finish_stop() override;
  void add_stats(node_stats& s) const override;
  std::size_t timers() const override { return timers_.size(); }

 private:
  class topic_directory;
  struct session {
    std::unique_ptr<topic_directory> dir;
    std::unique_ptr<tracker::driver> drv;
    std::uint64_t incarnation = 0;  // answers for an earlier incarnation are dropped
  };
  struct tracker_timer {
    topic_id topic;
    std::uint64_t incarnation;
    tracker::timers::timer t;
  };
  // A probe connection that no topic may end up using: closed unless a
  // topic has the peer in its active view by then.
  struct sweep {
    node_id peer;
  };
  // The tracker starts after the catalog's peers had their chance.
  struct deferred_start {
    topic_id topic;
    std::uint64_t incarnation;
  };
  using timer_token = std::variant<tracker_timer, sweep, deferred_start>;

  tracker::clock clock() const;
  session* find(const topic_id& t, std::uint64_t incarnation);
  void feed(const topic_id& t, tracker::in::input in);
  void perform(const topic_id& t, session& s, std::vector<tracker::effect::effect>& effects);
  void get(const topic_id& t, session& s, tracker::effect::dht_get& g);
  void put(const topic_id& t, session& s, tracker::effect::dht_put& p);
  void dial(const topic_id& t, session& s, const core::peer_info& peer);
  void probe_answered(const node_id& peer, bool ok);
  void do_sweep(const node_id& peer);
  void mirror_records(const topic_id& t, const session& s);

  shell& sh_;
  gossip_driver& gossip_;
  std::uint64_t seed_;
  std::uint64_t incarnations_ = 0;
  std::map<topic_id, session> topics_;
  core::timer_queue<timer_token> timers_;
  std::map<node_id, std::set<topic_id>> probes_;  // dials waiting for connect or failure
  std::size_t dht_ops_ = 0;                       // gets and puts in flight
  const discovery_driver* catalog_ = nullptr;
  std::uint64_t catalog_first_ = 0;  // topics whose DHT start waited for catalog peers
};

}  // namespace topicswarm::detail
