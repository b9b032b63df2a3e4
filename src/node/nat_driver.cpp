#include "node/nat_driver.hpp"

#include "net/frame.hpp"

namespace topicswarm::detail {

namespace {
nat::config to_core(const reachability_config& c) {
  nat::config out;
  out.check_delay = c.check_delay;
  out.check_timeout = c.check_timeout;
  out.recheck_interval = c.recheck_interval;
  out.retry_after = c.retry_after;
  out.serve_interval = c.serve_interval;
  out.serve_per_minute = c.serve_per_minute;
  return out;
}
nat::reversal::config to_reversal(const reachability_config& c) {
  nat::reversal::config out;
  out.timeout = c.reversal_timeout;
  out.punching = c.hole_punching;
  out.punch_window = c.punch_window;
  out.relay_serve = c.relay_serve;
  out.relay_max_circuits = c.relay_max_circuits;
  out.upgrade_after = c.relay_upgrade_after;
  return out;
}
}  // namespace

nat_driver::nat_driver(shell& sh, const reachability_config& cfg, std::uint64_t seed)
    : sh_(sh),
      reversal_on_(cfg.connection_reversal),
      relay_serve_(cfg.relay_serve),
      core_(to_core(cfg), seed),
      reversal_(to_reversal(cfg), core::mix_seed(seed)) {}

void nat_driver::attach(net::transport& t) {
  t.handle_kind(net::frame_kind::nat,
                net::link_frame_handler([this](const node_id& p, const net::link_info& l, byte_span b) {
                  on_frame(p, l, b);
                }));
  t.on_probe([this](const net::probe_info& from, net::frame_kind kind, byte_span body) { on_probe(from, kind, body); });
  if (reversal_on_) t.on_reverse([this](const node_id& peer) { return want_reversal(peer); });
  if (reversal_on_)
    t.on_punch_failed([this](const node_id& peer) {
      if (sh_.stopped()) return false;
      const bool asked = reversal_.punch_failed(peer, sh_.now(), reversal_out_);
      process_reversal();
      return asked;
    });
  if (reversal_on_ && relay_serve_)
    t.on_relay(
        [this](const net::relay_token& tok, const endpoint& remote) -> std::optional<std::uint64_t> {
          if (sh_.stopped()) return std::nullopt;
          return reversal_.admit(tok, remote);
        },
        [this](std::uint64_t circuit, std::uint64_t bytes, bool paired) {
          if (sh_.stopped()) return;
          reversal_.circuit_done(circuit, bytes, paired);
          process_reversal();  // (its deadline timer no longer applies)
        });
  reversal_.set_self(sh_.me().id);
}

void nat_driver::set_local(const std::vector<endpoint>& addresses, const std::vector<endpoint>& listen) {
  feed(nat::in::local_addresses{addresses, listen});
  feed(nat::reversal::in::listen{listen});
}

void nat_driver::on_link(const node_id& peer, const net::link_info& link) {
  // A relayed connection's addresses are the relay's: it observes nothing,
  // checks nothing and helps no one (its peer is reached through the relay).
  const bool speaks = sh_.transport().peer_speaks(peer, net::frame_kind::nat) && link.path != net::link_path::relayed;
  feed(nat::in::link_up{peer, nat::link_ends{link.local, link.remote}, speaks});
  feed(nat::reversal::in::link_up{peer, link.remote, link.local, speaks, link.path == net::link_path::relayed});
  feed(nat::reversal::in::dial_done{peer, true});  // if we dialled it for a reverse frame
}

void nat_driver::on_disconnected(const node_id& peer, const error&) {
  feed(nat::in::link_down{peer});
  feed(nat::reversal::in::link_down{peer});
  // (A dial for a reverse frame, a punch or a relay that failed ends here
  // too; not one the transport still runs: we may have closed the peer's
  // link, or given up on it, while a punch or relay for it goes on.)
  if (!sh_.transport().connected(peer) && !sh_.transport().dialling(peer))
    feed(nat::reversal::in::dial_done{peer, false});
}

void nat_driver::on_frame(const node_id& peer, const net::link_info& link, byte_span body) {
  auto m = nat::wire::decode(body);
  if (!m) return feed(nat::in::malformed{peer});
  if (std::holds_alternative<nat::wire::reverse_request>(*m) || std::holds_alternative<nat::wire::reverse_answer>(*m) ||
      std::holds_alternative<nat::wire::reverse>(*m) || std::holds_alternative<nat::wire::punch_request>(*m) ||
      std::holds_alternative<nat::wire::punch>(*m) || std::holds_alternative<nat::wire::punch_answer>(*m) ||
      std::holds_alternative<nat::wire::relay_request>(*m) || std::holds_alternative<nat::wire::relay_offer>(*m) ||
      std::holds_alternative<nat::wire::relay_answer>(*m)) {
    if (!reversal_on_) return;  // not served: the requester's wait ends at its deadline
    bool busy = false;
    // Busy: connected (not through a relay: that one a punch may replace),
    // or dialling it at addresses of its own. A dial that waits for its own
    // reversal is not: both asked, and this frame says where to dial (the
    // transport's waiting dial takes the address or the punch).
    const auto busy_with = [&](const node_id& from) {
      return sh_.transport().direct_link(from) ||
             (sh_.transport().dialling(from) && !sh_.transport().awaiting_reversal(from));
    };
    if (const auto* r = std::get_if<nat::wire::reverse>(&*m)) busy = busy_with(r->from);
    if (const auto* p = std::get_if<nat::wire::punch>(&*m)) busy = busy_with(p->from);
    if (const auto* o = std::get_if<nat::wire::relay_offer>(&*m)) busy = busy_with(o->from);
    return feed(nat::reversal::in::received{peer, std::move(*m), busy});
  }
  feed(nat::in::received{peer, nat::link_ends{link.local, link.remote}, std::move(*m)});
}

bool nat_driver::want_reversal(const node_id& peer) {
  if (sh_.stopped()) return false;
  const bool asked = reversal_.want(peer, sh_.now(), reversal_out_);
  process_reversal();
  return asked;
}

void nat_driver::send(const node_id& to, const nat::wire::message& m) {
  frame_.clear();
  const auto start = net::begin_frame(frame_, net::frame_kind::nat);
  nat::wire::encode_to(frame_, m);
  net::end_frame(frame_, start);
  // Only on a connection the peer has: the cores never dial.
  if (sh_.transport().connected(to)) sh_.transport().send(to, frame_);
}

void nat_driver::feed(nat::reversal::in::input in) {
  if (sh_.stopped()) return;
  reversal_.handle(std::move(in), sh_.now(), reversal_out_);
  process_reversal();
}

void nat_driver::process_reversal() {
  if (reversal_processing_) return;  // the loop below picks up outputs added meanwhile
  reversal_processing_ = true;
  for (std::size_t i = 0; i < reversal_out_.size(); ++i) {
    auto o = std::move(reversal_out_[i]);
    std::visit(
        [&](auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, nat::reversal::out::send>) {
            send(e.to, e.msg);
          } else if constexpr (std::is_same_v<T, nat::reversal::out::dial>) {
            auto& tr = sh_.transport();
            tr.dial(e.peer, {e.address});
            if (!tr.dialling(e.peer) && !tr.connected(e.peer))  // refused at once (connection cap)
              reversal_.handle(nat::reversal::in::dial_done{e.peer, false}, sh_.now(), reversal_out_);
          } else if constexpr (std::is_same_v<T, nat::reversal::out::punch>) {
            auto& tr = sh_.transport();
            const auto window = std::chrono::duration_cast<std::chrono::milliseconds>(e.window);
            if (!tr.punch(e.peer, e.address, window))  // connected, or dialling it otherwise
              reversal_.handle(nat::reversal::in::dial_done{e.peer, tr.direct_link(e.peer)}, sh_.now(), reversal_out_);
          } else if constexpr (std::is_same_v<T, nat::reversal::out::relay>) {
            auto& tr = sh_.transport();
            const auto window = std::chrono::duration_cast<std::chrono::milliseconds>(e.window);
            if (!tr.relay_dial(e.peer, e.relay, e.tok, window))  // connected, or dialling it otherwise
              reversal_.handle(nat::reversal::in::dial_done{e.peer, tr.connected(e.peer)}, sh_.now(), reversal_out_);
          } else if constexpr (std::is_same_v<T, nat::reversal::out::failed>) {
            sh_.transport().reverse_failed(e.target);
          } else if constexpr (std::is_same_v<T, nat::reversal::out::schedule>) {
            reversal_timers_.add(sh_.now() + e.after, std::move(e.t));
          }
        },
        o);
  }
  reversal_out_.clear();
  reversal_processing_ = false;
  reversal_timers_.erase_if([this](const nat::reversal::timer& t) { return !reversal_.timer_applies(t); });
  sh_.timers_changed();
}

