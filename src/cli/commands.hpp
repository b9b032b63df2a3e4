// Each group of `topicswarm` subcommands registers itself on the CLI11 app.
// `bench` is the parent of the benchmark subcommands (`bench dht`, ...).
#pragma once

namespace CLI {
class App;
}

namespace topicswarm::cli {

// dht-node, testnet, bench dht
void register_dht_commands(CLI::App& app, CLI::App& bench);
// id (identity tools), record (encode/decode helpers)
void register_identity_commands(CLI::App& app);
// demo
void register_demo_command(CLI::App& app);
// sim (the deterministic simulator's scenarios)
void register_sim_command(CLI::App& app);
// join (a node in one topic: events out, stdin lines broadcast) — cmd_join.cpp
void register_join_command(CLI::App& app);
// bench broadcast (gossip throughput and latency over real nodes) — cmd_bench_broadcast.cpp
void register_broadcast_bench(CLI::App& bench);
// bench join (auto-discovery join times over a local DHT testnet) — cmd_bench_join.cpp
void register_join_bench(CLI::App& bench);
// chat (auto-discovery on the public DHT, interactive) — cmd_join.cpp
void register_chat_command(CLI::App& app);

}  // namespace topicswarm::cli
