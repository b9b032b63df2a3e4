// A visitor built from lambdas, for std::visit over the cores' output variants.
#pragma once

namespace topicswarm::sim {

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

}  // namespace topicswarm::sim
