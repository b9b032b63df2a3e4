// dht::testnet: N libtorrent DHT nodes on 127.0.0.1, driven through lt_session
// (which holds the libtorrent code): start() synchronously on the caller's
// thread, then one small maintenance thread (see maintenance_interval). The
// mutex serialises that thread with routing_table_sizes().
#include <topicswarm/dht_testnet.hpp>

#include "dht/lt_session.hpp"

#include <sodium.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace topicswarm::dht {
namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Each node pings node 0 and this many other random nodes to start with.
constexpr int extra_seeds = 3;
// Random lookups fill routing tables (DESIGN.md §5: pings alone leave them
// nearly empty). Each not-yet-ready node starts this many, this often.
constexpr int lookups_per_round = 2;
constexpr auto lookup_interval = 200ms;
constexpr auto poll_interval = 25ms;
// A node is "ready" once its routing table holds min(N - 1, 8) nodes: one full
// Kademlia bucket (k = 8, BEP 5), so every lookup from it has k candidates,
// or every other node in a smaller testnet. Measured on 16 nodes (docs/dht-
// notes.md): tables reach 8 after about two lookup rounds and settle at 13-15
// of 15; requiring all 15 would make readiness wait on lookups that happen to
// pass every node, which takes far longer than "filled" needs.
constexpr int ready_bucket = 8;
// After readiness every node keeps making one random lookup this often. Why:
// a client that stops stays in routing tables (libtorrent's own refresh pings
// one node per 5 s), and libtorrent 2.0.8, which ignores ICMP "port
// unreachable", makes every lookup that queries a gone node wait 15 s for it.
// A lookup that queries it notices within 1 s and, with dht_max_fail_count 1
// on loopback, drops it. Measured: a stopped client is gone from every
// testnet table about 2.5 s later when nobody else lists it; while live
// clients still list it, it can keep coming back for 10-20 s (libtorrent marks
// a replacement entry "pinged" when another node merely mentions it).
// Without these lookups every put after a client stopped took 15 s for minutes;
// with them, typically only the first one does.
constexpr auto maintenance_interval = 500ms;

std::uint32_t random_below(std::uint32_t n) { return ::randombytes_uniform(n); }

}  // namespace

class testnet::impl {
 public:
  std::vector<std::unique_ptr<detail::lt_session>> nodes;
  std::vector<endpoint> endpoints;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::thread maintenance;

  ~impl() { shutdown(); }

  void start_maintenance() {
    maintenance = std::thread([this] {
      std::vector<detail::event> events;
      std::unique_lock lock(mutex);
      while (!wake.wait_for(lock, maintenance_interval, [this] { return stopping; })) {
        for (auto& n : nodes) {
          n->random_lookups(1);
          events.clear();
          n->poll(events);  // alerts are off after readiness; this only keeps the queue empty
        }
      }
    });
  }

  // All sessions start stopping at once, then we wait for each: a 16-node
  // teardown takes about as long as one.
  void shutdown() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    if (maintenance.joinable()) maintenance.join();
    for (auto& n : nodes) n->begin_shutdown();
    nodes.clear();
  }

  // Asks every node for stats and waits (bounded) for the answers.
  std::vector<int> sizes(std::chrono::milliseconds budget) {
    std::lock_guard lock(mutex);  // the maintenance thread polls these sessions too
    std::vector<int> out(nodes.size(), -1);
    for (auto& n : nodes) n->request_stats();
    auto deadline = clock::now() + budget;
    std::vector<detail::event> events;
    for (std::size_t k = 0; k < nodes.size(); ++k) {
      while (out[k] < 0) {
        events.clear();
        nodes[k]->poll(events);
        for (auto& e : events)
          if (auto* s = std::get_if<detail::stats_event>(&e)) out[k] = s->routing_nodes;
        if (out[k] >= 0) break;
        auto now = clock::now();
        if (now >= deadline) break;
        nodes[k]->wait(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
      }
    }
    return out;
  }
};

