// `topicswarm bench broadcast`: placeholder registration, replaced by the full command.
#include "cli/commands.hpp"

#include <CLI/CLI.hpp>

namespace topicswarm::cli {
void register_broadcast_bench(CLI::App&) {}
}  // namespace topicswarm::cli
