// auto_discovery: peers that know only a topic name and a secret find each
// other through the DHT, with no address given to anyone.
//
// For a self-contained run, this program starts a small local DHT testnet on
// 127.0.0.1 (real DHT nodes) and three nodes whose DHT clients bootstrap from
// it. In real use, leave `attach_testnet` out and set `cfg.dht.enabled =
// true`: the node then uses the public Mainline DHT.
//
// Each node calls join_with_auto_discovery(); once all three have a
// neighbour, the first one says hello and the others print it. Exit status 0
// means both heard it; the run is bounded (< 40 s).
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
#include <string>
#include <vector>

using namespace topicswarm;
using namespace std::chrono_literals;

namespace {

// The next message received on `rx`, or nothing after `limit`.
asio::awaitable<std::string> next_message(receiver& rx, std::chrono::milliseconds limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer deadline(co_await asio::this_coro::executor, limit);
  for (;;) {
    auto r = co_await (rx.next() || deadline.async_wait(asio::use_awaitable));
    if (r.index() == 1) co_return "";
    auto& ev = std::get<0>(r);
    if (!ev) co_return "";
    if (auto* m = std::get_if<events::received>(&*ev)) co_return to_string(byte_span(m->content));
  }
}

asio::awaitable<int> run(std::vector<node>& nodes) {
  const topic_id tid = topic_id_from_name("auto-discovery-example");
  // Loopback answers in milliseconds: poll the DHT more often than the
  // defaults, which are tuned for the public DHT.
  auto cfg = auto_discovery_config::builder()
                 .no_peers_retry_interval(200ms)
                 .discovery_poll_interval(300ms)
                 .max_poll_interval(1s)
                 .join_timeout(20s)
                 .build();
  if (!cfg) {
    std::fprintf(stderr, "config: %s\n", cfg.error().message().c_str());
    co_return 1;
  }
  std::vector<topic> topics;
  for (auto& n : nodes) {
    auto t = n.join_with_auto_discovery_no_wait(tid, "example-secret", *cfg);
    if (!t) {
      std::fprintf(stderr, "join: %s\n", t.error().message().c_str());
      co_return 1;
    }
    topics.push_back(std::move(*t));
  }
  for (std::size_t i = 0; i < topics.size(); ++i) {
    auto j = co_await topics[i].joined(20s);
    if (!j) {
      std::fprintf(stderr, "node %zu: %s\n", i, j.error().message().c_str());
      co_return 1;
    }
    std::printf("node %zu joined: neighbours %zu, records seen %zu\n", i, topics[i].neighbors().size(),
                topics[i].auto_discovery().records_seen);
  }
  std::vector<receiver> rx;
  for (std::size_t i = 1; i < topics.size(); ++i) rx.push_back(topics[i].subscribe_events());
  // The overlay may still be settling: say hello until both heard it.
  std::vector<bool> heard(rx.size(), false);
  for (int attempt = 0; attempt < 20; ++attempt) {
    const std::string hello = "hello #" + std::to_string(attempt);
    if (auto sent = co_await topics[0].broadcast(to_bytes(hello)); !sent) co_return 1;
    for (std::size_t i = 0; i < rx.size(); ++i) {
      if (heard[i]) continue;
      const auto got = co_await next_message(rx[i], 500ms);
      if (!got.empty()) {
        std::printf("node %zu heard: %s\n", i + 1, got.c_str());
        heard[i] = true;
      }
    }
    if (heard[0] && heard[1]) co_return 0;
  }
  std::fprintf(stderr, "not every node heard the hello\n");
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
  for (int i = 0; i < 3; ++i) {
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
