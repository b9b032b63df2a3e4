// What benchmark reports say about the machine they ran on.
#pragma once

#include <fstream>
#include <string>

namespace topicswarm::cli {

// The CPU model from /proc/cpuinfo ("unknown" when it is not there).
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown";
}

}  // namespace topicswarm::cli
