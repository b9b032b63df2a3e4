// The effects of one type among a core's outputs (a vector of a variant),
// for unit tests of sans-IO cores.
#pragma once

#include "core/time.hpp"

#include <algorithm>
#include <utility>
#include <variant>
#include <vector>

namespace topicswarm::test_support {

template <class T, class Variant>
std::vector<T> all(const std::vector<Variant>& out) {
  std::vector<T> r;
  for (const auto& o : out)
    if (const auto* v = std::get_if<T>(&o)) r.push_back(*v);
  return r;
}

// The timers a sans-IO core asked for, fired by hand as a test moves its
// clock. Schedule is the core's schedule effect (after, t).
template <class Schedule>
struct timer_list {
  using timer = decltype(Schedule{}.t);
  std::vector<std::pair<core::instant, timer>> due;

  // Moves the schedule effects out of `out` into the list.
  template <class Variant>
  void take(std::vector<Variant>& out, core::instant now) {
    for (const auto& t : all<Schedule>(out)) due.emplace_back(now + t.after, t.t);
    std::erase_if(out, [](const Variant& o) { return std::holds_alternative<Schedule>(o); });
  }
  // Moves `now` forward by `by`, calling fire(timer) for every timer due on
  // the way, earliest first, with `now` at its time.
  template <class Fire>
  void advance(core::instant& now, core::duration by, Fire&& fire) {
    const auto to = now + by;
    for (;;) {
      auto next = std::min_element(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      if (next == due.end() || next->first > to) break;
      auto t = *next;
      due.erase(next);
      now = std::max(now, t.first);
      fire(t.second);
    }
    now = to;
  }
};

}  // namespace topicswarm::test_support
