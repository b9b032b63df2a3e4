// The frame every macro benchmark report shares: its name and parameters
// first, the machine it ran on last (keys in insertion order, so the report
// reads top-down).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace topicswarm::bench {

using report_json = nlohmann::ordered_json;

// {"benchmark": name, "parameters": parameters}; the figures follow.
report_json report_frame(const char* benchmark, report_json parameters);

// The CPU model from /proc/cpuinfo ("unknown" when it is not there).
std::string cpu_model();

// The 1-minute load average (0 when it cannot be read): read at the start of
// a run, it says how busy the shared machine already was.
double load_average_1m();

// {"nproc", "cpu_model", "loadavg_1m_at_start"}, in that order.
report_json machine_json(double load_at_start);

}  // namespace topicswarm::bench
