// `topicswarm bench join`: placeholder registration, replaced by the benchmark.
#include "cli/commands.hpp"

#include <CLI/CLI.hpp>

namespace topicswarm::cli {
void register_join_bench(CLI::App&) {}
}  // namespace topicswarm::cli
