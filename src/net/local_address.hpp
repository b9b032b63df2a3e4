// Whether an address is still one of the machine's own. A socket bound to an
// address that has left every interface (a readdressed network, a DHCP lease
// gone) keeps its address but can no longer send or receive: the transport
// closes such connections, the DHT client forgets such sockets.
#pragma once

#include <topicswarm/endpoint.hpp>

namespace topicswarm::net {

// False only when binding a UDP socket to `e`'s address (port 0) fails with
// EADDRNOTAVAIL; true for unspecified addresses and on any other outcome
// (never claims an address gone on doubt).
bool address_is_local(const endpoint& e);

}  // namespace topicswarm::net
