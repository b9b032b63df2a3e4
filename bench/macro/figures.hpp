// How the macro benchmarks turn samples into figures.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace topicswarm::bench {

// Figures print with 3 decimals: more is noise on a shared machine.
inline double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

// The nearest-rank percentile p (0 < p <= 1) of samples sorted ascending;
// `sorted` must not be empty.
template <class T>
T nearest_rank(const std::vector<T>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace topicswarm::bench
