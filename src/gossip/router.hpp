// Multi-topic gossip router: one HyParView + PlumTree state per topic over
// shared peer connections. Sans-IO like the per-topic state it drives.
//
// Contract with the driver (IO shell or simulator):
//  - Feed inputs with handle(topic, input, now). Outputs are appended to `out`,
//    each tagged with the topic it came from.
//  - out::send: deliver the message to the peer (dialling it if needed) as
//    (topic, message); the receiver feeds it back as in::received.
//  - out::schedule: after `after`, feed in::timer_fired{t} for that topic.
//  - out::drop_peer: emitted only when no topic needs the peer any more; the
//    driver may close the connection.
//  - When a connection closes or a dial fails, call peer_disconnected(peer).
#pragma once

#include "gossip/proto.hpp"
#include "gossip/topic_state.hpp"  // topic_counters

#include <map>
#include <memory>
#include <vector>

namespace topicswarm::gossip {

struct routed {
  topic_id topic;
  out::output o;
};

class router {
 public:
  router(peer_info me, config cfg, std::uint64_t rng_seed);
  ~router();
  router(router&&) noexcept;
  router& operator=(router&&) noexcept;

  // Creates the topic's state on first use: join_peers, broadcast, or a
  // received join / neighbor request (how a bootstrap node learns of a topic).
  // Other inputs for a topic we are not in (stale timers after a leave,
  // answers, gossip) are ignored and do not resurrect it.
  void handle(const topic_id& topic, in::input input, instant now, std::vector<routed>& out);
  // A connection to `peer` is up and comes from `remote` (the address the
  // shell saw): the active views' range rule counts it there until the peer
  // disconnects (docs/PROTOCOL.md §9).
  void peer_source(const node_id& peer, const endpoint& remote);
  // Our own addresses changed: every topic's messages carry the new ones.
  void set_my_addresses(const std::vector<endpoint>& a);
  // A connection closed or a dial failed: every topic that knows the peer hears of it.
  void peer_disconnected(const node_id& peer, instant now, std::vector<routed>& out);
  // Leave a topic: neighbours are told (disconnect), its state is erased, and
  // peers no other topic uses are dropped.
  void leave(const topic_id& topic, instant now, std::vector<routed>& out);

  bool has_topic(const topic_id& topic) const;
  std::vector<topic_id> topics() const;
  std::vector<node_id> active_view(const topic_id& topic) const;
  std::vector<node_id> passive_view(const topic_id& topic) const;
  // The topic's counters (gossip/topic_state.hpp); zeros if not joined.
  topic_counters counters(const topic_id& topic) const;
  // Read-only access to a topic's state (eager/lazy sets, caches); nullptr if
  // the topic is not joined. For tests, metrics and the simulator.
  const topic_state* find(const topic_id& topic) const;
  const peer_info& me() const noexcept { return me_; }

 private:
  peer_info me_;
  config cfg_;
  std::uint64_t seed_;
  std::map<topic_id, std::unique_ptr<topic_state>> topics_;  // ordered: deterministic iteration
  std::uint64_t incarnations_ = 0;  // topic states created so far (timer attempt numbering)
  // Shared with every topic state; bounded by the connections (erased on disconnect).
  std::shared_ptr<peer_sources> sources_ = std::make_shared<peer_sources>();
};

}  // namespace topicswarm::gossip
