#include "bench/macro/dht_bench.hpp"

#include "bench/macro/figures.hpp"
#include "bench/macro/report.hpp"
#include "cli/support/coroutines.hpp"
#include "cli/support/testnet.hpp"

#include <topicswarm/bytes.hpp>
#include <topicswarm/dht_client.hpp>
#include <topicswarm/dht_testnet.hpp>
#include <topicswarm/identity.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <nlohmann/json.hpp>

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace topicswarm::bench {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using cli::run_to_end;

// The benchmark cannot measure what it was asked to: the caller reports why.
[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

double to_ms(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

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
    return nearest_rank(v, p);
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

}  // namespace

int run_dht(const dht_options& o) {
  if (o.ops < 1) fail("--ops must be at least 1");
  if (o.concurrency < 1) fail("--concurrency must be at least 1");
  if (o.value_size < 0 || o.value_size > 996) fail("--value-size must be 0 to 996 bytes (BEP 44: 1000 bencoded)");
  if (::sodium_init() < 0) fail("libsodium failed to initialise");

  auto t0 = clock::now();
  auto net = cli::start_testnet(o.nodes, 0, 60);
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
  return put_failures + con_put_failures + get_failures + con_get_failures > 0 ? 2 : 0;
}

}  // namespace topicswarm::bench
