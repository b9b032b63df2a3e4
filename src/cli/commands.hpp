// Each group of `topicswarm` subcommands registers itself on the CLI11 app.
// `bench` is the parent of the benchmark subcommands (`bench dht`, ...).
#pragma once

namespace CLI {
class App;
}

namespace topicswarm::cli {

// dht-node, testnet — cmd_dht.cpp
void register_dht_commands(CLI::App& app);
// id (identity tools) — cmd_identity.cpp
void register_identity_commands(CLI::App& app);
// demo — cmd_demo.cpp
void register_demo_command(CLI::App& app);
// sim (the deterministic simulator's scenarios) — cmd_sim.cpp
void register_sim_command(CLI::App& app);
// join (a node in one topic: events out, stdin lines broadcast) — cmd_join.cpp
void register_join_command(CLI::App& app);
// chat (auto-discovery on the public DHT, interactive) — cmd_join.cpp
void register_chat_command(CLI::App& app);
// network (membership of a network: catalog events out) — cmd_network.cpp
void register_network_command(CLI::App& app);
// records (read a topic's records from the DHT once) — cmd_records.cpp
void register_records_command(CLI::App& app);
// bench dht, bench broadcast, bench join (run by bench/macro) — cmd_bench.cpp
void register_bench_commands(CLI::App& bench);

}  // namespace topicswarm::cli
