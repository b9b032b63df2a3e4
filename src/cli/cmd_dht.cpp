// `topicswarm dht-node`, `topicswarm testnet` and `topicswarm bench dht`.
#include "cli/commands.hpp"
#include "cli/machine_info.hpp"
#include "cli/run_support.hpp"

#include <topicswarm/dht_client.hpp>
#include <topicswarm/dht_testnet.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <sodium.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <future>
#include <optional>
#include <thread>

namespace topicswarm::cli {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "topicswarm: %s\n", what.c_str());
  throw CLI::RuntimeError(1);
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

double to_ms(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }


// ------------------------------------------------------------ dht-node ---

struct dht_node_options {
  std::string listen;
  std::vector<std::string> bootstrap;
  bool no_bootstrap = false;
  int interval_s = 10;
};

void run_dht_node(const dht_node_options& o) {
  dht::client_config cfg;
  cfg.listen = {o.listen};
  if (o.no_bootstrap)
    cfg.bootstrap.clear();
  else if (!o.bootstrap.empty())
    cfg.bootstrap = o.bootstrap;

  asio::io_context io;
  auto started = dht::client::start(io.get_executor(), cfg);
  if (!started) fail(started.error().message());
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

std::unique_ptr<dht::testnet> start_testnet(int nodes, int port_base, int timeout_s) {
  if (port_base < 0 || port_base > 65535) fail("--port-base must be 0 to 65535");
  dht::testnet_config tc;
  tc.nodes = nodes;
  tc.port_base = static_cast<std::uint16_t>(port_base);
  tc.ready_timeout = std::chrono::seconds(timeout_s);
  tc.progress = [](const std::string& s) { std::fprintf(stderr, "testnet: %s\n", s.c_str()); };
  auto net = dht::testnet::start(tc);
  if (!net) fail(net.error().message());
  return std::move(*net);
}

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

// ----------------------------------------------------------- bench dht ---

struct bench_options {
  int nodes = 16;
  int ops = 200;
  int concurrency = 16;
  int value_size = 700;
  bool json = false;
};

struct bench_item {
  keypair signer = keypair::generate();
  bytes salt;
  bytes value;
};

std::vector<bench_item> make_items(int n, int value_size) {
  std::vector<bench_item> items(static_cast<std::size_t>(n));
  for (auto& it : items) {
    it.salt.resize(16);
    ::randombytes_buf(it.salt.data(), it.salt.size());
    it.value.resize(static_cast<std::size_t>(value_size));
    ::randombytes_buf(it.value.data(), it.value.size());
  }
  return items;
}

struct latencies {
  std::vector<double> ms;
  double percentile(double p) const {
    if (ms.empty()) return 0;
    auto v = ms;
    std::sort(v.begin(), v.end());
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
    return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
  }
  double max() const { return ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()); }
};

// Runs op(i) for every i in [0, n) with `width` operations in flight; returns
// the wall time. `op` returns true on success.
template <class Op>
std::chrono::nanoseconds run_concurrent(asio::io_context& io, int n, int width, int& failures, Op op) {
  int next = 0;
  auto start = clock::now();
  std::vector<std::future<void>> workers;
  for (int w = 0; w < width; ++w)
    workers.push_back(asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          while (next < n) {
            int i = next++;
            if (!co_await op(i)) ++failures;
          }
        },
        asio::use_future));
  auto done = [&] {
    return std::all_of(workers.begin(), workers.end(),
                       [](auto& f) { return f.wait_for(0s) == std::future_status::ready; });
  };
  while (!done()) {
    io.restart();
    io.run_one_for(20ms);
  }
  auto wall = clock::now() - start;
  for (auto& f : workers) f.get();
  return wall;
}

