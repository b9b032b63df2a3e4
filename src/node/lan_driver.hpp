// The LAN driver: the beacon core (src/lan) on a UDP multicast socket
// (docs/PROTOCOL.md §20). One socket bound to the beacon port on every
// address (SO_REUSEADDR + SO_REUSEPORT: several nodes on one host share
// it), member of the beacon group on each interface we beacon on; our
// beacons leave on each of those interfaces with TTL 1 and come back to us
// (loopback on, so nodes on one host see each other; our own are dropped by
// id). A found member is handed to the topic's gossip join, its address as
// hearsay (the address book's policy applies; TLS proves the id).
#pragma once

#include "core/timer_queue.hpp"
#include "lan/beacon.hpp"
#include "node/gossip_driver.hpp"
#include "node/shell.hpp"

#include <asio/ip/udp.hpp>

#include <array>
#include <memory>

namespace topicswarm::detail {

class lan_driver final : public driver, public topic_observer {
 public:
  lan_driver(shell& sh, gossip_driver& gossip, const lan_config& cfg);
  ~lan_driver() override;

  // Opens the socket and starts receiving. `listen`: the node's listen
  // endpoints (which interfaces to beacon on, which port to name). An error
  // says why LAN discovery cannot run (the node then runs without it).
  result<void> start(const std::vector<endpoint>& listen);
  // A topic we are in (its wire id and secret hash): its tag goes into our
  // beacons and beacons with its tag find members.
  void add_topic(const topic_id& wire, const secret_hash& key);

  // ---- topic_observer
  void on_neighbor(const topic_id&, const node_id&, bool) override {}
  void on_message(const topic_id&, const message_id&) override {}
  void on_topic_left(const topic_id& t) override { feed(lan::in::remove_topic{t}); }

  // ---- driver
  std::optional<core::instant> next_timer() const override { return timers_.next(); }
  void fire_timers(core::instant now) override;
  void begin_stop() override;
  void finish_stop() override { timers_.clear(); }
  void add_stats(node_stats& s) const override;
  std::size_t timers() const override { return timers_.size(); }

 private:
  void feed(lan::in::input in);
  void process();
  std::uint32_t minute() const { return static_cast<std::uint32_t>(sh_.unix_ms() / 60'000); }
  void receive();

  shell& sh_;
  gossip_driver& gossip_;
  lan_config cfg_;
  lan::state core_;
  core::timer_queue<lan::timer> timers_;
  std::vector<lan::out::output> out_;
  bool processing_ = false;
  std::unique_ptr<asio::ip::udp::socket> socket_;
  std::vector<asio::ip::address_v4> interfaces_;  // where beacons go
  std::array<std::byte, lan::max_beacon_size + 1> buf_{};  // one more: an oversized datagram is seen as such
  asio::ip::udp::endpoint sender_;
  std::uint64_t sent_ = 0, send_failures_ = 0;  // datagrams (one per interface a beacon)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // receive handlers check it
};

}  // namespace topicswarm::detail
