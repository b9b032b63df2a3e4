// The gossip driver: the HyParView/PlumTree router (src/gossip) and the
// node's topic subscriptions. It performs the router's effects: a send is
// encoded once into a gossip frame and queued on the peer's connection
// (dialling it from the address book if needed), a schedule goes to its
// timer queue, a close to the transport; neighbour changes and received
// messages become events for the topic's receivers. It also holds back
// broadcasts while a connection is over its back-pressure level.
//
// Other drivers see a topic through topic_observer (neighbours, message
// ids, leaving) and act on it through join() and views().
#pragma once

#include "core/timer_queue.hpp"
#include "gossip/router.hpp"
#include "node/admission_driver.hpp"
#include "node/completion.hpp"
#include "node/receiver_state.hpp"
#include "node/shell.hpp"

#include <asio/steady_timer.hpp>

#include <deque>
#include <map>
#include <memory>
#include <set>

namespace topicswarm::detail {

// What other drivers (auto-discovery, network discovery) learn about topics.
class topic_observer {
 public:
  virtual ~topic_observer() = default;
  virtual void on_neighbor(const topic_id& t, const node_id& peer, bool up) = 0;
  // A message delivered on the topic, or broadcast by us.
  virtual void on_message(const topic_id& t, const message_id& id) = 0;
  // A message delivered on the topic, with its content (not our own).
  virtual void on_received(const topic_id&, const node_id& /*delivered_from*/, byte_span /*content*/) {}
  // The topic was attached (first subscription) or left (last handle gone).
  virtual void on_topic_attached(const topic_id&) {}
  virtual void on_topic_left(const topic_id& t) = 0;
};

// Per-operation timeouts of a topic (timeout_config): the node's for every
// topic, an auto-discovery topic's own where it runs.
struct topic_timeouts {
  std::chrono::milliseconds join_peers{0}, broadcast{0}, broadcast_neighbors{0};
};

class gossip_driver final : public driver, public admission_listener {
 public:
  // Topics are keyed by their wire id; every frame goes through `gate`
  // (admission) both ways.
  gossip_driver(shell& sh, admission_driver& gate, gossip::config cfg, std::uint64_t seed, topic_timeouts defaults);

  // Observers hear of every topic, in the order they were added.
  void add_observer(topic_observer* o) { observers_.push_back(o); }

  // ---- topics (from the API, on the node thread)
  void attach(const topic_id& t, const secret_hash& key, std::shared_ptr<topic_mirror> m,
              std::shared_ptr<receiver_state> r, std::vector<core::peer_info> bootstrap);
  void add_receiver(std::shared_ptr<receiver_state> r);
  void release(const topic_id& t);
  bool has_topic(const topic_id& t) const { return topics_.contains(t); }
  std::shared_ptr<topic_mirror> mirror(const topic_id& t) const;
  void broadcast(const topic_id& t, bytes content, gossip::scope sc, completion<result<void>> done);
  void wait_joined(const topic_id& t, std::chrono::milliseconds timeout, completion<result<void>> done);
  // join() from the API: completes once one of `peers` is a neighbour, or
  // with errc::timeout after the topic's join_peers timeout.
  void join_peers(const topic_id& t, std::vector<core::peer_info> peers, completion<result<void>> done);
  void set_timeouts(const topic_id& t, topic_timeouts d);

  // ---- for other drivers
  // `from`: where the peers' addresses came from (auto-discovery: records,
  // hearsay, filtered by the address policy; else our user).
  void join(const topic_id& t, std::vector<core::peer_info> peers, address_source from = address_source::user);
  std::vector<node_id> views(const topic_id& t) const;  // active then passive
  // The wire ids of the topics attached now.
  std::vector<topic_id> topics() const;
  const std::set<node_id>* neighbors(const topic_id& t) const;
  bool in_active_view(const node_id& peer) const;  // of any topic

  // ---- transport
  void on_frame(const node_id& peer, byte_span body);
  // A connection is up (before any of its frames): where it comes from, for
  // the views' address-range rule.
  void on_link(const node_id& peer, const net::link_info& link);
  // Our own addresses changed.
  void set_my_addresses(const std::vector<endpoint>& a) { router_.set_my_addresses(a); }
  void on_disconnected(const node_id& peer, const error& why) override;
  void on_send_ready() override;
  // ---- admission: `peer` will not exchange topic `t` with us
  void on_refused(const topic_id& t, const node_id& peer) override;

  // ---- driver
  std::optional<core::instant> next_timer() const override { return timers_.next(); }
  void fire_timers(core::instant now) override;
  void begin_stop() override;
  void finish_stop() override;
  void add_stats(node_stats& s) const override;
  std::size_t timers() const override { return timers_.size(); }

 private:
  // A joined() or join_peers() call: woken by the first neighbour (any, or
  // one of `peers` when that is not empty).
  struct join_waiter {
    completion<result<void>> done;
    std::shared_ptr<asio::steady_timer> timer;
    std::set<node_id> peers;
  };
  struct pending_broadcast {
    topic_id topic;
    bytes content;
    gossip::scope sc;
    completion<result<void>> done;
    std::shared_ptr<asio::steady_timer> deadline;
  };
  struct topic_entry {
    std::size_t handles = 0;
    std::vector<std::weak_ptr<receiver_state>> receivers;
    std::shared_ptr<topic_mirror> mirror;
    std::set<node_id> neighbors;
    std::map<std::uint64_t, join_waiter> join_waiters;
    topic_timeouts timeouts;
  };
  struct timer_token {
    topic_id topic;
    gossip::timers::timer t;
  };

  // Drops us from `peers` and puts the others' addresses in the address book.
  std::vector<core::peer_info> remember(std::vector<core::peer_info> peers, address_source from = address_source::user);
  // Performs the router's outputs accumulated in out_.
  void process();
  void send(const topic_id& t, gossip::out::send& s, std::vector<node_id>& unreachable);
  void deliver(topic_entry& e, const event& ev);
  void add_join_waiter(const topic_id& t, std::set<node_id> peers, std::chrono::milliseconds timeout, std::string what,
                       completion<result<void>> done);
  void neighbor_changed(const topic_id& t, const node_id& peer, bool up);
  void hold_back(const topic_id& t, bytes content, gossip::scope sc, completion<result<void>> done);
  void drain_broadcasts();
  void close_receivers(topic_entry& e, const error& why);

  shell& sh_;
  admission_driver& gate_;
  gossip::config cfg_;
  topic_timeouts defaults_;
  gossip::router router_;
  std::vector<topic_observer*> observers_;
  std::map<topic_id, topic_entry> topics_;
  core::timer_queue<timer_token> timers_;
  std::deque<pending_broadcast> backlog_;  // broadcasts waiting for send queues to drain
  std::vector<gossip::routed> out_;
  bytes frame_;
  bool processing_ = false;
  bool draining_ = false;
  std::uint64_t unknown_topic_ = 0, undecodable_ = 0, lagged_ = 0;
};

}  // namespace topicswarm::detail