void run_bench(const bench_options& o) {
  if (o.ops < 1) fail("--ops must be at least 1");
  if (o.concurrency < 1) fail("--concurrency must be at least 1");
  if (o.value_size < 0 || o.value_size > 996) fail("--value-size must be 0 to 996 bytes (BEP 44: 1000 bencoded)");
  if (::sodium_init() < 0) fail("libsodium failed to initialise");

  auto t0 = clock::now();
  auto net = start_testnet(o.nodes, 0, 60);
  auto testnet_ms = to_ms(clock::now() - t0);

  asio::io_context io;
  dht::client_config cfg;
  cfg.listen = {"127.0.0.1:0"};
  cfg.bootstrap = net->bootstrap_list();
  cfg.default_timeout = 10s;
  auto started = dht::client::start(io.get_executor(), cfg);
  if (!started) fail(started.error().message());
  auto c = std::move(*started);
  auto t1 = clock::now();
  int table = run_to_end(io, c->wait_bootstrapped(std::min(o.nodes, 8), 15s));
  auto bootstrap_ms = to_ms(clock::now() - t1);
  if (table < std::min(o.nodes, 8))
    fail("client reached only " + std::to_string(table) + " routing-table nodes within 15 s");

  // Sequential: one operation at a time, for latency.
  auto seq_items = make_items(o.ops, o.value_size);
  latencies put_lat, get_lat;
  int put_failures = 0, get_failures = 0;
  auto seq_put_start = clock::now();
  for (auto& it : seq_items) {
    auto r = run_to_end(io, c->put_mutable(it.signer, it.salt, it.value, 1));
    if (r)
      put_lat.ms.push_back(to_ms(r->elapsed));
    else
      ++put_failures;
  }
  auto seq_put_wall = clock::now() - seq_put_start;
  auto seq_get_start = clock::now();
  for (auto& it : seq_items) {
    auto r = run_to_end(io, c->get_mutable(it.signer.public_key(), it.salt));
    bool ok =
        r.complete && r.item && r.item->value == it.value && r.item->seq == 1 && dht::verify_mutable_item(*r.item);
    if (ok)
      get_lat.ms.push_back(to_ms(r.elapsed));
    else
      ++get_failures;
  }
  auto seq_get_wall = clock::now() - seq_get_start;

  // Concurrent: `concurrency` operations in flight, for throughput.
  auto con_items = make_items(o.ops, o.value_size);
  int con_put_failures = 0, con_get_failures = 0;
  latencies con_put_lat, con_get_lat;
  auto con_put_wall = run_concurrent(io, o.ops, o.concurrency, con_put_failures, [&](int i) -> asio::awaitable<bool> {
    auto& it = con_items[static_cast<std::size_t>(i)];
    auto r = co_await c->put_mutable(it.signer, it.salt, it.value, 1);
    if (r) con_put_lat.ms.push_back(to_ms(r->elapsed));
    co_return r.has_value();
  });
  auto con_get_wall = run_concurrent(io, o.ops, o.concurrency, con_get_failures, [&](int i) -> asio::awaitable<bool> {
    auto& it = con_items[static_cast<std::size_t>(i)];
    auto r = co_await c->get_mutable(it.signer.public_key(), it.salt);
    bool ok = r.complete && r.item && r.item->value == it.value && dht::verify_mutable_item(*r.item);
    if (ok) con_get_lat.ms.push_back(to_ms(r.elapsed));
    co_return ok;
  });

  auto per_s = [&](std::chrono::nanoseconds wall) {
    auto s = std::chrono::duration<double>(wall).count();
    return s > 0 ? o.ops / s : 0.0;
  };
  auto stats = c->stats();
  c.reset();
  auto t2 = clock::now();
  net.reset();
  auto teardown_ms = to_ms(clock::now() - t2);

  nlohmann::json j;
  j["benchmark"] = "dht";
  j["machine"] = {{"nproc", std::thread::hardware_concurrency()}, {"cpu_model", cpu_model()}};
  j["libtorrent"] = dht::dht_engine_version();
  j["nodes"] = o.nodes;
  j["ops"] = o.ops;
  j["concurrency"] = o.concurrency;
  j["value_bytes"] = o.value_size;
  j["testnet_start_ms"] = testnet_ms;
  j["client_bootstrap_ms"] = bootstrap_ms;
  j["testnet_teardown_ms"] = teardown_ms;
  auto lat = [](const latencies& l) {
    return nlohmann::json{{"p50_ms", l.percentile(0.50)}, {"p99_ms", l.percentile(0.99)}, {"max_ms", l.max()}};
  };
  j["put"] = {{"latency", lat(put_lat)},
              {"concurrent_latency", lat(con_put_lat)},
              {"sequential_ops_per_s", per_s(seq_put_wall)},
              {"concurrent_ops_per_s", per_s(con_put_wall)},
              {"failures", put_failures + con_put_failures}};
  j["get"] = {{"latency", lat(get_lat)},
              {"concurrent_latency", lat(con_get_lat)},
              {"sequential_ops_per_s", per_s(seq_get_wall)},
              {"concurrent_ops_per_s", per_s(con_get_wall)},
              {"failures", get_failures + con_get_failures}};
  j["client_counters"] = {{"put_timeouts", stats.put_timeouts},
                          {"get_timeouts", stats.get_timeouts},
                          {"put_failures", stats.put_failures},
                          {"invalid_items", stats.invalid_items}};

  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("DHT benchmark: %d nodes on 127.0.0.1, %d ops, %d-byte values, %d in flight (concurrent)\n", o.nodes,
                o.ops, o.value_size, o.concurrency);
    std::printf("machine: %u cpus, %s; libtorrent %s\n", std::thread::hardware_concurrency(), cpu_model().c_str(),
                dht::dht_engine_version().c_str());
    std::printf("testnet start %.0f ms, client bootstrap %.0f ms, teardown %.0f ms\n\n", testnet_ms, bootstrap_ms,
                teardown_ms);
    std::printf("%-4s %10s %10s %10s %14s %14s %9s\n", "op", "p50 ms", "p99 ms", "max ms", "seq ops/s", "conc ops/s",
                "failures");
    std::printf("%-4s %10.2f %10.2f %10.2f %14.1f %14.1f %9d\n", "put", put_lat.percentile(0.5),
                put_lat.percentile(0.99), put_lat.max(), per_s(seq_put_wall), per_s(con_put_wall),
                put_failures + con_put_failures);
    std::printf("%-4s %10.2f %10.2f %10.2f %14.1f %14.1f %9d\n", "get", get_lat.percentile(0.5),
                get_lat.percentile(0.99), get_lat.max(), per_s(seq_get_wall), per_s(con_get_wall),
                get_failures + con_get_failures);
  }
  std::fflush(stdout);
  if (put_failures + con_put_failures + get_failures + con_get_failures > 0) throw CLI::RuntimeError(2);
}

}  // namespace

