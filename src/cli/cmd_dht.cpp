// `topicswarm dht-node` and `topicswarm testnet` (`bench dht` is in bench/macro).
#include "cli/commands.hpp"
#include "cli/support/testnet.hpp"

#include <topicswarm/dht_client.hpp>
#include <topicswarm/dht_testnet.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <climits>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace topicswarm::cli {
namespace {

using namespace std::chrono_literals;

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// ------------------------------------------------------------ dht-node ---

struct dht_node_options {
  std::string listen;
  std::vector<std::string> bootstrap;
  bool no_bootstrap = false;
  bool testnet = false;
  int interval_s = 10;
};

void run_dht_node(const dht_node_options& o) {
  dht::client_config cfg;
  cfg.listen = {o.listen};
  cfg.testnet = o.testnet;
  if (o.no_bootstrap)
    cfg.bootstrap.clear();
  else if (!o.bootstrap.empty())
    cfg.bootstrap = o.bootstrap;

  asio::io_context io;
  auto started = dht::client::start(io.get_executor(), cfg);
  if (!started) throw std::runtime_error(started.error().message());
  auto client = std::move(*started);

  std::vector<std::string> addrs;
  for (const auto& e : client->listen_endpoints()) addrs.push_back(e.to_string());
  std::printf("dht node listening on %s (bootstrap: %s)\n", join(addrs, ", ").c_str(),
              cfg.bootstrap.empty() ? "none" : join(cfg.bootstrap, ", ").c_str());
  std::fflush(stdout);

  bool stopping = false;
  asio::steady_timer tick(io);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code ec, int sig) {
    if (ec) return;
    std::printf("signal %d: stopping\n", sig);
    std::fflush(stdout);
    stopping = true;
    tick.cancel();
  });

  auto* c = client.get();
  asio::co_spawn(
      io,
      [&, c]() -> asio::awaitable<void> {
        while (!stopping) {
          // A short bounded wait that refreshes and returns the current size.
          int n = co_await c->wait_bootstrapped(INT_MAX, 300ms);
          if (stopping) break;
          std::printf("routing table: %d nodes\n", n);
          std::fflush(stdout);
          tick.expires_after(std::chrono::seconds(o.interval_s));
          co_await tick.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
        }
        signals.cancel();
      },
      asio::detached);
  while (!stopping) {
    io.restart();
    io.run_for(100ms);
  }
  client.reset();  // stops libtorrent; pending work completes as stopped
  io.restart();
  io.run_for(100ms);
}

// ------------------------------------------------------------- testnet ---

struct testnet_options {
  int nodes = 16;
  int port_base = 0;
  bool json = false;
  int ready_timeout_s = 30;
};

void run_testnet(const testnet_options& o) {
  auto net = start_testnet(o.nodes, o.port_base, o.ready_timeout_s);
  if (o.json) {
    nlohmann::json j;
    j["bootstrap"] = net->bootstrap().to_string();
    j["nodes"] = net->bootstrap_list();
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("testnet of %zu nodes ready; bootstrap from %s\n", net->nodes().size(),
                net->bootstrap().to_string().c_str());
    std::printf("nodes: %s\n", join(net->bootstrap_list(), " ").c_str());
  }
  std::fflush(stdout);

  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([](std::error_code, int sig) { std::fprintf(stderr, "testnet: signal %d, stopping\n", sig); });
  io.run();  // until the signal
}

}  // namespace

void register_dht_commands(CLI::App& app) {
  static dht_node_options node_opts;
  auto* node = app.add_subcommand("dht-node", "Run one DHT node until SIGINT/SIGTERM");
  node->add_option("--listen", node_opts.listen, "Address to bind, IP:PORT (e.g. 127.0.0.1:6881)")->required();
  node->add_option("--bootstrap", node_opts.bootstrap,
                   "Node or router to join through, HOST:PORT (repeatable; default: the public Mainline routers)");
  node->add_flag("--no-bootstrap", node_opts.no_bootstrap, "Join through nobody (the first node of a network)");
  node->add_flag("--testnet", node_opts.testnet,
                 "Node of a private testnet off loopback (e.g. in network namespaces): no per-/24 routing rule, "
                 "no per-IP rate limit (implied by a loopback --listen)");
  node->add_option("--interval", node_opts.interval_s, "Seconds between routing-table reports")
      ->check(CLI::Range(1, 3600));
  node->callback([] { run_dht_node(node_opts); });

  static testnet_options net_opts;
  auto* net = app.add_subcommand("testnet", "Run a local DHT testnet on 127.0.0.1 until SIGINT/SIGTERM");
  net->add_option("--nodes", net_opts.nodes, "Number of DHT nodes")->check(CLI::Range(1, 1000));
  net->add_option("--port-base", net_opts.port_base, "Node i listens on port-base + i (0: free ports)")
      ->check(CLI::Range(0, 65535));
  net->add_option("--ready-timeout", net_opts.ready_timeout_s, "Seconds to wait for full routing tables")
      ->check(CLI::Range(1, 600));
  net->add_flag("--json", net_opts.json, "Print one JSON line: {\"bootstrap\": ..., \"nodes\": [...]}");
  net->callback([] { run_testnet(net_opts); });
}

}  // namespace topicswarm::cli
