// Runs one coroutine on an io_context until it finishes, bounded in time, for
// tests that call the async API from plain gtest bodies.
#pragma once

#include "cli/support/coroutines.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <stdexcept>

namespace topicswarm::test_support {

using cli::optional_of;

// Runs `aw` on `io` to its end, or fails the test after `limit`.
template <class T>
T run_on(asio::io_context& io, asio::awaitable<T> aw, std::chrono::seconds limit) {
  auto r = cli::run_for(io, std::move(aw), limit);
  if (!r) {
    ADD_FAILURE() << "coroutine did not finish within " << limit.count() << " s";
    throw std::runtime_error("timed out");
  }
  return std::move(*r);
}

}  // namespace topicswarm::test_support
