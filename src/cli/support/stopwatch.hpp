// Elapsed times in milliseconds, as the commands and benchmarks print them.
#pragma once

#include <chrono>

namespace topicswarm::cli {

using clock_type = std::chrono::steady_clock;

inline double ms_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

inline double ms_since(clock_type::time_point t) { return ms_between(t, clock_type::now()); }

}  // namespace topicswarm::cli
