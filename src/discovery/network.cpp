// Network ids and the network topic (docs/PROTOCOL.md §14).
#include <topicswarm/network.hpp>

#include "crypto/hash.hpp"

namespace topicswarm {

namespace {
constexpr std::string_view network_label = "topicswarm/network/v1";
constexpr std::string_view network_topic_label = "topicswarm/network-topic/v1";
}  // namespace

network_id network_id_from_name(std::string_view name) {
  auto d = crypto::sha512({as_bytes(network_label), as_bytes(name)});
  return *network_id::from_span(byte_span(d).first(32));
}

topic_id network_topic_id(const network_id& network) {
  auto d = crypto::sha512({as_bytes(network_topic_label), network.span()});
  return *topic_id::from_span(byte_span(d).first(32));
}

}  // namespace topicswarm

namespace topicswarm {

const char* to_string(departure_cause c) noexcept {
  switch (c) {
    case departure_cause::graceful:
      return "graceful";
    case departure_cause::purged:
      return "purged";
    case departure_cause::evicted:
      return "evicted";
  }
  return "?";
}

}  // namespace topicswarm