void register_dht_commands(CLI::App& app, CLI::App& bench) {
  static dht_node_options node_opts;
  auto* node = app.add_subcommand("dht-node", "Run one DHT node until SIGINT/SIGTERM");
  node->add_option("--listen", node_opts.listen, "Address to bind, IP:PORT (e.g. 127.0.0.1:6881)")->required();
  node->add_option("--bootstrap", node_opts.bootstrap,
                   "Node or router to join through, HOST:PORT (repeatable; default: the public Mainline routers)");
  node->add_flag("--no-bootstrap", node_opts.no_bootstrap, "Join through nobody (the first node of a network)");
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

  static bench_options bench_opts;
  auto* b = bench.add_subcommand("dht", "Put/get latency and throughput against a local DHT testnet");
  b->add_option("--nodes", bench_opts.nodes, "Testnet size")->check(CLI::Range(2, 1000));
  b->add_option("--ops", bench_opts.ops, "Puts (and gets) per phase")->check(CLI::Range(1, 100000));
  b->add_option("--concurrency", bench_opts.concurrency, "Operations in flight in the concurrent phase")
      ->check(CLI::Range(1, 1024));
  b->add_option("--value-size", bench_opts.value_size, "Bytes per value")->check(CLI::Range(0, 996));
  b->add_flag("--json", bench_opts.json, "Print the figures as one JSON object");
  b->callback([] { run_bench(bench_opts); });
}

}  // namespace topicswarm::cli