result<std::unique_ptr<testnet>> testnet::start(testnet_config config) {
  const int n = config.nodes;
  if (n < 1 || n > 1000)
    return error{errc::invalid_argument, "testnet size must be 1 to 1000 nodes, got " + std::to_string(n)};
  if (config.port_base != 0 && static_cast<int>(config.port_base) + n - 1 > 65535)
    return error{errc::invalid_argument, "ports " + std::to_string(config.port_base) + ".." +
                                             std::to_string(config.port_base + n - 1) + " go past 65535"};
  auto report = [&](const std::string& s) {
    if (config.progress) config.progress(s);
  };
  auto deadline = clock::now() + config.ready_timeout;

  auto net = std::make_unique<impl>();
  for (int k = 0; k < n; ++k) {
    detail::session_options opts;
    std::uint16_t port = config.port_base == 0 ? 0 : static_cast<std::uint16_t>(config.port_base + k);
    opts.listen = {endpoint::v4({127, 0, 0, 1}, port)};
    opts.loopback = true;
    opts.peer_replies = false;
    auto s = detail::lt_session::open(opts);
    if (!s)
      return error{s.error().code,
                   "testnet node " + std::to_string(k) + " of " + std::to_string(n) + ": " + s.error().detail};
    net->endpoints.push_back(s.value()->listen_endpoints().front());
    net->nodes.push_back(std::move(*s));
  }

  for (int k = 1; k < n; ++k) {
    net->nodes[k]->add_node(net->endpoints[0]);
    for (int j = 0; j < extra_seeds && n > 2; ++j) {
      auto other = random_below(static_cast<std::uint32_t>(n));
      if (static_cast<int>(other) != k) net->nodes[k]->add_node(net->endpoints[other]);
    }
  }

  const int threshold = std::min(n - 1, ready_bucket);
  std::vector<int> sizes(n, 0);
  std::vector<bool> asked(n, false);
  std::vector<detail::event> events;
  // The first pings need a moment to be answered before lookups have anyone to ask.
  auto next_lookups = clock::now() + 100ms;
  int last_ready = -1;
  for (;;) {
    auto now = clock::now();
    if (now >= next_lookups) {
      for (int k = 0; k < n; ++k)
        if (sizes[k] < threshold) net->nodes[k]->random_lookups(lookups_per_round);
      next_lookups = now + lookup_interval;
    }
    for (int k = 0; k < n; ++k)
      if (!asked[k]) {
        net->nodes[k]->request_stats();
        asked[k] = true;
      }
    std::this_thread::sleep_for(poll_interval);
    for (int k = 0; k < n; ++k) {
      events.clear();
      net->nodes[k]->poll(events);  // also drains incoming-query alerts
      for (auto& e : events)
        if (auto* s = std::get_if<detail::stats_event>(&e)) {
          sizes[k] = s->routing_nodes;
          asked[k] = false;
        }
    }
    int ready = static_cast<int>(std::count_if(sizes.begin(), sizes.end(), [&](int s) { return s >= threshold; }));
    if (ready != last_ready) {
      report(std::to_string(ready) + "/" + std::to_string(n) + " nodes ready");
      last_ready = ready;
    }
    if (ready == n) break;
    if (clock::now() >= deadline) {
      std::string laggards;
      for (int k = 0; k < n; ++k)
        if (sizes[k] < threshold)
          laggards += (laggards.empty() ? "" : ", ") + std::string("node ") + std::to_string(k) + " (" +
                      net->endpoints[k].to_string() + ") knows " + std::to_string(sizes[k]);
      return error{errc::testnet_not_ready, std::to_string(n - ready) + " of " + std::to_string(n) +
                                                " nodes know fewer than " + std::to_string(threshold) +
                                                " others after " + std::to_string(config.ready_timeout.count()) +
                                                " ms: " + laggards};
    }
  }
  // Nobody reads these nodes' alerts from now on: only requested stats remain.
  for (auto& s : net->nodes) s->quiet_alerts();
  for (auto& s : net->nodes) s->poll(events);
  net->start_maintenance();
  return std::unique_ptr<testnet>(new testnet(std::move(net)));
}

testnet::testnet(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
testnet::~testnet() = default;

std::vector<endpoint> testnet::nodes() const { return impl_->endpoints; }

endpoint testnet::bootstrap() const { return impl_->endpoints.front(); }

std::vector<std::string> testnet::bootstrap_list() const {
  std::vector<std::string> out;
  for (const auto& e : impl_->endpoints) out.push_back(e.to_string());
  return out;
}

std::vector<int> testnet::routing_table_sizes() const { return impl_->sizes(2s); }

}  // namespace topicswarm::dht
