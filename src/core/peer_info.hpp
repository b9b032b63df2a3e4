// A peer and the addresses it may be dialled at: the vocabulary every core
// shares (gossip joins and shuffles, tracker candidates, the address book).
// The addresses are hints: whoever dials them lets TLS prove the node id.
#pragma once

#include <topicswarm/endpoint.hpp>
#include <topicswarm/ids.hpp>

#include <vector>

namespace topicswarm::core {

struct peer_info {
  node_id id;
  std::vector<endpoint> addresses;  // the gossip wire carries at most gossip::limits::max_addresses
  friend bool operator==(const peer_info&, const peer_info&) = default;
};

}  // namespace topicswarm::core
