// The effects of one type among a core's outputs (a vector of a variant),
// for unit tests of sans-IO cores.
#pragma once

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

}  // namespace topicswarm::test_support
