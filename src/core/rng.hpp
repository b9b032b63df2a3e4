// The deterministic randomness of every sans-IO core (gossip, tracker, and
// the cores to come).
//
// std::mt19937_64's output sequence is fixed by the standard, but the
// std::*_distribution algorithms are not (libstdc++ and libc++ differ), so the
// cores draw through these helpers only: same seed ⇒ same choices on every
// platform.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace topicswarm::core {

class rng {
 public:
  explicit rng(std::uint64_t seed) : g_(seed) {}

  // Uniform in [0, n); n must be > 0. The modulo bias (n ≤ a few hundred
  // against 2^64) is far below anything the protocols could notice.
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(g_() % n); }

  // A random subset of `from` of at most k elements (partial Fisher–Yates on a copy).
  template <class T>
  std::vector<T> sample(std::vector<T> from, std::size_t k) {
    if (k > from.size()) k = from.size();
    for (std::size_t i = 0; i < k; ++i) std::swap(from[i], from[i + below(from.size() - i)]);
    from.resize(k);
    return from;
  }

  std::uint64_t next() { return g_(); }

 private:
  std::mt19937_64 g_;
};

// SplitMix64 finaliser: derives independent seeds (per topic) from one seed.
constexpr std::uint64_t mix_seed(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace topicswarm::core
