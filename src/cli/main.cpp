// The `topicswarm` command: a thin client of the public API.
#include "cli/commands.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  CLI::App app{
      "topicswarm: find peers by topic name through the Mainline DHT and talk over an encrypted gossip "
      "overlay.",
      "topicswarm"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "topicswarm 0.1.0");

  auto* bench = app.add_subcommand("bench", "Run a benchmark and print its figures as JSON");
  bench->require_subcommand(1);

  topicswarm::cli::register_bench_commands(*bench);
  topicswarm::cli::register_dht_commands(app);
  topicswarm::cli::register_identity_commands(app);
  topicswarm::cli::register_demo_command(app);
  topicswarm::cli::register_sim_command(app);
  topicswarm::cli::register_join_command(app);
  topicswarm::cli::register_chat_command(app);
  topicswarm::cli::register_network_command(app);
  topicswarm::cli::register_records_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "topicswarm: %s\n", e.what());
    return 1;
  }
  return 0;
}
