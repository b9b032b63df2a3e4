#include "cli/support/dht_options.hpp"

namespace topicswarm::cli {

result<void> enable_dht(node_config& cfg, const std::vector<std::string>& bootstrap, const std::string& dht_listen) {
  bool all_loopback = !bootstrap.empty();
  for (const auto& b : bootstrap) {
    const auto colon = b.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == b.size())
      return error{errc::invalid_argument, "bad --bootstrap \"" + b + "\" (expected HOST:PORT)"};
    const auto host = b.substr(0, colon);
    if (!(host.starts_with("127.") || host == "[::1]" || host == "localhost")) all_loopback = false;
  }
  const std::string listen = !dht_listen.empty() ? dht_listen : all_loopback ? "127.0.0.1:0" : "0.0.0.0:0";
  if (auto ep = endpoint::parse(listen); !ep)
    return error{errc::invalid_argument,
                 "bad --dht-listen \"" + listen + "\" (expected IP:PORT): " + ep.error().message()};
  cfg.dht.enabled = true;
  if (!bootstrap.empty()) cfg.dht.client.bootstrap = bootstrap;
  cfg.dht.client.listen = {listen};
  return {};
}

}  // namespace topicswarm::cli
