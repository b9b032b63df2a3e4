// Coroutine helpers of the commands and the macro benchmarks: running one
// coroutine to its end from plain code, sleeping, and waiting for a set of
// detached coroutines to end.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <chrono>
#include <cstddef>
#include <future>
#include <optional>
#include <utility>

namespace topicswarm::cli {

// co_spawn with use_future needs a default-constructible result, which
// result<T> is not: carry it in an optional.
template <class T>
asio::awaitable<std::optional<T>> optional_of(asio::awaitable<T> aw) {
  co_return co_await std::move(aw);
}

// Runs `aw` on `io` (on this thread) until it finishes or `limit` passes;
// nothing when it did not finish (the coroutine is then left on `io`).
template <class T>
std::optional<T> run_for(asio::io_context& io, asio::awaitable<T> aw, std::chrono::steady_clock::duration limit) {
  auto fut = asio::co_spawn(io, optional_of(std::move(aw)), asio::use_future);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    io.restart();
    io.run_one_for(std::chrono::milliseconds(10));  // returns after each handler
  }
  return fut.get();
}

// Runs `aw` on `io` (on this thread) until it finishes. The awaited
// operations carry their own deadlines, so this ends.
template <class T>
T run_to_end(asio::io_context& io, asio::awaitable<T> aw) {
  return std::move(*run_for(io, std::move(aw), std::chrono::steady_clock::duration::max() / 2));
}

// Counts coroutines still running so the caller can wait for them: each one
// refers to state that must outlive it.
struct live_count {
  std::size_t n = 0;
};

inline asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

// Returns once every coroutine counted by `live` has ended, checking every `step`.
inline asio::awaitable<void> wait_until_done(const live_count& live, std::chrono::steady_clock::duration step) {
  while (live.n > 0) co_await sleep_for(step);
}

}  // namespace topicswarm::cli
