// How the simulated DHT behaves (for every swarm that reads and writes the
// shared in-memory BEP 44 store: tracker_swarm, discovery_swarm): the latency
// of one lookup and of one store, lookups that time out, and the wall clock
// the nodes see at virtual time zero.
#pragma once

#include "core/time.hpp"

#include <chrono>
#include <cstdint>
#include <random>

namespace topicswarm::sim {

using namespace std::chrono_literals;

struct dht_model_config {
  // Latency of one lookup (get) and of one store (put), uniform in the range.
  // Defaults: a Mainline lookup takes a few hundred ms to a few seconds.
  core::duration get_min = 300ms, get_max = 2000ms;
  core::duration put_min = 500ms, put_max = 3000ms;
  // Probability that a get times out (the lookup finds no closest nodes in time).
  double get_timeout_rate = 0.0;
  // Wall-clock time at virtual time zero (unix ms). Default: 20 s into a
  // one-minute tracker window, and 20 s into a one-hour discovery chain epoch
  // (1.8e12 is a multiple of 3,600,000), so the chain reads the previous
  // epoch too.
  std::uint64_t unix_ms_at_zero = 1'800'000'000'000ULL + 20'000;
};

// A latency uniform in [lo, hi] (lo if the range is empty).
inline core::duration draw_latency(std::mt19937_64& rng, core::duration lo, core::duration hi) {
  if (hi <= lo) return lo;
  const auto span = static_cast<std::uint64_t>((hi - lo).count()) + 1;
  return lo + core::duration(static_cast<core::duration::rep>(rng() % span));
}

}  // namespace topicswarm::sim
