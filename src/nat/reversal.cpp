#include "nat/reversal.hpp"

#include <algorithm>

namespace topicswarm::nat::reversal {

bool state::bucket::take(instant now, std::size_t burst, std::size_t per_minute) {
  if (!at) {
    tokens = static_cast<double>(burst);
  } else {
    const double minutes = std::chrono::duration<double>(now - *at).count() / 60.0;
    tokens = std::min(static_cast<double>(burst), tokens + minutes * static_cast<double>(per_minute));
  }
  at = now;
  if (tokens < 1.0) return false;
  tokens -= 1.0;
  return true;
}

state::state(config cfg, std::uint64_t seed) : cfg_(cfg), rng_(seed) {}

void state::handle(in::input input, instant now, std::vector<out::output>& out) {
  std::visit(
      [&](auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, in::link_up>) {
          peers_[v.peer] = peer{v.remote, v.local, v.speaks};
          if (auto p = pending_.find(v.peer); p != pending_.end()) {
            ++counters_.succeeded;
            pending_.erase(p);
          }
        } else if constexpr (std::is_same_v<T, in::link_down>) {
          peers_.erase(v.peer);
          forward_buckets_.erase(v.peer);
          dial_buckets_.erase(v.peer);
          std::vector<node_id> waiting;
          for (const auto& [target, p] : pending_)
            if (p.asked.contains(v.peer)) waiting.push_back(target);
          for (const auto& t : waiting) helper_gone(t, v.peer, out);
        } else if constexpr (std::is_same_v<T, in::received>) {
          if (!peers_.contains(v.peer)) return;  // a frame racing its link's close
          if (const auto* q = std::get_if<wire::reverse_request>(&v.msg)) {
            on_request(v.peer, *q, now, out);
          } else if (const auto* a = std::get_if<wire::reverse_answer>(&v.msg)) {
            on_answer(v.peer, *a, out);
          } else if (const auto* r = std::get_if<wire::reverse>(&v.msg)) {
            on_reverse(v.peer, *r, v.busy, now, out);
          }
        } else if constexpr (std::is_same_v<T, in::dial_done>) {
          if (dials_in_flight_.erase(v.peer) == 0) return;
          ++(v.connected ? counters_.dial_connected : counters_.dial_failed);
        } else if constexpr (std::is_same_v<T, in::listen>) {
          listen_ = v.endpoints;
        } else if constexpr (std::is_same_v<T, in::timer_fired>) {
          auto p = pending_.find(v.t.target);
          if (p == pending_.end() || p->second.serial != v.t.serial) return;
          ++counters_.timeouts;
          pending_.erase(p);
          // The transport's own wait ends at the same time.
        }
      },
      input);
}

bool state::timer_applies(const timer& t) const {
  auto p = pending_.find(t.target);
  return p != pending_.end() && p->second.serial == t.serial;
}

// ------------------------------------------------------------ requester ---

bool state::want(const node_id& target, instant now, std::vector<out::output>& out) {
  (void)now;
  if (pending_.contains(target)) return true;  // already asked: the transport waits for that one
  if (peers_.contains(target)) return false;   // connected: nothing to reverse
  std::vector<node_id> helpers;
  for (const auto& [id, p] : peers_) {
    if (!p.speaks || id == target) continue;
    // Our listen port in the family of the connection the helper sees us on.
    // (The family is copied: clang 14 cannot capture a structured binding.)
    const auto fam = p.local.fam;
    if (std::none_of(listen_.begin(), listen_.end(), [fam](const endpoint& l) { return l.fam == fam; })) continue;
    helpers.push_back(id);
  }
  if (helpers.empty() || pending_.size() >= cfg_.max_pending) {
    ++counters_.no_helper;
    return false;
  }
  auto& p = pending_[target];
  p.serial = ++serial_;
  for (const auto& h : rng_.sample(std::move(helpers), cfg_.helpers)) {
    const auto& hp = peers_.at(h);
    const auto l = std::find_if(listen_.begin(), listen_.end(), [&](const endpoint& e) { return e.fam == hp.local.fam; });
    p.asked.insert(h);
    out.push_back(out::send{h, wire::reverse_request{target, l->port}});
  }
  ++counters_.requested;
  out.push_back(out::schedule{cfg_.timeout, timer{target, p.serial}});
  return true;
}

void state::on_answer(const node_id& from, const wire::reverse_answer& a, std::vector<out::output>& out) {
  auto p = pending_.find(a.target);
  if (p == pending_.end() || !p->second.asked.contains(from)) {
    ++counters_.unexpected;
    return;
  }
  if (a.code == wire::reverse_code::forwarded) {
    p->second.forwarded = true;
    p->second.asked.erase(from);
    return;
  }
  ++(a.code == wire::reverse_code::unknown ? counters_.answers_unknown : counters_.answers_refused);
  helper_gone(a.target, from, out);
}

void state::helper_gone(const node_id& target, const node_id& helper, std::vector<out::output>& out) {
  auto p = pending_.find(target);
  if (p == pending_.end()) return;
  p->second.asked.erase(helper);
  if (!p->second.asked.empty() || p->second.forwarded) return;
  ++counters_.failed;
  pending_.erase(p);
  out.push_back(out::failed{target});
}

// --------------------------------------------------------------- helper ---

void state::on_request(const node_id& from, const wire::reverse_request& q, instant now,
                       std::vector<out::output>& out) {
  const auto answer = [&](wire::reverse_code c) { out.push_back(out::send{from, wire::reverse_answer{q.target, c}}); };
  if (q.target == from) {
    ++counters_.forward_refused;
    return answer(wire::reverse_code::refused);
  }
  auto t = peers_.find(q.target);
  if (t == peers_.end() || !t->second.speaks) {
    ++counters_.forward_unknown;
    return answer(wire::reverse_code::unknown);
  }
  if (!forward_buckets_[from].take(now, cfg_.forward_burst, cfg_.forward_per_minute) ||
      !forward_total_.take(now, cfg_.forward_total_burst, cfg_.forward_total_per_minute)) {
    ++counters_.forward_refused;
    return answer(wire::reverse_code::refused);
  }
  // The requester's IP as our connection sees it, never one it names.
  endpoint at = peers_.at(from).remote;
  at.port = q.port;
  ++counters_.forwarded;
  out.push_back(out::send{q.target, wire::reverse{from, at}});
  answer(wire::reverse_code::forwarded);
}

// --------------------------------------------------------------- target ---

void state::on_reverse(const node_id& helper, const wire::reverse& r, bool busy, instant now,
                       std::vector<out::output>& out) {
  if (busy || peers_.contains(r.from)) {
    ++counters_.dial_skipped;
    return;
  }
  std::erase_if(last_dialled_, [&](const auto& kv) { return now - kv.second >= cfg_.redial_interval; });
  if (last_dialled_.contains(r.from) || dials_in_flight_.contains(r.from)) {
    ++counters_.dial_skipped;
    return;
  }
  if (!policy_.allows(r.address) || dials_in_flight_.size() >= cfg_.max_dials_in_flight ||
      last_dialled_.size() >= cfg_.max_dials_in_flight * 4 ||
      !dial_buckets_[helper].take(now, cfg_.dial_burst, cfg_.dial_per_minute) ||
      !dial_total_.take(now, cfg_.dial_total_burst, cfg_.dial_total_per_minute)) {
    ++counters_.dial_refused;
    return;
  }
  last_dialled_[r.from] = now;
  dials_in_flight_.insert(r.from);
  ++counters_.dialled;
  out.push_back(out::dial{r.from, r.address});
}

}  // namespace topicswarm::nat::reversal
