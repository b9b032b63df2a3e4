// Runs one coroutine on an io_context until it finishes, bounded in time, for
// tests that call the async API from plain gtest bodies.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <stdexcept>

namespace topicswarm::test_support {

// co_spawn with use_future needs a default-constructible result; wrap it.
template <class T>
asio::awaitable<std::optional<T>> optional_of(asio::awaitable<T> aw) {
  co_return co_await std::move(aw);
}

// Runs `aw` on `io` to its end, or fails the test after `limit`.
template <class T>
T run_on(asio::io_context& io, asio::awaitable<T> aw, std::chrono::seconds limit) {
  auto fut = asio::co_spawn(io, optional_of(std::move(aw)), asio::use_future);
  io.restart();
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready &&
         std::chrono::steady_clock::now() < deadline)
    io.run_one_for(std::chrono::milliseconds(10));
  if (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    ADD_FAILURE() << "coroutine did not finish within " << limit.count() << " s";
    throw std::runtime_error("timed out");
  }
  return std::move(*fut.get());
}

}  // namespace topicswarm::test_support
