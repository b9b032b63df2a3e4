// How links behave: latency, loss and the timeouts with which a node notices
// that a connection died. Partitions live in the simulator (they change over
// a run); everything here is fixed for a run.
//
// Latency model:
//  - per_link (default): each unordered pair {a, b} gets one latency, drawn
//    uniformly from [latency_min, latency_max] by hashing (seed, a, b). It is
//    symmetric and the same for the whole run, like a fixed route.
//  - per_message: every message draws a fresh latency from the range with the
//    network RNG. Connections are still FIFO per direction (a message never
//    overtakes an earlier one on the same connection), like TCP or a QUIC stream.
// A new connection costs `handshake_rtts` round trips before its first message
// leaves (QUIC: 1).
//
// Loss: each message on a live connection is dropped with probability `loss`,
// independently (network RNG). Dials and closes are not subject to loss.
#pragma once

#include "core/time.hpp"

#include <chrono>
#include <cstdint>
#include <random>

namespace topicswarm::sim {

using namespace std::chrono_literals;

enum class latency_mode : std::uint8_t { per_link, per_message };

struct link_config {
  core::duration latency_min = 10ms;
  core::duration latency_max = 100ms;
  latency_mode mode = latency_mode::per_link;
  double loss = 0.0;  // probability in [0, 1]
  std::uint32_t handshake_rtts = 1;
  // A dial to a node that is down or on the other side of a partition fails
  // after this long (a connect timeout; refused and unreachable look alike).
  core::duration dial_failure_delay = 500ms;
  // A connection whose peer crashed (or that a partition cut) goes silent. The
  // survivor notices after keepalive_timeout if it sends nothing, or
  // send_timeout after it next sends on it (retransmissions unanswered),
  // whichever comes first.
  core::duration keepalive_timeout = 5s;
  core::duration send_timeout = 1s;
};

// SplitMix64 finaliser: a cheap, well-mixed hash for deriving per-pair and
// per-node values from the run's seed.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class link_model {
 public:
  link_model(const link_config& cfg, std::uint64_t seed) : cfg_(cfg), seed_(mix64(seed ^ 0x6c696e6bULL)) {}

  const link_config& config() const noexcept { return cfg_; }

  // One-way latency of a message from a to b.
  core::duration latency(std::uint32_t a, std::uint32_t b, std::mt19937_64& rng) const {
    const std::int64_t lo = cfg_.latency_min.count();  // microseconds
    const std::int64_t hi = cfg_.latency_max.count();
    if (hi <= lo) return cfg_.latency_min;
    const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
    if (cfg_.mode == latency_mode::per_message) {
      std::uniform_int_distribution<std::uint64_t> d(0, span - 1);
      return core::duration(lo + static_cast<std::int64_t>(d(rng)));
    }
    return core::duration(lo + static_cast<std::int64_t>(pair_hash(a, b) % span));
  }

  // Whether a message is lost (draws from rng only when loss > 0, so lossless
  // runs consume no randomness here).
  bool lost(std::mt19937_64& rng) const {
    if (cfg_.loss <= 0.0) return false;
    if (cfg_.loss >= 1.0) return true;
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < cfg_.loss;
  }

 private:
  std::uint64_t pair_hash(std::uint32_t a, std::uint32_t b) const noexcept {
    if (a > b) std::swap(a, b);
    return mix64(seed_ ^ ((static_cast<std::uint64_t>(a) << 32) | b));
  }

  link_config cfg_;
  std::uint64_t seed_;
};

}  // namespace topicswarm::sim
