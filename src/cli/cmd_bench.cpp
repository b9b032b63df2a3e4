// `topicswarm bench dht|broadcast|join`: the subcommands and their options.
// The benchmarks themselves live in bench/macro; each prints its figures and
// returns the command's exit status.
#include "cli/commands.hpp"

#include "bench/macro/broadcast_bench.hpp"
#include "bench/macro/dht_bench.hpp"
#include "bench/macro/join_bench.hpp"
#include "cli/support/local_swarm.hpp"

#include <topicswarm/node.hpp>

#include <CLI/CLI.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace topicswarm::cli {
namespace {

// A benchmark subcommand: add_options adds its options (bound to one static
// Options value, which CLI11 fills in), then --json, which every benchmark
// has; the callback runs it and lets a non-zero exit status out through
// CLI11 (main returns it).
template <class Options>
void add_bench(CLI::App& parent, const char* name, const char* about, void (*add_options)(CLI::App&, Options&),
               int (*run)(const Options&)) {
  static Options opts;  // one per benchmark: each has its own Options type
  auto* b = parent.add_subcommand(name, about);
  add_options(*b, opts);
  b->add_flag("--json", opts.json, "Print the figures as one JSON object");
  b->callback([run] {
    if (const int status = run(opts); status != 0) throw CLI::RuntimeError(status);
  });
}

void dht_bench_options(CLI::App& b, bench::dht_options& o) {
  b.add_option("--nodes", o.nodes, "Testnet size")->check(CLI::Range(2, 1000));
  b.add_option("--ops", o.ops, "Puts (and gets) per phase")->check(CLI::Range(1, 100000));
  b.add_option("--concurrency", o.concurrency, "Operations in flight in the concurrent phase")
      ->check(CLI::Range(1, 1024));
  b.add_option("--value-size", o.value_size, "Bytes per value")->check(CLI::Range(0, 996));
}

void broadcast_bench_options(CLI::App& b, bench::broadcast_options& o) {
  b.add_option("--nodes", o.nodes, "Nodes in the overlay (node 0 publishes)")->check(CLI::Range(2, 50));
  b.add_option("--size", o.size, "Bytes per message (gossip.max_message_size is set to max(4096, size))")
      ->check(CLI::Range(bench::broadcast_header_bytes, bench::broadcast_max_size));
  b.add_option("--count", o.count, "Messages in the full-speed phase")
      ->check(CLI::Range(std::uint64_t{1}, bench::broadcast_max_count));
  b.add_option("--rate", o.rate, "Messages per second in the fixed-rate phase")->check(CLI::Range(1.0, 1e6));
  b.add_option("--rate-count", o.rate_count, "Messages in the fixed-rate phase (0: skip it)")
      ->check(CLI::Range(std::uint64_t{0}, bench::broadcast_max_count));
  b.add_option("--receiver-threads", o.receiver_threads,
               "Threads running the receiver loops (receivers are spread over them)")
      ->check(CLI::Range(1, 50));
  b.add_option("--event-queue", o.event_queue,
               "Events buffered per receiver before it gets `lagged` (node_config::event_queue_capacity)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24));
  b.add_option("--backpressure", o.backpressure,
               "Bytes queued on a connection above which broadcast() waits (transport.send_backpressure_bytes)")
      ->check(CLI::Range(std::size_t{1}, node_config{}.transport.max_send_queue_bytes));
  b.add_option("--graft-timeout-ms", o.graft_timeout_ms,
               "PlumTree's first graft wait (gossip.graft_timeout_1); a long one shows the data path without repairs")
      ->check(CLI::Range(1u, 60'000u));
  b.add_option("--seed", o.seed, "Seed of the overlay's shape and the nodes' RNGs (0: random)");
}

void join_bench_options(CLI::App& b, bench::join_options& o) {
  b.footer(
      "Each run has a warm phase (nodes running, DHT clients bootstrapped; times from the join call) and a cold "
      "phase (times from node::start: start + DHT bootstrap + join), each with fresh nodes on a fresh testnet. "
      "sequential: each peer joins once the previous one has a neighbour, the first peer (alone until the second "
      "finds it) is left out of the percentiles; simultaneous: all join calls at once. The overlay counts as "
      "connected when the union of every peer's neighbours is one component.\n\n" +
      describe_loopback_timings(bench::join_discovery_config(o)) +
      ", post_join_check from --post-join-check-ms (default: the library's bootstrap_config::post_join_check); "
      "every other setting is the default.\n\nTargets (warm): sequential p50 <= 20 ms to the first neighbour; "
      "simultaneous with 10 peers p50 <= 300 ms and the overlay connected within 1000 ms. Joining with the passphrase "
      "adds one Argon2id (20-40 ms here) to every join call; --hashed-key leaves it out.");
  b.add_option("--peers", o.peers, "Peers that join the topic")->check(CLI::Range(2, 50));
  b.add_option("--dht-nodes", o.dht_nodes, "DHT nodes in each testnet")->check(CLI::Range(4, 128));
  b.add_option("--mode", o.mode,
               "sequential: each peer joins once the previous one has a neighbour (the first peer is left out of "
               "the percentiles); simultaneous: all join calls at once")
      ->check(CLI::IsMember({"sequential", "simultaneous"}));
  b.add_option("--runs", o.runs, "Runs, each with fresh testnets and nodes")->check(CLI::Range(1, 20));
  b.add_option("--post-join-check-ms", o.post_join_check_ms,
               "Auto-discovery's one early merge check after joining (bootstrap_config::post_join_check; 0: off). "
               "Islands formed by simultaneous joins are usually joined by it")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{600'000}));
  b.add_flag("--hashed-key", o.hashed_key,
             "Hash the secret once per phase and join with the key, as an application that keeps its topic key "
             "does (default: join with the passphrase, so each join call pays one Argon2id)");
}

}  // namespace

void register_bench_commands(CLI::App& parent) {
  add_bench(parent, "dht", "Put/get latency and throughput against a local DHT testnet", dht_bench_options,
            bench::run_dht);
  add_bench(parent, "broadcast",
            "Gossip throughput and latency: one publisher, N-1 receivers, in-process nodes on 127.0.0.1",
            broadcast_bench_options, bench::run_broadcast);
  add_bench(parent, "join", "Auto-discovery join times: peers on 127.0.0.1 find each other through a local DHT testnet",
            join_bench_options, bench::run_join);
}

}  // namespace topicswarm::cli
