// The one timer queue of the shell (issue 12): every core asks for timers
// as plain tokens of its own type (gossip: a topic and a gossip timer;
// auto-discovery: a topic and a tracker timer; the connection sweeper: a
// node id). A driver keeps a timer_queue of its token type; the node arms
// one OS timer for the earliest deadline over all drivers.
//
// Timers are never cancelled one by one (DESIGN.md §3: a core checks whether
// a fired timer still applies). What a driver may do is forget every timer
// of something that no longer exists (a left topic) with erase_if, so that
// nothing outlives its owner.
//
// Order: by deadline; timers with equal deadlines fire in the order they
// were added (a sequence number breaks ties), so a run is deterministic.
#pragma once

#include "core/time.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace topicswarm::core {

template <class Token>
class timer_queue {
 public:
  // Adds `token`, due at `at`.
  void add(instant at, Token token) { q_.emplace(key{at, seq_++}, std::move(token)); }

  // The earliest deadline, if any timer is queued.
  std::optional<instant> next() const {
    if (q_.empty()) return std::nullopt;
    return q_.begin()->first.at;
  }

  // Removes and returns the tokens due at or before `now`, earliest first.
  // Timers a handler adds while the caller works through the result are not
  // part of it, so one call always ends.
  std::vector<Token> take_due(instant now) {
    std::vector<Token> due;
    while (!q_.empty() && q_.begin()->first.at <= now) {
      due.push_back(std::move(q_.begin()->second));
      q_.erase(q_.begin());
    }
    return due;
  }

  // Forgets every queued token for which pred(token) is true; returns how many.
  template <class Pred>
  std::size_t erase_if(Pred pred) {
    std::size_t n = 0;
    for (auto it = q_.begin(); it != q_.end();) {
      if (pred(it->second)) {
        it = q_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

  void clear() { q_.clear(); }
  std::size_t size() const noexcept { return q_.size(); }
  bool empty() const noexcept { return q_.empty(); }

 private:
  struct key {
    instant at;
    std::uint64_t seq;
    friend bool operator<(const key& a, const key& b) { return a.at != b.at ? a.at < b.at : a.seq < b.seq; }
  };
  std::map<key, Token> q_;
  std::uint64_t seq_ = 0;
};

}  // namespace topicswarm::core
