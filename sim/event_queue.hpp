// The simulator's discrete event queue: events ordered by (virtual time,
// sequence number). Two events at the same instant run in the order they were
// scheduled, so a run depends only on the seed, never on heap layout.
//
// Events live in a slab (a vector with a free list); the binary heap holds
// small (time, seq, slot) keys, so sifting moves 24 bytes instead of a whole
// message. No allocation per event once the slab has grown.
#pragma once

#include "core/time.hpp"

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace topicswarm::sim {

template <class Event>
class event_queue {
 public:
  struct popped {
    core::instant at;
    std::uint64_t seq;
    Event event;
  };

  // Schedules `e` at `at`; returns its sequence number (strictly increasing).
  std::uint64_t push(core::instant at, Event e) {
    std::uint32_t slot;
    if (free_.empty()) {
      slot = static_cast<std::uint32_t>(slab_.size());
      slab_.emplace_back(std::move(e));
    } else {
      slot = free_.back();
      free_.pop_back();
      slab_[slot].emplace(std::move(e));
    }
    const std::uint64_t seq = next_seq_++;
    heap_.push_back(key{core::to_micros(at), seq, slot});
    sift_up(heap_.size() - 1);
    return seq;
  }

  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  // Time of the earliest event; only valid when !empty().
  core::instant next_time() const noexcept { return core::from_micros(heap_.front().at); }
  std::uint64_t scheduled_total() const noexcept { return next_seq_; }

  // Removes and returns the earliest event (ties broken by sequence number).
  popped pop() {
    key top = heap_.front();
    heap_.front() = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) sift_down(0);
    popped p{core::from_micros(top.at), top.seq, std::move(*slab_[top.slot])};
    slab_[top.slot].reset();
    free_.push_back(top.slot);
    return p;
  }

 private:
  struct key {
    std::int64_t at;
    std::uint64_t seq;
    std::uint32_t slot;
    bool before(const key& o) const noexcept { return at != o.at ? at < o.at : seq < o.seq; }
  };

  void sift_up(std::size_t i) {
    key k = heap_[i];
    while (i > 0) {
      std::size_t parent = (i - 1) / 2;
      if (!k.before(heap_[parent])) break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = k;
  }

  void sift_down(std::size_t i) {
    const std::size_t n = heap_.size();
    key k = heap_[i];
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap_[child + 1].before(heap_[child])) ++child;
      if (!heap_[child].before(k)) break;
      heap_[i] = heap_[child];
      i = child;
    }
    heap_[i] = k;
  }

  std::vector<key> heap_;
  std::vector<std::optional<Event>> slab_;
  std::vector<std::uint32_t> free_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace topicswarm::sim
