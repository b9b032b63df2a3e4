// A token bucket for budgets a peer can draw on (docs/SECURITY.md): it
// starts full at `burst` and refills at `per_minute`, never above `burst`.
// Time comes from the caller (sans-IO cores never read a clock).
#pragma once

#include "core/time.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>

namespace topicswarm::core {

struct token_bucket {
  double tokens = 0;
  std::optional<instant> at;  // last take; none: never used (full)

  // Takes one token if there is one.
  bool take(instant now, std::size_t burst, std::size_t per_minute) {
    if (!at) {
      tokens = static_cast<double>(burst);
    } else {
      const double minutes = std::chrono::duration<double>(now - *at).count() / 60.0;
      tokens = std::min(static_cast<double>(burst), tokens + minutes * static_cast<double>(per_minute));
    }
    at = now;
    if (tokens < 1.0) return false;
    tokens -= 1.0;
    return true;
  }
};

}  // namespace topicswarm::core
