// HyParView + PlumTree for one topic: routes inputs to the right protocol,
// validates messages, and keeps PlumTree's neighbour sets equal to
// HyParView's active view (every neighbor_up/down HyParView emits is fed to
// PlumTree before handle() returns).
#pragma once

#include "gossip/hyparview.hpp"
#include "gossip/plumtree.hpp"
#include "gossip/proto.hpp"
#include "core/rng.hpp"

#include <memory>
#include <vector>

namespace topicswarm::gossip {

// One topic's counters: each protocol's own, and what topic_state counts
// before handing a message on.
struct topic_counters {
  membership_counters membership;
  broadcast_counters broadcast;
  std::uint64_t messages_received = 0;   // every message fed in for the topic
  std::uint64_t malformed_messages = 0;  // failed well_formed(), or claimed to come from us
};

class topic_state {
 public:
  // `attempt_base`: distinct per incarnation of the topic in one router (see
  // hyparview), so stale timers of a left topic cannot match a re-joined one.
  // `sources`: see hyparview (the router's table of where peers connect from).
  topic_state(const peer_info& me, const config& cfg, std::uint64_t rng_seed, std::uint64_t attempt_base = 0,
              std::shared_ptr<const peer_sources> sources = nullptr);
  topic_state(const topic_state&) = delete;  // the protocols hold references into it
  topic_state& operator=(const topic_state&) = delete;

  // in::quit is handled as leave().
  void handle(in::input input, instant now, std::vector<out::output>& out);
  // Disconnect (not alive) to every neighbour and pending peer; drop them.
  void leave(instant now, std::vector<out::output>& out);

  // Needs a connection to `peer` (active view or a pending request).
  bool uses(const node_id& peer) const { return membership_.uses(peer); }

  // Structural checks the codec would have made (the simulator feeds messages
  // without encoding them): address, list and ttl bounds, enum ranges.
  static bool well_formed(const wire::message& msg);

  const hyparview& membership() const noexcept { return membership_; }
  const plumtree& broadcast() const noexcept { return broadcast_; }
  topic_counters counters() const;
  const peer_info& me() const noexcept { return me_; }
  void set_my_addresses(const std::vector<endpoint>& a) {
    me_.addresses = a;
    membership_.set_my_addresses(a);
  }

 private:
  void on_received(in::received&& r, instant now, std::vector<out::output>& out);
  void on_timer(const timers::timer& t, instant now, std::vector<out::output>& out);
  // Feeds neighbour events emitted since `mark` to PlumTree.
  void sync(std::size_t mark, std::vector<out::output>& out);

  peer_info me_;
  config cfg_;
  core::rng rng_;
  std::uint64_t messages_received_ = 0, malformed_messages_ = 0;
  hyparview membership_;
  plumtree broadcast_;
  bool started_ = false;
};

}  // namespace topicswarm::gossip
