// The hand-off between the node thread and the handles: a topic's mirror
// (what the synchronous getters read) and a receiver's bounded event queue.
// Neither is protocol state; each has its own mutex.
#pragma once

#include <topicswarm/node.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace topicswarm::detail {

// Neighbours of a topic as last seen by the node thread, for the handles'
// synchronous neighbors() / is_joined().
struct topic_mirror {
  mutable std::mutex mu;
  std::vector<node_id> neighbors;
  bool auto_discovery = false;
  std::size_t records_seen = 0;
};

// A receiver's cursor: a bounded queue that the node thread fills and the
// receiver's owner drains on its own executor. It is a hand-off channel, not
// protocol state, so it has its own mutex: next() takes a queued event
// without a trip through the node thread, and only an empty queue costs a
// wait (the node thread then completes it). Owned by the handles; the node
// keeps weak references. One template for every event stream: a topic's
// (receiver_state) and the node's (node_event_channel).
template <class Event>
class event_channel {
 public:
  using event_type = Event;
  using waiter_fn = std::function<void(result<Event>)>;

  explicit event_channel(std::size_t cap) : capacity(cap) {}

  // Node thread: hand `ev` to a waiting next(), or queue it (dropping the
  // oldest when full; `lagged` counts drops).
  void push(const Event& ev, std::uint64_t& lagged) {
    waiter_fn w;
    {
      std::lock_guard lock(mu_);
      if (waiter_) {
        w = std::move(waiter_);
        waiter_ = nullptr;
      } else {
        if (queue_.size() >= capacity) {
          queue_.pop_front();
          ++missed_;
          ++lagged;
        }
        queue_.push_back(ev);
      }
    }
    if (w) w(ev);
  }

  // Node thread (or a failed registration): no more events after the queued ones.
  void close(const error& why) {
    waiter_fn w;
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = why;
      w = std::move(waiter_);  // a waiter implies an empty queue
      waiter_ = nullptr;
    }
    if (w) w(why);
  }

  bool waiting() const {
    std::lock_guard lock(mu_);
    return static_cast<bool>(waiter_);
  }

  // Owner: the next queued result (lagged first, then events, then the
  // close reason), or nothing when next() has to wait.
  std::optional<result<Event>> try_take() {
    std::lock_guard lock(mu_);
    return take_locked();
  }

  // Owner: registers the single waiting next(); false if one already waits
  // or something arrived meanwhile (then call try_take again).
  bool set_waiter(waiter_fn w, std::uint64_t id) {
    std::lock_guard lock(mu_);
    if (waiter_ || !queue_.empty() || missed_ > 0 || closed_) return false;
    waiter_ = std::move(w);
    waiter_id_ = id;
    return true;
  }

  // Owner: cancels the waiter `id` if it still waits.
  void cancel(std::uint64_t id) {
    waiter_fn w;
    {
      std::lock_guard lock(mu_);
      if (!waiter_ || waiter_id_ != id) return;
      w = std::move(waiter_);
      waiter_ = nullptr;
    }
    w(error{errc::operation_aborted});
  }

  const std::size_t capacity;

 private:
  std::optional<result<Event>> take_locked() {
    if (missed_ > 0) {
      const auto m = missed_;
      missed_ = 0;
      return result<Event>{Event{events::lagged{m}}};
    }
    if (!queue_.empty()) {
      Event ev = std::move(queue_.front());
      queue_.pop_front();
      return result<Event>{std::move(ev)};
    }
    if (closed_) return result<Event>{*closed_};
    return std::nullopt;
  }

  mutable std::mutex mu_;
  std::deque<Event> queue_;
  std::uint64_t missed_ = 0;
  std::optional<error> closed_;
  waiter_fn waiter_;
  std::uint64_t waiter_id_ = 0;
};

// A topic receiver's channel.
struct receiver_state : event_channel<event> {
  receiver_state(topic_id t, std::size_t cap) : event_channel(cap), topic(t) {}
  const topic_id topic;
};

// A node event receiver's channel (node::events()).
using node_event_channel = event_channel<node_event>;

}  // namespace topicswarm::detail
