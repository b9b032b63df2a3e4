#include "node/admission_driver.hpp"

#include "net/frame.hpp"

namespace topicswarm::detail {

admission_driver::admission_driver(shell& sh, admission::config cfg, std::size_t max_held_bytes)
    : sh_(sh), core_(sh.me().id, cfg), max_held_bytes_(max_held_bytes) {}

admission::link admission_driver::to_core(const net::link_info& l) {
  admission::link out;
  out.id = l.id;
  std::copy(l.exporter.begin(), l.exporter.end(), out.secret.data());
  return out;
}

// ------------------------------------------------------------------ topics --

void admission_driver::add_topic(const topic_id& wire_topic, const secret_hash& key) {
  core_.add_topic(wire_topic, key);
}

void admission_driver::remove_topic(const topic_id& wire_topic) {
  core_.remove_topic(wire_topic, out_);
  // The core answers the topic's wants with refused{topic_left}; drop
  // whatever is still held for it either way.
  std::erase_if(held_, [&](const auto& kv) {
    if (kv.first.second != wire_topic) return false;
    ++held_dropped_;
    return true;
  });
  process();
}

// ------------------------------------------------------------------ frames --

admission_driver::route admission_driver::send(const node_id& peer, const topic_id& wire_topic, byte_span frame) {
  auto& tr = sh_.transport();
  if (core_.admitted(peer, wire_topic)) {
    if (tr.send(peer, frame) != net::transport::send_status::no_route) return route::sent;
  }
  const auto link = tr.link(peer);
  if (!link && !tr.dialling(peer)) {
    // With no address we may dial, only a connection reversal can start
    // the dial (docs/PROTOCOL.md §19.7).
    tr.dial(peer, sh_.book().find(peer));
    if (!tr.dialling(peer) && !tr.connected(peer)) return route::no_route;  // nothing to dial, or refused at once
  }
  auto& h = held_[{peer, wire_topic}];
  if (h.frames.size() + frame.size() > max_held_bytes_) {
    ++held_dropped_;
  } else {
    h.frames.insert(h.frames.end(), frame.begin(), frame.end());
    ++frames_held_;
  }
  std::optional<admission::link> l;
  if (link) l = to_core(*link);
  feed(admission::in::want{peer, wire_topic, l});
  return route::held;
}

void admission_driver::on_frame(const node_id& peer, const net::link_info& link, byte_span body) {
  auto m = admission::wire::decode(body);
  if (!m)
    feed(admission::in::malformed{peer});
  else
    feed(admission::in::received{peer, to_core(link), std::move(*m)});
}

void admission_driver::on_link(const node_id& peer, const net::link_info& link) {
  feed(admission::in::link_up{peer, to_core(link)});
}

void admission_driver::on_disconnected(const node_id& peer, const error&) { closed_by_us(peer); }

void admission_driver::closed_by_us(const node_id& peer) {
  for (auto it = held_.lower_bound({peer, topic_id{}}); it != held_.end() && it->first.first == peer;) {
    ++held_dropped_;
    it = held_.erase(it);
  }
  feed(admission::in::link_down{peer});
}

// ----------------------------------------------------------------- effects --

void admission_driver::feed(admission::in::input in) {
  if (sh_.stopped()) return;
  core_.handle(std::move(in), sh_.now(), out_);
  process();
}

void admission_driver::process() {
  if (processing_) return;  // the loop below picks up outputs added meanwhile
  processing_ = true;
  for (std::size_t i = 0; i < out_.size(); ++i) {
    auto o = std::move(out_[i]);
    std::visit(
        [&](auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, admission::out::send>) {
            frame_.clear();
            const auto start = net::begin_frame(frame_, net::frame_kind::admission);
            admission::wire::encode_to(frame_, e.msg);
            net::end_frame(frame_, start);
            sh_.transport().send(e.to, frame_);
          } else if constexpr (std::is_same_v<T, admission::out::admitted>) {
            auto h = held_.find({e.peer, e.topic});
            if (h == held_.end()) return;
            auto frames = std::move(h->second.frames);
            held_.erase(h);
            ++held_released_;
            sh_.transport().send(e.peer, frames);  // whole frames back to back: one enqueue
          } else if constexpr (std::is_same_v<T, admission::out::refused>) {
            if (held_.erase({e.peer, e.topic}) > 0) ++held_dropped_;
            if (listener_ && e.why != admission::refusal::topic_left) listener_->on_refused(e.topic, e.peer);
          } else if constexpr (std::is_same_v<T, admission::out::close>) {
            // Our own close: the transport will not report it, so the
            // topics that waited on the peer hear it from us.
            std::vector<topic_id> waiting;
            for (auto it = held_.lower_bound({e.peer, topic_id{}}); it != held_.end() && it->first.first == e.peer; ++it)
              waiting.push_back(it->first.second);
            sh_.close(e.peer, e.why.detail.c_str());  // calls closed_by_us()
            if (listener_)
              for (const auto& t : waiting) listener_->on_refused(t, e.peer);
          } else if constexpr (std::is_same_v<T, admission::out::schedule>) {
            timers_.add(sh_.now() + e.after, std::move(e.t));
          }
        },
        o);
  }
  out_.clear();
  processing_ = false;
  // Deadlines that no longer apply (proven, refused, the link or the peer
  // gone, a want re-armed by a new link) do nothing when they fire: forget
  // them now, so a node with nothing pending holds no timers.
  timers_.erase_if([this](const admission::timer& t) { return !core_.timer_applies(t); });
  sh_.timers_changed();
}

void admission_driver::fire_timers(core::instant now) {
  for (auto& t : timers_.take_due(now)) core_.handle(admission::in::timer_fired{std::move(t)}, now, out_);
  process();
}

void admission_driver::finish_stop() {
  timers_.clear();
  held_.clear();
}

void admission_driver::add_stats(node_stats& s) const {
  const auto& c = core_.stats();
  auto& a = s.admission;
  a.proofs_sent = c.proofs_sent;
  a.proofs_accepted = c.proofs_accepted;
  a.proofs_invalid = c.proofs_invalid;
  a.proofs_unknown_topic = c.proofs_unknown_topic;
  a.malformed = c.malformed;
  a.refusals_sent = c.refusals_sent;
  a.refusals_received = c.refusals_received;
  a.want_timeouts = c.want_timeouts;
  a.closed_no_topic = c.closed_no_topic;
  a.closed_failures = c.closed_failures;
  a.frames_not_admitted = frames_not_admitted_;
  a.frames_held = frames_held_;
  a.frames_held_dropped = held_dropped_;
  for (const auto& [k, h] : held_) a.held_bytes += h.frames.size();
}

}  // namespace topicswarm::detail
