// Which addresses learnt from others a node may dial (docs/PROTOCOL.md §13).
//
// An address from gossip, a record or a catalog entry is a hint: someone
// else's claim. Dialling it costs a TCP connect to wherever it points, so a
// peer that hands out 127.0.0.1:22 or 192.168.1.1:80 could make every member
// probe its own machine or its LAN. The rule: a node dials loopback addresses
// only if it has a loopback address itself, link-local and private ones only
// if it has a link-local or private address itself, public ones always, and
// never an address that cannot name one host (unspecified, multicast,
// broadcast, reserved) or port 0. Either rule can be forced on or off.
//
// Pure: no IO, no interface enumeration. The node's own addresses (listen and
// advertised) say which networks it is on; an unspecified listen address
// (0.0.0.0, ::) says nothing, so a node that only listens there and
// advertises nothing dials public addresses only.
#pragma once

#include <topicswarm/endpoint.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace topicswarm::core {

enum class address_class : std::uint8_t {
  unspecified,      // 0.0.0.0/8, ::
  loopback,         // 127.0.0.0/8, ::1
  link_local,       // 169.254.0.0/16, fe80::/10
  private_network,  // 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7, fec0::/10 (old site-local)
  public_network,   // everything else
  multicast,        // 224.0.0.0/4, ff00::/8
  broadcast,        // 255.255.255.255
  reserved,         // 240.0.0.0/4 except broadcast (never assigned to hosts)
};

// The class of an address; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
// classified as the IPv4 address it maps. The port plays no part.
address_class classify(const endpoint& e) noexcept;
std::string_view to_string(address_class c) noexcept;

// The network an address belongs to for view diversity (docs/PROTOCOL.md §9,
// "Address ranges in the views"): IPv4 /24 and IPv6 /48, as a 16-byte key
// in the IPv4-mapped form for IPv4 so both families share one key space.
// nullopt when the rule does not apply: loopback, link-local and private
// addresses unless `include_local` (a LAN of peers shares one range, and an
// attacker there has easier means), and addresses that name no host.
using address_range = std::array<std::uint8_t, 16>;
std::optional<address_range> range_of(const endpoint& e, bool include_local) noexcept;

// The networks a node is on, from its own addresses.
struct address_scope {
  bool loopback = false;
  bool local_network = false;  // a link-local or private address
};
address_scope scope_of(std::span<const endpoint> own) noexcept;

class address_policy {
 public:
  // A rule forced on (true) or off (false); nullopt: from the node's scope.
  struct overrides {
    std::optional<bool> loopback;
    std::optional<bool> private_networks;  // link-local and private
  };

  // Dials public addresses only.
  address_policy() = default;
  address_policy(std::span<const endpoint> own, overrides o) noexcept;

  // Whether a hint pointing at `e` may be dialled.
  bool allows(const endpoint& e) const noexcept;
  bool allows_loopback() const noexcept { return loopback_; }
  bool allows_private_networks() const noexcept { return private_; }

 private:
  bool loopback_ = false;
  bool private_ = false;
};

}  // namespace topicswarm::core
