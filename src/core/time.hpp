// Time as the sans-IO cores see it: a monotonic instant handed in by whoever
// drives them (the IO shell converts steady_clock; the simulator uses virtual
// time). This clock deliberately has no now(): cores cannot read it.
#pragma once

#include <chrono>
#include <cstdint>

namespace topicswarm::core {

struct mono_clock {
  using duration = std::chrono::microseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<mono_clock, duration>;
  static constexpr bool is_steady = true;
};

using instant = mono_clock::time_point;
using duration = mono_clock::duration;

constexpr instant from_micros(std::int64_t us) { return instant(duration(us)); }

// What a core is told of time with each input: the monotonic instant (for
// timers and deadlines) and the wall clock in unix milliseconds (for what is
// compared across machines: DHT windows and epochs, entry versions).
struct clock {
  instant now;
  std::uint64_t unix_ms = 0;
};
constexpr std::int64_t to_micros(instant t) { return t.time_since_epoch().count(); }

}  // namespace topicswarm::core
