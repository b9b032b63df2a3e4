// The admission driver: the admission core (src/admission) between the
// gossip driver and the transport. Every topic frame we send goes through
// send(): it leaves at once when the peer has proven the topic on its
// connection, and is otherwise held (bounded) while the core proves us and
// waits for the peer's proof; every topic frame we receive is let through
// only if accepts() says the peer proved that topic (docs/PROTOCOL.md §12).
//
// The core's outputs become IO here: proofs and refusals are admission
// frames (kind 6), `admitted` releases what was held, `refused` drops it and
// tells the listener (the gossip driver, whose router then treats the peer
// as gone from that topic), `close` closes the connection.
#pragma once

#include "admission/admission.hpp"
#include "core/timer_queue.hpp"
#include "node/shell.hpp"

#include <topicswarm/node.hpp>

#include <map>
#include <utility>
#include <vector>

namespace topicswarm::detail {

// Who hears that a peer will not exchange a topic with us.
class admission_listener {
 public:
  virtual ~admission_listener() = default;
  virtual void on_refused(const topic_id& wire_topic, const node_id& peer) = 0;
};

class admission_driver final : public driver {
 public:
  // `max_held_bytes`: frames held per peer and topic while admission runs
  // (beyond it, frames are dropped and counted: the peer is not ours yet).
  admission_driver(shell& sh, admission::config cfg, std::size_t max_held_bytes);

  void set_listener(admission_listener* l) { listener_ = l; }

  // ---- topics (the gossip driver's subscriptions)
  void add_topic(const topic_id& wire_topic, const secret_hash& key);
  void remove_topic(const topic_id& wire_topic);

  // ---- topic frames
  enum class route { sent, held, no_route };
  // Sends (or holds) one whole frame for `wire_topic` to `peer`, dialling
  // it from the address book when it has no connection (or, with no address
  // to dial, asking for a connection reversal). no_route: not connected, not
  // being dialled, and neither a dial nor a reversal could start (nothing held).
  route send(const node_id& peer, const topic_id& wire_topic, byte_span frame);
  // Whether a frame for `wire_topic` from `peer` is accepted.
  bool accepts(const node_id& peer, const topic_id& wire_topic) const { return core_.admitted(peer, wire_topic); }
  void count_not_admitted() { ++frames_not_admitted_; }

  // ---- transport
  void on_frame(const node_id& peer, const net::link_info& link, byte_span body);
  void on_link(const node_id& peer, const net::link_info& link);
  void on_disconnected(const node_id& peer, const error& why) override;
  // We closed the connection (shell::close): the transport does not report
  // that, and the peer forgets our admissions, so we forget its.
  void closed_by_us(const node_id& peer);

  // ---- driver
  std::optional<core::instant> next_timer() const override { return timers_.next(); }
  void fire_timers(core::instant now) override;
  void finish_stop() override;
  void add_stats(node_stats& s) const override;
  std::size_t timers() const override { return timers_.size(); }

 private:
  struct held {
    bytes frames;  // whole frames, in order
  };
  void feed(admission::in::input in);
  void process();
  static admission::link to_core(const net::link_info& l);

  shell& sh_;
  admission::state core_;
  std::size_t max_held_bytes_;
  admission_listener* listener_ = nullptr;
  core::timer_queue<admission::timer> timers_;
  std::vector<admission::out::output> out_;
  std::map<std::pair<node_id, topic_id>, held> held_;
  bytes frame_;  // scratch: one encoded admission frame
  bool processing_ = false;
  std::uint64_t frames_not_admitted_ = 0, frames_held_ = 0, held_dropped_ = 0, held_released_ = 0;
};

}  // namespace topicswarm::detail
