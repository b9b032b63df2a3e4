// Shared by `topicswarm demo` and `topicswarm bench join`: auto-discovery
// settings for a loopback testnet, and the components of the overlay that a
// set of in-process peers forms.
#pragma once

#include <topicswarm/auto_discovery.hpp>
#include <topicswarm/ids.hpp>

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <vector>

namespace topicswarm::cli {

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

// A loopback testnet answers in milliseconds: short deadlines and polls show
// joining at its real speed (the defaults are tuned for the public DHT). The
// same values as the integration tests' quick().
inline auto_discovery_config loopback_discovery_config(std::chrono::milliseconds join_timeout) {
  using namespace std::chrono_literals;
  auto_discovery_config c;
  c.dht.get_timeout = 3s;
  c.dht.put_timeout = 3s;
  c.bootstrap.no_peers_retry_interval = 200ms;
  c.bootstrap.discovery_poll_interval = 300ms;
  c.bootstrap.max_poll_interval = 1s;
  c.join_timeout = join_timeout;
  return c;
}

struct overlay_components {
  std::vector<std::size_t> sizes;  // largest first
  std::size_t outside_links = 0;   // neighbours that are none of the given peers
};

// Components of the graph whose edges are the peers' current neighbours; a
// link either end reports counts. ids[i] is peer i's node id, neighbors[i]
// its neighbours in the topic (empty for a peer that has not joined).
inline overlay_components components_of(const std::vector<node_id>& ids,
                                        const std::vector<std::vector<node_id>>& neighbors) {
  std::map<node_id, std::size_t> index;
  for (std::size_t i = 0; i < ids.size(); ++i) index[ids[i]] = i;
  overlay_components out;
  std::vector<std::vector<std::size_t>> adj(ids.size());
  for (std::size_t i = 0; i < neighbors.size() && i < ids.size(); ++i)
    for (const auto& id : neighbors[i]) {
      auto it = index.find(id);
      if (it == index.end()) {
        ++out.outside_links;
        continue;
      }
      adj[i].push_back(it->second);
      adj[it->second].push_back(i);
    }
  std::vector<bool> seen(ids.size(), false);
  for (std::size_t s = 0; s < ids.size(); ++s) {
    if (seen[s]) continue;
    std::size_t size = 0;
    std::vector<std::size_t> stack{s};
    seen[s] = true;
    while (!stack.empty()) {
      const auto v = stack.back();
      stack.pop_back();
      ++size;
      for (auto w : adj[v])
        if (!seen[w]) {
          seen[w] = true;
          stack.push_back(w);
        }
    }
    out.sizes.push_back(size);
  }
  std::sort(out.sizes.rbegin(), out.sizes.rend());
  return out;
}

}  // namespace topicswarm::cli
