// A node's counters as JSON, for `join --json` (the SIGUSR1 "stats" event and
// the "stopped" event): what scripts and the fault and flood tests read to
// see each refusal under its reason.
#pragma once

#include <topicswarm/node.hpp>

#include <nlohmann/json.hpp>

namespace topicswarm::cli {

nlohmann::json stats_json(const node_stats& s);

}  // namespace topicswarm::cli
