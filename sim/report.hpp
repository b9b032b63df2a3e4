// A scenario's result as JSON (nlohmann::json) and as a readable summary.
#pragma once

#include "sim/scenario.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace topicswarm::sim {

nlohmann::json to_json(const broadcast_metrics& b);
nlohmann::json to_json(const overlay_metrics& o);
nlohmann::json to_json(const network_counters& c);
nlohmann::json to_json(const scenario_result& r);
std::string to_text(const scenario_result& r);

}  // namespace topicswarm::sim
