// The host's own interface addresses (getifaddrs), for nodes that listen on
// an unspecified address and advertise what their interfaces carry
// (node_config::advertise_interfaces). IO: used by the shell only.
#pragma once

#include <topicswarm/endpoint.hpp>

#include <cstdint>
#include <vector>

namespace topicswarm::detail {

// Addresses of family `fam` on interfaces that are up, each with `port`, in
// a stable order: loopback ones only when there is no other, IPv6
// link-local ones never (they need a scope id an endpoint does not carry).
std::vector<endpoint> interface_addresses(endpoint::family fam, std::uint16_t port);

}  // namespace topicswarm::detail