void nat_driver::on_probe(const net::probe_info& from, net::frame_kind kind, byte_span body) {
  if (kind != net::frame_kind::nat) return feed(nat::in::malformed{from.peer});
  auto m = nat::wire::decode(body);
  if (!m) return feed(nat::in::malformed{from.peer});
  feed(nat::in::probe_received{from.peer, from.remote, std::move(*m)});
}

void nat_driver::feed(nat::in::input in) {
  if (sh_.stopped()) return;
  core_.handle(std::move(in), sh_.now(), out_);
  process();
}

void nat_driver::process() {
  if (processing_) return;  // the loop below picks up outputs added meanwhile
  processing_ = true;
  bool changed = false;
  for (std::size_t i = 0; i < out_.size(); ++i) {
    auto o = std::move(out_[i]);
    std::visit(
        [&](auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, nat::out::send>) {
            send(e.to, e.msg);
          } else if constexpr (std::is_same_v<T, nat::out::probe>) {
            bytes f;
            const auto start = net::begin_frame(f, net::frame_kind::nat);
            nat::wire::encode_to(f, nat::wire::dialback_proof{e.n});
            net::end_frame(f, start);
            sh_.transport().probe(e.to, e.address, std::move(f),
                                  [this, to = e.to, n = e.n](result<void> r) {
                                    feed(nat::in::probe_done{to, n, r.has_value()});
                                  });
          } else if constexpr (std::is_same_v<T, nat::out::changed>) {
            changed = true;
          } else if constexpr (std::is_same_v<T, nat::out::schedule>) {
            timers_.add(sh_.now() + e.after, std::move(e.t));
          }
        },
        o);
  }
  out_.clear();
  processing_ = false;
  // Deadlines of rounds that ended early do nothing when they fire: forget
  // them now, so a node with nothing in progress holds no timers.
  timers_.erase_if([this](const nat::timer& t) { return !core_.timer_applies(t); });
  sh_.timers_changed();
  if (changed) reversal_.set_public(core_.status() == nat::reachability::reachable);
  reversal_.set_symmetric(core_.mapping() == nat::nat_mapping::endpoint_dependent);
  // Our public addresses as others see us: peers that list one are behind
  // our own NAT, and the book dials their LAN addresses first.
  std::vector<endpoint> external;
  for (const auto& c : core_.candidates()) external.push_back(c.address);
  if (external != external_) {
    external_ = external;
    sh_.book().set_external(std::move(external));
  }
  if (changed && changed_) changed_();
}

