#include "node/lan_driver.hpp"

#include "core/address_policy.hpp"
#include "node/interfaces.hpp"

#include <asio/detail/socket_option.hpp>
#include <asio/ip/multicast.hpp>

#include <sys/socket.h>

namespace topicswarm::detail {

namespace {
lan::config to_core(const lan_config& c) {
  lan::config out;
  out.interval = c.interval;
  return out;
}

asio::ip::address_v4 to_v4(const endpoint& e) {
  return asio::ip::address_v4({e.ip[0], e.ip[1], e.ip[2], e.ip[3]});
}

endpoint from_udp(const asio::ip::udp::endpoint& e) {
  if (e.address().is_v4()) return endpoint::v4(e.address().to_v4().to_bytes(), e.port());
  return endpoint::v6(e.address().to_v6().to_bytes(), e.port());
}

const asio::ip::address_v4 group{lan::group_v4};
}  // namespace

lan_driver::lan_driver(shell& sh, gossip_driver& gossip, const lan_config& cfg)
    : sh_(sh), gossip_(gossip), cfg_(cfg), core_(to_core(cfg), sh.me().id) {}

lan_driver::~lan_driver() { *alive_ = false; }

result<void> lan_driver::start(const std::vector<endpoint>& listen) {
  // Where to beacon: the interface of each IPv4 listen address; for an
  // unspecified one, every IPv4 interface that is up. Never loopback (it
  // carries no multicast, and a beacon there would reach no one else).
  std::uint16_t port = 0;
  std::vector<endpoint> on;
  for (const auto& l : listen) {
    if (!l.is_v4()) continue;
    if (port == 0) port = l.port;
    if (core::classify(l) == core::address_class::unspecified) {
      for (const auto& a : interface_addresses(endpoint::family::v4, 0))
        if (core::classify(a) != core::address_class::loopback) on.push_back(a);
    } else if (core::classify(l) != core::address_class::loopback) {
      on.push_back(l);
    }
  }
  for (const auto& e : on)
    if (std::find(interfaces_.begin(), interfaces_.end(), to_v4(e)) == interfaces_.end())
      interfaces_.push_back(to_v4(e));
  if (port == 0 || interfaces_.empty())
    return error{errc::invalid_argument, "LAN discovery needs an IPv4 listen address that is not loopback"};

  using asio::ip::udp;
  socket_ = std::make_unique<udp::socket>(sh_.io());
  std::error_code ec;
  socket_->open(udp::v4(), ec);
  if (!ec) socket_->set_option(udp::socket::reuse_address(true), ec);
  if (!ec) socket_->set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
  if (!ec) socket_->bind(udp::endpoint(asio::ip::address_v4::any(), cfg_.port), ec);
  if (!ec) socket_->set_option(asio::ip::multicast::hops(1), ec);
  if (!ec) socket_->set_option(asio::ip::multicast::enable_loopback(true), ec);
  if (ec) {
    socket_.reset();
    return error{errc::bind_failed, "LAN beacon socket on UDP port " + std::to_string(cfg_.port) + ": " + ec.message()};
  }
  std::vector<asio::ip::address_v4> joined;
  for (const auto& i : interfaces_) {
    std::error_code jec;
    socket_->set_option(asio::ip::multicast::join_group(group, i), jec);
    if (!jec) joined.push_back(i);  // (an interface without multicast: skipped)
  }
  interfaces_ = std::move(joined);
  if (interfaces_.empty()) {
    socket_.reset();
    return error{errc::bind_failed, "LAN discovery: no interface could join the beacon group"};
  }
  receive();
  feed(lan::in::listen{port});
  return {};
}

void lan_driver::add_topic(const topic_id& wire, const secret_hash& key) {
  if (!socket_) return;
  feed(lan::in::add_topic{wire, lan::key_for(wire, key)});
}

void lan_driver::receive() {
  socket_->async_receive_from(asio::buffer(buf_.data(), buf_.size()), sender_,
                              [this, alive = alive_](std::error_code ec, std::size_t n) {
                                if (!*alive || sh_.stopped() || !socket_) return;
                                if (ec == asio::error::operation_aborted) return;
                                if (!ec) feed(lan::in::datagram{from_udp(sender_), bytes(buf_.begin(), buf_.begin() + n)});
                                receive();
                              });
}

void lan_driver::feed(lan::in::input in) {
  if (sh_.stopped()) return;
  core_.handle(std::move(in), sh_.now(), minute(), out_);
  process();
}

void lan_driver::process() {
  if (processing_) return;
  processing_ = true;
  for (std::size_t i = 0; i < out_.size(); ++i) {
    auto o = std::move(out_[i]);
    if (auto* s = std::get_if<lan::out::send>(&o)) {
      // One datagram per interface; a failed send is counted, not retried
      // (the next beacon comes one interval later).
      for (const auto& i : interfaces_) {
        std::error_code ec;
        socket_->set_option(asio::ip::multicast::outbound_interface(i), ec);
        if (!ec) socket_->send_to(asio::buffer(s->payload.data(), s->payload.size()),
                                  asio::ip::udp::endpoint(group, cfg_.port), 0, ec);
        ++(ec ? send_failures_ : sent_);
      }
    } else if (auto* f = std::get_if<lan::out::found>(&o)) {
      // Already a neighbour in that topic: nothing to do.
      if (const auto* n = gossip_.neighbors(f->topic); n && n->contains(f->peer)) continue;
      gossip_.join(f->topic, {core::peer_info{f->peer, {f->address}}}, address_source::hearsay);
    } else if (auto* k = std::get_if<lan::out::schedule>(&o)) {
      timers_.add(sh_.now() + k->after, k->t);
    }
  }
  out_.clear();
  processing_ = false;
  timers_.erase_if([this](const lan::timer& t) { return !core_.timer_applies(t); });
  sh_.timers_changed();
}

void lan_driver::fire_timers(core::instant now) {
  for (auto& t : timers_.take_due(now)) core_.handle(lan::in::timer_fired{t}, now, minute(), out_);
  process();
}

void lan_driver::begin_stop() {
  if (!socket_) return;
  std::error_code ec;
  socket_->close(ec);  // the pending receive ends with operation_aborted
}

void lan_driver::add_stats(node_stats& s) const {
  const auto& c = core_.stats();
  auto& l = s.lan;
  l.sent = sent_;
  l.send_failures = send_failures_;
  l.received = c.received;
  l.malformed = c.malformed;
  l.own = c.own;
  l.stale = c.stale;
  l.rate_limited = c.rate_limited;
  l.unmatched = c.unmatched;
  l.matches = c.matches;
  l.found = c.found;
  l.repeats = c.repeats + c.table_full;  // (table_full: not reported again until entries age out)
  l.interfaces = interfaces_.size();
}

}  // namespace topicswarm::detail
