// The network discovery driver: the discovery core (src/discovery) of the
// node's network, and the IO its effects need:
//  - send: a discovery frame (kind `catalog`) through the admission driver,
//    so it leaves only once the peer has proven the network topic on its
//    connection; frames we receive are let through only from such peers;
//  - broadcast / join: the network topic in the gossip driver;
//  - dht_get / dht_put: the node's DHT client (the bootstrap chain);
//  - schedule: this driver's timer queue;
//  - events: the network's event cursors (bounded) and the mirror the
//    handles' synchronous getters read.
// It watches topics through topic_observer: the network topic's neighbours
// and messages feed the core; the other topics attached are the wire ids our
// entry lists. It hands catalog peers to topics (topic_candidates).
#pragma once

#include "core/timer_queue.hpp"
#include "discovery/discovery.hpp"
#include "node/admission_driver.hpp"
#include "node/gossip_driver.hpp"
#include "node/receiver_state.hpp"
#include "node/shell.hpp"

#include <topicswarm/node.hpp>

#include <map>
#include <memory>
#include <mutex>

namespace topicswarm::detail {

using network_event_channel = event_channel<network_event>;

// What the handles read without a trip to the node thread.
struct network_mirror {
  mutable std::mutex mu;
  std::map<node_id, peer_entry> peers;
  std::map<node_id, rtt_estimate> rtt;
  peer_entry local;
};

// Held by every network handle; the last one leaves the network.
struct network_shared {
  network_shared(std::shared_ptr<node_impl> n, network_id id, topic_id wire, std::shared_ptr<network_mirror> m)
      : node(std::move(n)), id(id), wire(wire), mirror(std::move(m)) {}
  ~network_shared();
  std::shared_ptr<node_impl> node;
  network_id id;
  topic_id wire;
  std::shared_ptr<network_mirror> mirror;
  std::size_t event_capacity = 1024;
};

class discovery_driver final : public driver, public topic_observer {
 public:
  discovery_driver(shell& sh, gossip_driver& gossip, admission_driver& gate, std::uint64_t seed);

  // On the node thread: joins the network (the key is hashed already).
  result<void> join(const network_config& cfg, const secret_hash& key, std::shared_ptr<network_mirror> mirror);
  // The last handle is gone: announce our departure and leave the network topic.
  void leave();
  // Our addresses changed (node_config::advertise_interfaces): the entry is
  // re-signed with them and announced.
  void addresses_changed();
  bool joined() const noexcept { return static_cast<bool>(core_); }
  void add_channel(std::shared_ptr<network_event_channel> c);
  void set_tags(std::vector<std::string> tags);
  // Catalog peers that list a topic (nearest first, max_rtt applied);
  // empty when not in a network or topics_from_catalog is off.
  std::vector<core::peer_info> topic_candidates(const topic_id& wire_topic) const;
  std::chrono::milliseconds catalog_first_wait() const { return cfg_.catalog_first_wait; }
  // Dials the catalog peers of a topic we just attached (and counts them).
  void dial_candidates(const topic_id& wire_topic);

  // ---- transport (frame kind catalog)
  void on_frame(const node_id& peer, byte_span body);

  // ---- topic_observer
  void on_neighbor(const topic_id& t, const node_id& peer, bool up) override;
  void on_message(const topic_id&, const message_id&) override {}
  void on_received(const topic_id& t, const node_id& from, byte_span content) override;
  void on_topic_attached(const topic_id& t) override;
  void on_topic_left(const topic_id& t) override;

  // ---- driver
  std::optional<core::instant> next_timer() const override { return timers_.next(); }
  void fire_timers(core::instant now) override;
  void on_disconnected(const node_id& peer, const error&) override;
  void begin_stop() override;
  void finish_stop() override;
  void add_stats(node_stats& s) const override;
  std::size_t timers() const override { return timers_.size(); }

 private:
  core::clock clock() const { return {sh_.now(), sh_.unix_ms()}; }
  void feed(discovery::in::input in);
  void perform(std::vector<discovery::out::output>& out);
  void emit(const network_event& ev);
  void update_topics();
  void mirror_rtt(const node_id& peer);
  // A peer lists topics of ours that have no neighbour yet: join them through it.
  void join_lonely_topics(const peer_entry& e);

  shell& sh_;
  gossip_driver& gossip_;
  admission_driver& gate_;
  std::uint64_t seed_;
  network_config cfg_;
  std::unique_ptr<discovery::state> core_;
  std::shared_ptr<network_mirror> mirror_;
  std::vector<std::weak_ptr<network_event_channel>> channels_;
  core::timer_queue<discovery::timers::timer> timers_;
  std::uint64_t lagged_ = 0, frames_not_admitted_ = 0, frames_malformed_ = 0, candidates_dialled_ = 0;
  bytes frame_;
  bool feeding_ = false;
  std::vector<discovery::in::input> pending_;  // inputs that arrived while feeding
};

}  // namespace topicswarm::detail
