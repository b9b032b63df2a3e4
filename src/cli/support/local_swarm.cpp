#include "cli/support/local_swarm.hpp"

#include <topicswarm/endpoint.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <thread>

namespace topicswarm::cli {

int dht_ready_nodes(int testnet_nodes) {
  constexpr int enough = 4;
  return std::min(enough, testnet_nodes - 1);
}

node_config loopback_node_config() {
  node_config c;
  c.listen = {*endpoint::parse("127.0.0.1:0")};
  return c;
}

auto_discovery_config loopback_discovery_config(std::chrono::milliseconds join_timeout) {
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

namespace {

// "3 s" for whole seconds, else "200 ms".
std::string duration_text(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + " s" : std::to_string(d.count()) + " ms";
}

}  // namespace

std::string describe_loopback_timings(const auto_discovery_config& c) {
  const auto& get = c.dht.get_timeout;
  const auto& put = c.dht.put_timeout;
  return "Auto-discovery uses loopback timings (the defaults are for the public DHT): DHT get/put timeout " +
         (get == put ? duration_text(get) : duration_text(get) + "/" + duration_text(put)) +
         ", no_peers_retry_interval " + duration_text(c.bootstrap.no_peers_retry_interval) +
         ", discovery_poll_interval " + duration_text(c.bootstrap.discovery_poll_interval) + ", max_poll_interval " +
         duration_text(c.bootstrap.max_poll_interval) + ", join timeout " + duration_text(c.join_timeout);
}

overlay_components components_of(const std::vector<node_id>& ids, const std::vector<std::vector<node_id>>& neighbors) {
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

void stop_all(const std::vector<node*>& nodes) {
  std::vector<std::thread> stoppers;
  for (auto* n : nodes) stoppers.emplace_back([n] { n->stop(); });
  for (auto& s : stoppers) s.join();
}

}  // namespace topicswarm::cli
