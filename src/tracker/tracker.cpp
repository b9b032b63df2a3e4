#include "tracker/tracker.hpp"

#include <algorithm>

namespace topicswarm::tracker {
namespace {

// A read of a window made this long after the window ended is final: nobody
// writes into a past window (writers always use their current one), except a
// writer whose clock is behind; docs/PROTOCOL.md §1 tolerates one window of
// skew, and this grace covers the usual few seconds of it.
constexpr std::uint64_t final_read_grace_ms = 10'000;
// Merge and publisher reads reuse slot views at most this old (a merge tick
// right after a publisher read costs no DHT traffic).
constexpr std::uint64_t reuse_max_age_ms = 5'000;
// Windows of slot views kept (current, previous, and one more for the
// "older records first" start).
constexpr std::uint64_t kept_windows = 3;
constexpr std::size_t max_unreachable_entries = 1024;

duration to_duration(std::chrono::milliseconds ms) { return std::chrono::duration_cast<duration>(ms); }

}  // namespace

tracker::tracker(node_id me, const auto_discovery_config& cfg, std::uint64_t seed)
    : me_(me),
      cfg_(cfg),
      // Read-only (max_bootstrap_records = 0, as in distributed-topic-tracker):
      // read the slots writers use by default, never write one.
      k_(cfg.bootstrap.max_bootstrap_records == 0 ? bootstrap_config{}.max_bootstrap_records
                                                  : cfg.bootstrap.max_bootstrap_records),
      read_only_(cfg.bootstrap.max_bootstrap_records == 0),
      rng_(seed) {}

void tracker::handle(in::input input, const clock& c, std::vector<out::output>& out) {
  std::visit(
      [&](auto& i) {
        using T = std::decay_t<decltype(i)>;
        if constexpr (std::is_same_v<T, in::start>)
          on_start(c, out);
        else if constexpr (std::is_same_v<T, in::timer_fired>)
          on_timer(i.t, c, out);
        else if constexpr (std::is_same_v<T, in::get_done>)
          on_get_done(i, c, out);
        else if constexpr (std::is_same_v<T, in::put_done>)
          on_put_done(i, c, out);
        else if constexpr (std::is_same_v<T, in::dial_done>)
          on_dial_done(i, c, out);
        else if constexpr (std::is_same_v<T, in::neighbor_up>)
          on_neighbor(i.peer, true, c, out);
        else if constexpr (std::is_same_v<T, in::neighbor_down>)
          on_neighbor(i.peer, false, c, out);
        else if constexpr (std::is_same_v<T, in::message_seen>)
          on_message_seen(i.id);
        else if constexpr (std::is_same_v<T, in::view>)
          on_view(i, c, out);
        else if constexpr (std::is_same_v<T, in::addresses_changed>)
          on_addresses_changed(c, out);
        else
          static_assert(sizeof(T) == 0, "an input without a handler");
      },
      input);
}

tracker_status tracker::status() const {
  tracker_status s;
  s.phase = phase_;
  s.neighbors = neighbors_.size();
  std::set<node_id> publishers;
  std::size_t windows = 0;
  for (auto it = views_.rbegin(); it != views_.rend() && windows < 2; ++it, ++windows)
    for (const auto& v : it->second)
      if (v.state == slot_state::other && v.record) publishers.insert(v.record->publisher);
  s.records_seen = publishers.size();
  return s;
}

duration tracker::jittered(duration base, duration jitter) {
  if (jitter.count() <= 0) return base;
  return base + duration(static_cast<duration::rep>(rng_.below(static_cast<std::size_t>(jitter.count()) + 1)));
}

// ------------------------------------------------------------------ inputs --

void tracker::on_start(const clock& c, std::vector<out::output>& out) {
  if (phase_ != phase::idle) return;
  if (!neighbors_.empty()) {  // someone joined us before we started looking
    become_joined(c, out);
    return;
  }
  phase_ = phase::bootstrapping;
  begin_bootstrap(c, out);
}

void tracker::on_timer(const timers::timer& t, const clock& c, std::vector<out::output>& out) {
  const std::uint64_t w = window_of(c.unix_ms);
  if (auto* p = std::get_if<timers::poll>(&t)) {
    if (p->gen == gen_ && phase_ == phase::bootstrapping) bootstrap_round(c, out);
  } else if (auto* j = std::get_if<timers::judge>(&t)) {
    if (j->gen == judge_gen_ && phase_ == phase::bootstrapping) judge_round(c, out);
  } else if (auto* pb = std::get_if<timers::publish>(&t)) {
    if (pb->gen != gen_ || phase_ != phase::joined) return;
    tick_again(cfg_.publisher.base_interval, cfg_.publisher.max_jitter, timers::publish{gen_}, out);
    publisher_tick(c, out);
  } else if (auto* rp = std::get_if<timers::republish>(&t)) {
    // Only the latest change counts: a burst of changes publishes once.
    if (rp->gen != gen_ || rp->change != address_changes_ || phase_ != phase::joined) return;
    ++c_.address_republishes;
    publisher_tick(c, out);
  } else if (auto* b = std::get_if<timers::bubble>(&t)) {
    if (b->gen != gen_ || phase_ != phase::joined) return;
    const auto& bc = cfg_.merge.bubble;
    tick_again(bc.base_interval, bc.max_jitter, timers::bubble{gen_}, out);
    // Only a node short of neighbours reads: a healthy one costs the DHT nothing.
    if (neighbors_.size() < bc.min_neighbors) request_read(p_bubble, {w, w - 1}, reuse_max_age_ms, c, out);
  } else if (auto* o = std::get_if<timers::overlap>(&t)) {
    if (o->gen != gen_ || phase_ != phase::joined) return;
    const auto& oc = cfg_.merge.message_overlap;
    tick_again(oc.base_interval, oc.max_jitter, timers::overlap{gen_}, out);
    // The island test needs our gossip views: ask, and decide when they come.
    overlap_tick_pending_ = true;
    out.push_back(out::view_wanted{});
  } else if (auto* sc = std::get_if<timers::settle_check>(&t)) {
    if (sc->gen != gen_ || phase_ != phase::joined) return;
    // Peers that started together can join in small groups that nobody else
    // joined: look once, early, instead of waiting for the first merge tick.
    if (cfg_.merge.bubble.enabled && neighbors_.size() < cfg_.merge.bubble.min_neighbors)
      request_read(p_bubble, {w, w - 1}, reuse_max_age_ms, c, out);
    if (cfg_.merge.message_overlap.enabled) {
      overlap_tick_pending_ = true;
      out.push_back(out::view_wanted{});
    }
  } else if (auto* r = std::get_if<timers::put_retry>(&t)) {
    if (!retry_ || retry_->first != r->put) return;
    if (retry_->second.window != w) {  // the window ended: a record for it is useless now
      retry_.reset();
      return;
    }
    // A put fails when a newer record took the slot (a lower seq is refused):
    // read the window again and choose afresh rather than overwrite it.
    request_read(p_retry, {w}, 0, c, out);
  } else if (auto* dt = std::get_if<timers::dial_timeout>(&t)) {
    auto n = dial_numbers_.find(dt->peer);
    if (n == dial_numbers_.end() || n->second != dt->dial) return;
    ++c_.dial_timeouts;
    on_dial_done(in::dial_done{dt->peer, false}, c, out);
  } else if (auto* i = std::get_if<timers::isolated>(&t)) {
    if (i->gen != gen_ || phase_ != phase::joined || !neighbors_.empty()) return;
    ++c_.rebootstraps;
    phase_ = phase::bootstrapping;
    first_round_ = false;
    begin_bootstrap(c, out);
  }
}

void tracker::on_get_done(const in::get_done& g, const clock& c, std::vector<out::output>& out) {
  auto it = gets_.find(g.request);
  if (it == gets_.end()) return;
  const get_req req = it->second;
  gets_.erase(it);

  auto& views = views_[req.window];
  if (views.size() != k_) views.resize(k_);
  slot_view& v = views[req.slot];
  const topic_record* found = nullptr;
  switch (g.outcome) {
    case get_outcome::empty:
      ++c_.slots_empty;
      v = slot_view{slot_state::empty, std::nullopt, c.unix_ms};
      break;
    case get_outcome::invalid:
      ++c_.records_invalid;
      v = slot_view{slot_state::invalid, std::nullopt, c.unix_ms};
      break;
    case get_outcome::timeout:
      ++c_.get_timeouts;  // keep whatever we knew of the slot
      break;
    case get_outcome::record:
      if (!g.record || g.record->window != req.window) {  // the driver opened it for another window
        ++c_.records_invalid;
        v = slot_view{slot_state::invalid, std::nullopt, c.unix_ms};
      } else if (g.record->publisher == me_) {
        ++c_.records_own;
        v = slot_view{slot_state::own, g.record, c.unix_ms};
      } else {
        ++c_.records_valid;
        v = slot_view{slot_state::other, g.record, c.unix_ms};
        found = &*v.record;
      }
      break;
  }
  // Our record is gone from its slot (a racing writer took it, or the DHT
  // dropped it): we are invisible, so the next chance to publish may be used.
  if (own_window_ == req.window && own_slot_ == req.slot && req.issued_ms >= own_put_ms_ &&
      (v.state == slot_state::empty || v.state == slot_state::invalid || v.state == slot_state::other) &&
      g.outcome != get_outcome::timeout) {
    ++c_.displaced;
    own_window_.reset();
    own_slot_.reset();
    if (bootstrap_published_window_ == req.window) bootstrap_published_window_.reset();
  }
  if (found && phase_ == phase::bootstrapping && round_ && round_->id == req.round && (round_->purposes & p_bootstrap))
    bootstrap_candidates(*found, c, out);

  if (round_ && round_->id == req.round && round_->pending > 0 && --round_->pending == 0) round_complete(c, out);
}

void tracker::on_put_done(const in::put_done& p, const clock& c, std::vector<out::output>& out) {
  auto it = puts_.find(p.request);
  if (it == puts_.end()) return;
  put_req& req = it->second;
  if (p.ok) {
    own_window_ = req.window;
    own_slot_ = req.slot;
    own_put_ms_ = c.unix_ms;
    auto& views = views_[req.window];
    if (views.size() != k_) views.resize(k_);
    views[req.slot] = slot_view{slot_state::own, std::nullopt, c.unix_ms};
    const bool bootstrap = req.bootstrap;
    last_put_time_ = c.now - req.issued;
    puts_.erase(it);
    // Peers that started with us put their records at about the same time:
    // read again right away, and the later of two writers sees the earlier.
    if (bootstrap && reread_after_put_ && phase_ == phase::bootstrapping) {
      reread_after_put_ = false;
      bootstrap_round(c, out, true);
    }
    return;
  }
  ++c_.put_failures;
  if (req.attempt < cfg_.dht.retries && req.window == window_of(c.unix_ms)) {
    // One retry chain at a time: a newer failure replaces an older one.
    retry_ = std::make_pair(p.request, put_req{req.window, req.slot, req.attempt + 1, req.bootstrap});
    schedule(jittered(to_duration(cfg_.dht.base_retry_interval), to_duration(cfg_.dht.max_retry_jitter)),
             timers::put_retry{p.request}, out);
  }
  const instant issued = req.issued;
  puts_.erase(it);
  // The bootstrap loop does not wait for the retry. A put refused because a
  // newer record took the slot means a peer is writing right now: read again
  // at once, and its record is there to find.
  if (reread_after_put_ && phase_ == phase::bootstrapping) {
    reread_after_put_ = false;
    last_put_time_ = c.now - issued;
    bootstrap_round(c, out, true);
  }
}

void tracker::on_dial_done(const in::dial_done& d, const clock& c, std::vector<out::output>& out) {
  auto it = dialling_.find(d.peer);
  if (it == dialling_.end()) return;
  const core::peer_info info = it->second.first;
  const dial_purpose why = it->second.second;
  dialling_.erase(it);
  dial_numbers_.erase(d.peer);

  if (!d.ok) {
    ++c_.dial_failures;
    if (unreachable_until_.size() >= max_unreachable_entries) {
      std::erase_if(unreachable_until_, [&](const auto& kv) { return kv.second <= c.now; });
      if (unreachable_until_.size() >= max_unreachable_entries) unreachable_until_.erase(unreachable_until_.begin());
    }
    unreachable_until_[d.peer] = c.now + to_duration(cfg_.unreachable_backoff);
    if (why == dial_purpose::bootstrap && phase_ == phase::bootstrapping) maybe_judge_after_failures(out);
    return;
  }
  unreachable_until_.erase(d.peer);
  // Stop once joined: a bootstrap dial that lands after the first neighbour
  // is not used (the driver closes the connection nobody needs).
  if (why == dial_purpose::bootstrap && phase_ != phase::bootstrapping) return;
  if (neighbors_.count(d.peer)) return;
  ++c_.joins;
  out.push_back(out::join{{info}});
  if (why == dial_purpose::bootstrap && !join_judge_pending_) {
    join_judge_pending_ = true;
    schedule(to_duration(cfg_.bootstrap.join_confirmation_wait_time), timers::judge{++judge_gen_}, out);
  }
}

void tracker::on_neighbor(const node_id& peer, bool up, const clock& c, std::vector<out::output>& out) {
  if (up) {
    neighbors_.insert(peer);
    if (phase_ == phase::bootstrapping) become_joined(c, out);
    return;
  }
  neighbors_.erase(peer);
  // HyParView refills from its passive view within moments; only a node that
  // stays alone goes back to the DHT.
  if (neighbors_.empty() && phase_ == phase::joined)
    schedule(to_duration(cfg_.bootstrap.no_peers_retry_interval), timers::isolated{gen_}, out);
}

void tracker::on_view(const in::view& v, const clock& c, std::vector<out::output>& out) {
  view_ = std::set<node_id>(v.known.begin(), v.known.end());
  if (!overlap_tick_pending_) return;
  overlap_tick_pending_ = false;
  if (phase_ != phase::joined) return;
  // Nothing to compare: no message of our own, and not a small island.
  if (recent_.empty() && !island()) return;
  const std::uint64_t w = window_of(c.unix_ms);
  request_read(p_overlap, {w, w - 1}, reuse_max_age_ms, c, out);
}

bool tracker::island() const {
  const std::size_t t = cfg_.merge.message_overlap.island_known_peers;
  return t > 0 && view_.size() < t;
}

void tracker::on_message_seen(const message_id& id) {
  if (cfg_.known_message_capacity == 0 || !known_.insert(id).second) return;
  recent_.push_back(id);
  while (recent_.size() > cfg_.known_message_capacity) {
    known_.erase(recent_.front());
    recent_.pop_front();
  }
}

// ------------------------------------------------------------------- reads --

bool tracker::view_current(std::uint64_t window, unsigned slot, std::uint64_t max_age_ms, const clock& c) const {
  auto it = views_.find(window);
  if (it == views_.end() || slot >= it->second.size()) return false;
  const slot_view& v = it->second[slot];
  if (v.state == slot_state::unknown) return false;
  if (window < window_of(c.unix_ms) && v.read_unix_ms >= (window + 1) * window_ms + final_read_grace_ms) return true;
  // max_age 0: read again whatever we know (a slot we just wrote may have
  // been overwritten by a peer starting with us: that is how we find it).
  return max_age_ms > 0 && c.unix_ms >= v.read_unix_ms && c.unix_ms - v.read_unix_ms <= max_age_ms;
}

void tracker::request_read(std::uint8_t purposes, std::vector<std::uint64_t> windows, std::uint64_t max_age_ms,
                           const clock& c, std::vector<out::output>& out, std::optional<unsigned> only_slot) {
  const std::uint64_t w = window_of(c.unix_ms);
  while (!views_.empty() && views_.begin()->first + kept_windows <= w) views_.erase(views_.begin());

  if (!round_) round_ = round{++next_id_, 0, 0, false};
  round_->purposes |= purposes;
  for (const std::uint64_t window : windows) {
    for (unsigned s = 0; s < k_; ++s) {
      if (only_slot && s != *only_slot) continue;
      if (view_current(window, s, max_age_ms, c)) continue;
      const bool pending = std::any_of(gets_.begin(), gets_.end(), [&](const auto& kv) {
        return kv.second.window == window && kv.second.slot == s && kv.second.round == round_->id;
      });
      if (pending) continue;
      const std::uint64_t id = ++next_id_;
      gets_.emplace(id, get_req{window, s, round_->id, c.unix_ms});
      ++round_->pending;
      ++c_.gets;
      out.push_back(out::dht_get{id, window, s, to_duration(cfg_.dht.get_timeout)});
    }
  }
  if (round_->pending == 0) round_complete(c, out);
}

std::vector<const topic_record*> tracker::records(std::uint64_t from_window, std::uint64_t to_window) const {
  std::vector<const topic_record*> r;
  for (auto it = views_.lower_bound(from_window); it != views_.end() && it->first <= to_window; ++it)
    for (const auto& v : it->second)
      if (v.state == slot_state::other && v.record) r.push_back(&*v.record);
  return r;
}

void tracker::round_complete(const clock& c, std::vector<out::output>& out) {
  const round r = *round_;
  round_.reset();
  if ((r.purposes & p_bootstrap) && phase_ == phase::bootstrapping) {
    const bool startup = first_round_;
    first_round_ = false;
    const std::uint64_t w = window_of(c.unix_ms);
    const bool may_publish = bootstrap_published_window_ != w;
    const bool quick = std::exchange(quick_recheck_, false);
    if (!r.found_candidate) {
      // Nobody to dial: make ourselves findable, then look again at once.
      if (may_publish && publish(true, c, out)) {
        reread_after_put_ = true;
      } else if (quick) {
        // The reread right after our put found nobody. The earliest writer
        // of a group that starts together is in this case (the others had
        // not put yet); their puts land within about one put's time of ours,
        // so look once more after twice that, not after a full poll.
        const duration poll = to_duration(cfg_.bootstrap.no_peers_retry_interval);
        const duration wait = std::clamp(2 * last_put_time_, duration(std::chrono::milliseconds(20)), poll);
        schedule(wait, timers::poll{gen_}, out);
      } else {
        schedule_poll(to_duration(cfg_.bootstrap.no_peers_retry_interval), out);
      }
    } else {
      if (startup && cfg_.bootstrap.publish_record_on_startup && may_publish) publish(true, c, out);
      bool dials_in_flight = false;
      for (const auto& kv : dialling_)
        if (kv.second.second == dial_purpose::bootstrap) dials_in_flight = true;
      // Dials still in flight will judge the round when they answer.
      if (!dials_in_flight && !join_judge_pending_)
        schedule(to_duration(cfg_.bootstrap.per_peer_join_settle_time), timers::judge{++judge_gen_}, out);
    }
  }
  if ((r.purposes & p_retry) && retry_) {
    const put_req again = retry_->second;
    retry_.reset();
    if (again.window == window_of(c.unix_ms)) {
      ++c_.put_retries;
      start_put(again, c, out);
    }
  }
  if (phase_ != phase::joined) return;
  if (r.purposes & p_probe) {
    const std::uint64_t w = window_of(c.unix_ms);
    auto it = views_.find(w);
    const bool taken =
        it != views_.end() && probe_slot_ < it->second.size() && it->second[probe_slot_].state == slot_state::other;
    if (taken) {
      ++c_.probes_taken;  // assume the window is full; the next tick probes again
      full_hint_ = w;
    } else if (!(r.purposes & p_publish))
      request_read(p_publish, {w}, 0, c, out);  // a free slot: read them all, then publish
  }
  if (r.purposes & p_publish) publish(false, c, out);
  if (r.purposes & p_bubble) run_bubble(c, out);
  if (r.purposes & p_overlap) run_overlap(c, out);
}

// --------------------------------------------------------------- bootstrap --

void tracker::begin_bootstrap(const clock& c, std::vector<out::output>& out) {
  ++gen_;
  fruitless_rounds_ = 0;
  reread_after_put_ = false;
  join_judge_pending_ = false;
  bootstrap_round(c, out);
}

void tracker::bootstrap_round(const clock& c, std::vector<out::output>& out, bool after_put) {
  if (phase_ != phase::bootstrapping) return;
  ++c_.rounds;
  join_judge_pending_ = false;
  quick_recheck_ = after_put;
  ++judge_gen_;  // a judge left from the last round no longer applies
  const std::uint64_t w = window_of(c.unix_ms);
  std::vector<std::uint64_t> windows{w, w - 1};
  if (first_round_ && cfg_.bootstrap.check_older_records_first_on_startup) windows = {w - 1, w - 2};
  // The current window is always read afresh; a past window read after it
  // ended is final and not read again.
  request_read(p_bootstrap, std::move(windows), 0, c, out);
}

void tracker::bootstrap_candidates(const topic_record& r, const clock& c, std::vector<out::output>& out) {
  // The publisher signed the record; its neighbour list is its word only, and
  // a member could fill it with peers that do not exist: bounded per record
  // and per round.
  std::size_t listed = 0;
  for (const auto& p : candidates_of(r)) {
    const bool is_listed = p.id != r.publisher;
    if (is_listed && !dialling_.count(p.id) &&
        (listed >= max_listed_dials_per_record || round_->listed_dials >= max_listed_dials_per_round)) {
      ++c_.listed_dials_capped;
      continue;
    }
    const bool was_dialling = dialling_.count(p.id) > 0;
    if (!dial(p, dial_purpose::bootstrap, c, out)) continue;
    round_->found_candidate = true;
    if (is_listed && !was_dialling) {
      ++listed;
      ++round_->listed_dials;
    }
  }
}

void tracker::maybe_judge_after_failures(std::vector<out::output>& out) {
  if (join_judge_pending_) return;
  for (const auto& kv : dialling_)
    if (kv.second.second == dial_purpose::bootstrap) return;  // more answers to come
  if (round_ && (round_->purposes & p_bootstrap)) return;     // the round will judge when its reads are in
  schedule(to_duration(cfg_.bootstrap.per_peer_join_settle_time), timers::judge{++judge_gen_}, out);
}

void tracker::judge_round(const clock& c, std::vector<out::output>& out) {
  join_judge_pending_ = false;
  // Candidates were found but none became a neighbour: make sure we can be
  // found (once per window from this loop), then look again.
  if (bootstrap_published_window_ != window_of(c.unix_ms) && publish(true, c, out)) {
    reread_after_put_ = true;
    return;
  }
  schedule_poll(to_duration(cfg_.bootstrap.discovery_poll_interval), out);
}

void tracker::schedule_poll(duration base, std::vector<out::output>& out) {
  const duration cap = std::max(base, to_duration(cfg_.bootstrap.max_poll_interval));
  duration d = base;
  for (unsigned i = 0; i < fruitless_rounds_ && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  ++fruitless_rounds_;
  schedule(jittered(d, d / 4), timers::poll{gen_}, out);
}

void tracker::become_joined(const clock& c, std::vector<out::output>& out) {
  (void)c;
  phase_ = phase::joined;
  ++gen_;
  ++judge_gen_;
  fruitless_rounds_ = 0;
  reread_after_put_ = false;
  join_judge_pending_ = false;
  out.push_back(out::joined{});
  if (cfg_.publisher.enabled && !read_only_) schedule(to_duration(cfg_.publisher.initial_delay), timers::publish{gen_}, out);
  if (cfg_.merge.bubble.enabled) schedule(to_duration(cfg_.merge.bubble.initial_interval), timers::bubble{gen_}, out);
  if (cfg_.merge.message_overlap.enabled)
    schedule(to_duration(cfg_.merge.message_overlap.initial_interval), timers::overlap{gen_}, out);
  if (cfg_.bootstrap.post_join_check.count() > 0 && (cfg_.merge.bubble.enabled || cfg_.merge.message_overlap.enabled))
    schedule(to_duration(cfg_.bootstrap.post_join_check), timers::settle_check{gen_}, out);
}

// -------------------------------------------------------------- publishing --

// The publisher's work at a tick: refresh our slot, or find one.
void tracker::publisher_tick(const clock& c, std::vector<out::output>& out) {
  const std::uint64_t w = window_of(c.unix_ms);
  if (capped_window_ == w) return;  // every slot of this window is another publisher's until it ends
  if (own_window_ == w && own_slot_) {
    publish(false, c, out);  // refresh our slot in place: no read needed
    return;
  }
  if (full_hint_ && (*full_hint_ == w || *full_hint_ + 1 == w)) {
    // The last window was full (or looked full to a probe): most likely
    // this one is, or soon will be. Probe one random slot; only if it is
    // free, read them all. A window with free slots is found out by a
    // probe with the probability of its free fraction, at every tick.
    probe_slot_ = static_cast<unsigned>(rng_.below(k_));
    ++c_.probes;
    request_read(p_probe, {w}, 0, c, out, probe_slot_);
    return;
  }
  request_read(p_publish, {w}, 0, c, out);
}

void tracker::on_addresses_changed(const clock&, std::vector<out::output>& out) {
  ++address_changes_;
  if (read_only_ || !cfg_.publisher.enabled || phase_ != phase::joined) return;  // a bootstrap publishes anyway
  schedule(to_duration(cfg_.publisher.address_change_delay), timers::republish{gen_, address_changes_}, out);
}


std::optional<unsigned> tracker::choose_slot(std::uint64_t window) {
  auto it = views_.find(window);
  if (it == views_.end()) return std::nullopt;
  const auto& views = it->second;
  std::vector<unsigned> free, invalid, unknown;
  std::map<node_id, std::pair<std::uint64_t, unsigned>> newest;  // publisher -> (timestamp, slot)
  for (unsigned s = 0; s < views.size(); ++s) {
    const auto& v = views[s];
    if (v.state == slot_state::own) return s;  // refresh in place
    if (v.state == slot_state::empty) free.push_back(s);
    if (v.state == slot_state::invalid) invalid.push_back(s);
    if (v.state == slot_state::unknown) unknown.push_back(s);
    if (v.state == slot_state::other && v.record) {
      auto [n, inserted] = newest.try_emplace(v.record->publisher, v.record->timestamp_ms, s);
      if (!inserted) {
        // One publisher in two slots (it lost track of its first): the older
        // copy is free.
        if (v.record->timestamp_ms > n->second.first) {
          free.push_back(n->second.second);
          n->second = {v.record->timestamp_ms, s};
        } else {
          free.push_back(s);
        }
      }
    }
  }
  if (newest.size() >= k_) {
    ++c_.publishes_skipped_cap;
    capped_window_ = window;
    full_hint_ = window;
    return std::nullopt;
  }
  // Empty slots first: a value we cannot open may be a record of peers with
  // another secret on the same topic name, whom we would only displace.
  if (!free.empty()) return free[rng_.below(free.size())];
  if (!invalid.empty()) return invalid[rng_.below(invalid.size())];
  if (!unknown.empty()) return unknown[rng_.below(unknown.size())];
  return std::nullopt;
}

void tracker::tick_again(std::chrono::milliseconds base, std::chrono::milliseconds jitter, timers::timer t,
                         std::vector<out::output>& out) {
  // The crate's rule for the publisher and both merges: base + uniform
  // [0, jitter), the base clamped to at least 1 s.
  schedule(jittered(std::max(to_duration(base), duration(std::chrono::seconds(1))), to_duration(jitter)), std::move(t),
           out);
}

bool tracker::publish(bool bootstrap, const clock& c, std::vector<out::output>& out) {
  if (read_only_) return false;
  const std::uint64_t w = window_of(c.unix_ms);
  const auto slot = choose_slot(w);
  if (!slot) return false;
  if (bootstrap) {
    bootstrap_published_window_ = w;
    ++c_.bootstrap_publishes;
  } else {
    ++c_.publisher_publishes;
  }
  start_put(put_req{w, *slot, 0, bootstrap}, c, out);
  return true;
}

void tracker::start_put(put_req req, const clock& c, std::vector<out::output>& out) {
  if (req.attempt > 0) {  // a retry chooses its slot again from the fresh read
    const auto slot = choose_slot(req.window);
    if (!slot) return;
    req.slot = *slot;
  }
  const std::uint64_t id = ++next_id_;
  req.issued = c.now;
  puts_.emplace(id, req);
  send_put(id, c, out);
}

void tracker::send_put(std::uint64_t id, const clock& c, std::vector<out::output>& out) {
  const put_req& req = puts_.at(id);
  // seq is the record's timestamp: increasing, so that our next record in a
  // slot replaces the last, and inside the window's millisecond range ±
  // max_record_skew_ms, or readers refuse it (record format 2, PROTOCOL §6).
  // A put issued just after its window ended (a retry) is clamped rather
  // than refused.
  const auto skew = static_cast<std::int64_t>(max_record_skew_ms);
  const auto first = static_cast<std::int64_t>(req.window * window_ms) - skew;
  const auto last = static_cast<std::int64_t>(req.window * window_ms + window_ms - 1) + skew;
  last_seq_ = std::clamp(std::max<std::int64_t>(static_cast<std::int64_t>(c.unix_ms), last_seq_ + 1), first, last);
  std::vector<node_id> neighbors(neighbors_.begin(), neighbors_.end());
  neighbors = rng_.sample(std::move(neighbors), max_record_neighbors);
  std::vector<message_id> recent;
  const std::size_t n = std::min(recent_.size(), max_record_messages);
  recent.assign(recent_.end() - static_cast<std::ptrdiff_t>(n), recent_.end());
  ++c_.puts;
  out.push_back(out::dht_put{id, req.window, req.slot, last_seq_, std::move(neighbors), std::move(recent),
                             to_duration(cfg_.dht.put_timeout)});
}

// ------------------------------------------------------------------ merges --

std::vector<core::peer_info> tracker::candidates_of(const topic_record& r) const {
  std::vector<core::peer_info> c;
  auto add = [&](const node_id& id, const std::vector<endpoint>& addrs) {
    if (id == me_ || neighbors_.count(id) || addrs.empty()) return;
    for (const auto& p : c)
      if (p.id == id) return;
    c.push_back(core::peer_info{id, addrs});
  };
  add(r.publisher, r.addresses);
  for (const auto& n : r.neighbors) add(n.id, n.addresses);
  return c;
}

bool tracker::dial(const core::peer_info& p, dial_purpose why, const clock& c, std::vector<out::output>& out) {
  if (p.id == me_ || neighbors_.count(p.id) || p.addresses.empty()) return false;
  if (auto it = dialling_.find(p.id); it != dialling_.end()) {
    // A merge dial that lands while we bootstrap is as good as a bootstrap one.
    if (why == dial_purpose::bootstrap) it->second.second = why;
    return true;
  }
  if (auto it = unreachable_until_.find(p.id); it != unreachable_until_.end() && it->second > c.now) return false;
  dialling_.emplace(p.id, std::make_pair(p, why));
  const std::uint64_t number = ++next_id_;
  dial_numbers_[p.id] = number;
  ++c_.dials;
  out.push_back(out::dial{p});
  // The driver's own connect and handshake timeouts answer first as a rule;
  // this bounds a dial whatever the driver does.
  schedule(to_duration(cfg_.timeouts.join_peer_timeout), timers::dial_timeout{p.id, number}, out);
  return true;
}

void tracker::run_candidates(std::vector<const topic_record*> from, std::size_t max_join, const clock& c,
                             std::vector<out::output>& out, std::uint64_t& counter) {
  std::vector<core::peer_info> pool;
  for (const auto* r : from)
    for (auto& p : candidates_of(*r)) {
      if (dialling_.count(p.id)) continue;
      if (auto u = unreachable_until_.find(p.id); u != unreachable_until_.end() && u->second > c.now) continue;
      if (std::none_of(pool.begin(), pool.end(), [&](const auto& q) { return q.id == p.id; }))
        pool.push_back(std::move(p));
    }
  if (pool.empty()) return;
  ++counter;
  for (const auto& p : rng_.sample(std::move(pool), max_join)) dial(p, dial_purpose::merge, c, out);
}

void tracker::run_bubble(const clock& c, std::vector<out::output>& out) {
  const auto& bc = cfg_.merge.bubble;
  if (neighbors_.size() >= bc.min_neighbors) return;
  const std::uint64_t w = window_of(c.unix_ms);
  run_candidates(records(w - 1, w), bc.max_join_peers, c, out, c_.bubble_merges);
}

void tracker::run_overlap(const clock& c, std::vector<out::output>& out) {
  const bool small = island();
  if (recent_.empty() && !small) return;
  const std::uint64_t w = window_of(c.unix_ms);
  std::vector<const topic_record*> foreign;
  bool by_messages = false;
  for (const auto* r : records(w - 1, w)) {
    std::size_t hashes = 0, unknown = 0;
    for (const auto& id : r->recent_messages) {
      if (id.is_zero()) continue;
      ++hashes;
      if (!known_.count(id)) ++unknown;
    }
    // Every message it saw lately is one we never saw: it is on another island.
    if (!recent_.empty() && hashes > 0 && unknown == hashes) {
      foreign.push_back(r);
      by_messages = true;
      continue;
    }
    // A quiet small island: the record's peers are nowhere in our views.
    if (small && !view_.count(r->publisher) &&
        std::none_of(r->neighbors.begin(), r->neighbors.end(), [&](const auto& n) { return view_.count(n.id) > 0; }))
      foreign.push_back(r);
  }
  const auto before = c_.overlap_merges;
  run_candidates(std::move(foreign), cfg_.merge.message_overlap.max_join_peers, c, out, c_.overlap_merges);
  if (c_.overlap_merges != before && !by_messages) ++c_.island_merges;
}

}  // namespace topicswarm::tracker
