// Running one coroutine to its end from plain code (the CLI's commands).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <chrono>
#include <future>
#include <optional>

namespace topicswarm::cli {

// co_spawn with use_future needs a default-constructible result, which
// result<T> is not: carry it in an optional.
template <class T>
asio::awaitable<std::optional<T>> optional_of(asio::awaitable<T> aw) {
  co_return co_await std::move(aw);
}

// Runs `aw` on `io` (on this thread) until it finishes. The awaited
// operations carry their own deadlines, so this ends.
template <class T>
T run_to_end(asio::io_context& io, asio::awaitable<T> aw) {
  auto fut = asio::co_spawn(io, optional_of(std::move(aw)), asio::use_future);
  while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    io.restart();
    io.run_one_for(std::chrono::milliseconds(20));  // returns after each handler
  }
  return std::move(*fut.get());
}

}  // namespace topicswarm::cli
