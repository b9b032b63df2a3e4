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

}  // namespace topicswarm::cli
