// network_catalog: nodes of one application find each other through the DHT
// bootstrap chain alone and keep a signed catalog of who is there, at which
// addresses, with which tags.
//
// For a self-contained run it starts a small local DHT testnet on 127.0.0.1
// and four nodes whose DHT clients bootstrap from it. In real use, leave
// `attach_testnet` out and set `cfg.dht.enabled = true`: the chain then
// lives in the public Mainline DHT.
//
// Every node joins the network "network-example" with the same secret and
// a tag; the program prints the catalog events of the first node until it
// knows the three others, then stops one node (a graceful departure, which
// the first node reports at once). Exit status 0 means all of that happened;
// the run is bounded (< 40 s).
//
// Only the public API is used: <topicswarm/node.hpp>, <topicswarm/dht_testnet.hpp> and Asio.
#include <topicswarm/dht_testnet.hpp>
#include <topicswarm/node.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

using namespace topicswarm;
using namespace std::chrono_literals;

namespace {

// The next catalog event, or nothing after `limit`.
asio::awaitable<std::optional<network_event>> next_event(network& net, std::chrono::milliseconds limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer deadline(co_await asio::this_coro::executor, limit);
  auto r = co_await (net.next() || deadline.async_wait(asio::use_awaitable));
  if (r.index() == 1) co_return std::nullopt;
  auto& ev = std::get<0>(r);
  if (!ev) co_return std::nullopt;
  co_return *ev;
}

void print(const network_event& ev) {
  if (const auto* d = std::get_if<network_events::peer_discovered>(&ev)) {
    std::printf("discovered %s at %s, tags:", d->entry.node.short_string().c_str(),
                d->entry.addresses.empty() ? "?" : d->entry.addresses.front().to_string().c_str());
    for (const auto& t : d->entry.tags) std::printf(" %s", t.c_str());
    std::printf("\n");
  } else if (const auto* p = std::get_if<network_events::peer_departed>(&ev)) {
    std::printf("departed %s (%s)\n", p->peer.short_string().c_str(), to_string(p->cause));
  }
}

asio::awaitable<int> run(std::vector<node>& nodes) {
  std::vector<network> nets;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    network_config cfg;
    cfg.name = "network-example";
    cfg.secret = "example-secret";
    cfg.tags = {i == 0 ? "observer" : "worker-" + std::to_string(i)};
    // Loopback answers in milliseconds: read the chain more often than the
    // default (5 s), which is tuned for the public DHT.
    cfg.chain_poll_alone = 500ms;
    auto n = co_await nodes[i].join_network(cfg);
    if (!n) {
      std::fprintf(stderr, "node %zu: %s\n", i, n.error().message().c_str());
      co_return 1;
    }
    nets.push_back(std::move(*n));
  }
  // The first node's view: everyone else, found through the DHT alone.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (nets[0].size() < nodes.size() - 1) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "node 0 knows %zu of %zu peers\n", nets[0].size(), nodes.size() - 1);
      co_return 1;
    }
    if (auto ev = co_await next_event(nets[0], 1s)) print(*ev);
  }
  std::printf("catalog of node 0:\n");
  for (const auto& e : nets[0].snapshot()) {
    auto rtt = nets[0].rtt(e.node);
    std::printf("  %s tags=%s rtt=%s\n", e.node.short_string().c_str(), e.tags.empty() ? "-" : e.tags[0].c_str(),
                rtt ? (std::to_string(rtt->srtt.count()) + " us").c_str() : "-");
  }
  // Node 3 leaves: its signed departure reaches node 0 at once.
  const node_id leaving = nodes[3].id();
  nets.pop_back();
  for (int i = 0; i < 50; ++i) {
    auto ev = co_await next_event(nets[0], 200ms);
    if (!ev) continue;
    print(*ev);
    if (const auto* p = std::get_if<network_events::peer_departed>(&*ev); p && p->peer == leaving)
      co_return p->cause == departure_cause::graceful ? 0 : 1;
  }
  std::fprintf(stderr, "node 0 never heard that node 3 left\n");
  co_return 1;
}

}  // namespace

int main() {
  dht::testnet_config tc;
  tc.nodes = 8;
  auto net = dht::testnet::start(tc);
  if (!net) {
    std::fprintf(stderr, "testnet: %s\n", net.error().message().c_str());
    return 1;
  }
  std::vector<node> nodes;
  for (int i = 0; i < 4; ++i) {
    node_config cfg;
    cfg.listen = {*endpoint::parse("127.0.0.1:0")};
    cfg.attach_testnet(**net);
    auto n = node::start(cfg);
    if (!n) {
      std::fprintf(stderr, "node: %s\n", n.error().message().c_str());
      return 1;
    }
    nodes.push_back(std::move(*n));
  }
  asio::io_context io;
  int code = 1;
  asio::co_spawn(io, run(nodes), [&](std::exception_ptr e, int c) { code = e ? 1 : c; });
  io.run();
  nodes.clear();  // stop the nodes before the testnet they use
  return code;
}
