// Seeds for simulator tests: TOPICSWARM_SIM_SEED (default 1) is the first of
// `count` consecutive seeds. Every test scopes its seed into failure messages,
// together with the command that replays the run.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace topicswarm::sim::test_support {

inline std::uint64_t base_seed() {
  const char* v = std::getenv("TOPICSWARM_SIM_SEED");
  if (!v || !*v) return 1;
  return std::strtoull(v, nullptr, 10);
}

inline std::vector<std::uint64_t> test_seeds(std::size_t count = 4) {
  std::vector<std::uint64_t> s;
  for (std::size_t i = 0; i < count; ++i) s.push_back(base_seed() + i);
  return s;
}

inline std::string replay_hint(const std::string& scenario, std::uint32_t peers, std::uint64_t seed,
                               std::uint32_t rounds) {
  return "seed " + std::to_string(seed) + " (replay: topicswarm sim --scenario " + scenario + " --peers " +
         std::to_string(peers) + " --seed " + std::to_string(seed) + " --rounds " + std::to_string(rounds) + ")";
}

}  // namespace topicswarm::sim::test_support
