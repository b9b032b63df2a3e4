// Helpers for tests of real nodes (TLS on loopback) driven from gtest bodies.
#pragma once

#include "io_runner.hpp"

#include <topicswarm/node.hpp>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace topicswarm::test_support {

using namespace std::chrono_literals;

inline node_config loopback_config(std::uint64_t seed) {
  node_config c;
  c.listen = {*endpoint::parse("127.0.0.1:0")};
  c.rng_seed = seed;
  return c;
}

inline node start_node(node_config c) {
  auto n = node::start(std::move(c));
  if (!n) throw std::runtime_error("node::start: " + n.error().message());
  return std::move(*n);
}

inline std::string to_text(const bytes& b) { return topicswarm::to_string(byte_span(b)); }

// The next event, or an error after `limit` (the wait is cancelled).
inline asio::awaitable<result<event>> next_within(receiver& rx, std::chrono::milliseconds limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer t(co_await asio::this_coro::executor, limit);
  auto r = co_await (rx.next() || t.async_wait(asio::use_awaitable));
  if (r.index() == 1) co_return error{errc::timeout, "no event within " + std::to_string(limit.count()) + " ms"};
  co_return std::get<0>(std::move(r));
}

// Collects received contents until `want` of them arrived or `limit` passed.
inline asio::awaitable<std::vector<std::string>> collect(receiver& rx, std::size_t want,
                                                         std::chrono::milliseconds limit) {
  std::vector<std::string> got;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (got.size() < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto ev = co_await next_within(rx, left);
    if (!ev) break;
    if (auto* m = std::get_if<events::received>(&*ev)) got.push_back(to_text(m->content));
  }
  co_return got;
}

// Waits (polling) until `pred` holds or `limit` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

}  // namespace topicswarm::test_support