std::optional<core::instant> nat_driver::next_timer() const {
  const auto a = timers_.next(), b = reversal_timers_.next();
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

void nat_driver::fire_timers(core::instant now) {
  for (auto& t : timers_.take_due(now)) core_.handle(nat::in::timer_fired{std::move(t)}, now, out_);
  process();
  for (auto& t : reversal_timers_.take_due(now))
    reversal_.handle(nat::reversal::in::timer_fired{std::move(t)}, now, reversal_out_);
  process_reversal();
}

topicswarm::reachability nat_driver::status() const {
  return static_cast<topicswarm::reachability>(core_.status());  // same values (api.cpp asserts it)
}

topicswarm::network_status nat_driver::network_status() const {
  topicswarm::network_status s;
  s.reachability = status();
  s.nat_mapping = std::string(nat::to_string(core_.mapping()));
  for (const auto& c : reversal_.circuit_list())
    s.relay_circuits.push_back(relay_circuit_status{c.requester, c.target, c.running});
  for (const auto& c : core_.candidates()) {
    address_check a;
    a.address = c.address;
    a.sources = nat::sources_to_string(c.sources);
    a.state = std::string(nat::to_string(c.state));
    a.observers = c.observers;
    a.confirmations = c.confirmations;
    a.failures = c.failures;
    s.candidates.push_back(std::move(a));
  }
  return s;
}

void nat_driver::add_stats(node_stats& s) const {
  const auto& c = core_.stats();
  auto& r = s.reachability;
  r.observations = c.observations;
  r.checks_started = c.checks_started;
  r.requests_sent = c.requests_sent;
  r.proofs_accepted = c.proofs_accepted;
  r.proofs_unexpected = c.proofs_unexpected;
  r.results_failed = c.results_failed;
  r.results_refused = c.results_refused;
  r.check_timeouts = c.check_timeouts;
  r.confirmations = c.confirmations;
  r.failures = c.failures;
  r.requests_served = c.requests_served;
  r.requests_refused = c.requests_refused;
  r.probes_delivered = c.probes_delivered;
  r.probes_failed = c.probes_failed;
  r.malformed = c.malformed;
  r.candidates_evicted = c.candidates_evicted;
  const auto& v = reversal_.stats();
  auto& o = s.reversal;
  o.requested = v.requested;
  o.succeeded = v.succeeded;
  o.failed = v.failed;
  o.timeouts = v.timeouts;
  o.no_helper = v.no_helper;
  o.answers_unknown = v.answers_unknown;
  o.answers_refused = v.answers_refused;
  o.forwarded = v.forwarded;
  o.forward_unknown = v.forward_unknown;
  o.forward_refused = v.forward_refused;
  o.dialled = v.dialled;
  o.dial_connected = v.dial_connected;
  o.dial_failed = v.dial_failed;
  o.dial_skipped = v.dial_skipped;
  o.dial_refused = v.dial_refused;
  o.unexpected = v.unexpected;
  const auto t = sh_.transport().stats();
  o.dials_waited = t.reversals_waited;
  o.dials_reached = t.reversals_connected;
  o.dials_not_reached = t.reversals_failed;
  auto& p = s.punch;
  p.requested = v.punches_requested;
  p.replies = v.punch_replies;
  p.no_reply = v.punch_no_reply;
  p.failed_helpers = v.punch_failed_helpers;
  p.agreed = v.punch_agreed;
  p.declined = v.punch_declined;
  p.unsynced = v.punch_unsynced;
  p.dials = v.punch_dials;
  p.connected = v.punch_connected;
  p.failed = v.punch_failed;
  p.runs = t.punches;
  p.connects = t.punch_connects;
  p.connects_failed = t.punch_connects_failed;
  p.simultaneous_opens = t.punch_simultaneous_opens;
  p.listener_answers = t.punch_listener_answers;
  p.runs_connected = t.punches_connected;
  p.runs_timed_out = t.punches_timed_out;
  p.runs_failed_handshake = t.punches_failed_handshake;
  p.accepted = t.punches_accepted;
  auto& rl = s.relay;
  rl.requested = v.relay_requested;
  rl.agreed = v.relay_agreed;
  rl.unavailable = v.relay_unavailable;
  rl.offers_taken = v.relay_offers_taken;
  rl.offers_declined = v.relay_offers_declined;
  rl.dials = v.relay_dials;
  rl.connected = v.relay_connected;
  rl.failed = v.relay_failed;
  rl.circuits_agreed = v.circuits_agreed;
  rl.circuits_refused = v.circuits_refused;
  rl.ends_admitted = v.circuit_ends_admitted;
  rl.ends_refused = t.relay_refused;  // the core's refusals, and ends that sent no whole token
  rl.circuits_done = v.circuits_done;
  rl.circuits_unpaired = v.circuits_unpaired;
  rl.circuits_running = reversal_.circuits();
  rl.relayed_bytes = t.relay_bytes;
  rl.limit_closes = t.relay_limit_closes;
  rl.upgrade_attempts = v.upgrade_attempts;
  rl.upgrades = t.upgrades;
  rl.upgrades_failed = t.upgrades_failed;
  r.probe_connections_sent = t.probes_sent;
  r.probe_connections_failed = t.probes_failed;
  r.probe_connections_received = t.probes_received;
  r.probe_connections_dropped = t.probes_dropped;
}

}  // namespace topicswarm::detail
