// The nat driver: the reachability and connection reversal cores (src/nat)
// on the transport. nat frames (kind 7) go to the core their type belongs
// to, probe connections to reachability; the cores' sends become frames on
// the peer's connection (never a dial: both speak only to connected peers),
// reachability's probes transport::probe() calls and its changes a
// callback to the node, which re-advertises; reversal answers the
// transport's on_reverse() and its dials are transport dials
// (docs/PROTOCOL.md §19).
#pragma once

#include "core/timer_queue.hpp"
#include "nat/reachability.hpp"
#include "nat/reversal.hpp"
#include "node/shell.hpp"

#include <topicswarm/node.hpp>

#include <functional>
#include <vector>

namespace topicswarm::detail {

class nat_driver final : public driver {
 public:
  nat_driver(shell& sh, const reachability_config& cfg, std::uint64_t seed);

  // Registers the nat kind and the probe handler (before transport::run()).
  void attach(net::transport& t);
  // Runs after each change of reachability or of the addresses to advertise.
  void on_changed(std::function<void()> f) { changed_ = std::move(f); }

  // A port mapping's external address appeared (or went).
  void mapping(const endpoint& external, bool gone) { feed(nat::in::mapping{external, gone}); }
  // Our listen and local addresses (at start, and when they change).
  void set_local(const std::vector<endpoint>& addresses, const std::vector<endpoint>& listen);
  // The address policy of our dials: dial-back requests for an address we
  // would not dial are refused.
  void set_policy(const core::address_policy& p) {
    core_.set_policy(p);
    reversal_.set_policy(p);
  }

  topicswarm::reachability status() const;
  std::vector<endpoint> advertised() const { return core_.advertised(); }
  topicswarm::network_status network_status() const;

  // ---- transport
  void on_link(const node_id& peer, const net::link_info& link);
  void on_disconnected(const node_id& peer, const error& why) override;
  // A punch that was to replace `peer`'s relayed connection failed.
  void upgrade_failed(const node_id& peer) { feed(nat::reversal::in::dial_done{peer, false}); }
  // We closed the connection (shell::close): the transport does not report it.
  void closed_by_us(const node_id& peer) { on_disconnected(peer, error{}); }

  // ---- driver
  std::optional<core::instant> next_timer() const override;
  void fire_timers(core::instant now) override;
  void finish_stop() override {
    timers_.clear();
    reversal_timers_.clear();
  }
  void add_stats(node_stats& s) const override;
  std::size_t timers() const override { return timers_.size() + reversal_timers_.size(); }

 private:
  void on_frame(const node_id& peer, const net::link_info& link, byte_span body);
  void on_probe(const net::probe_info& from, net::frame_kind kind, byte_span body);
  void feed(nat::in::input in);
  void feed(nat::reversal::in::input in);
  void process();
  void process_reversal();
  // transport::on_reverse: asks helpers to have `peer` dial us.
  bool want_reversal(const node_id& peer);
  void send(const node_id& to, const nat::wire::message& m);

  shell& sh_;
  bool reversal_on_;
  bool relay_serve_;
  nat::state core_;
  nat::reversal::state reversal_;
  core::timer_queue<nat::timer> timers_;
  core::timer_queue<nat::reversal::timer> reversal_timers_;
  std::vector<nat::out::output> out_;
  std::vector<nat::reversal::out::output> reversal_out_;
  bool reversal_processing_ = false;
  std::function<void()> changed_;
  bool processing_ = false;
  bytes frame_;
  std::vector<endpoint> external_;  // what the book was last told
};

}  // namespace topicswarm::detail
