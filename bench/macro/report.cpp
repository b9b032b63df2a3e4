#include "bench/macro/report.hpp"

#include "bench/macro/figures.hpp"

#include <cstdlib>
#include <fstream>
#include <thread>
#include <utility>

namespace topicswarm::bench {

report_json report_frame(const char* benchmark, report_json parameters) {
  report_json j;
  j["benchmark"] = benchmark;
  j["parameters"] = std::move(parameters);
  return j;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown";
}

double load_average_1m() {
  double load = 0;
  ::getloadavg(&load, 1);
  return load;
}

report_json machine_json(double load_at_start) {
  return {{"nproc", std::thread::hardware_concurrency()},
          {"cpu_model", cpu_model()},
          {"loadavg_1m_at_start", round3(load_at_start)}};
}

}  // namespace topicswarm::bench
