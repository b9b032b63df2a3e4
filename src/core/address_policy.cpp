#include "core/address_policy.hpp"

#include <algorithm>
#include <array>
#include <initializer_list>

namespace topicswarm::core {
namespace {

// Whether the first `bits` bits of `a` equal those of `prefix` (big-endian
// bytes; `prefix` holds at least ceil(bits / 8) bytes).
bool in_prefix(const std::uint8_t* a, std::initializer_list<std::uint8_t> prefix, unsigned bits) noexcept {
  const std::uint8_t* p = prefix.begin();
  for (unsigned i = 0; i < bits / 8; ++i)
    if (a[i] != p[i]) return false;
  if (const unsigned rest = bits % 8; rest != 0) {
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    if ((a[bits / 8] & mask) != (p[bits / 8] & mask)) return false;
  }
  return true;
}

address_class classify_v4(const std::uint8_t* a) noexcept {
  if (in_prefix(a, {0}, 8)) return address_class::unspecified;  // "this network": no host to dial
  if (in_prefix(a, {127}, 8)) return address_class::loopback;
  if (in_prefix(a, {169, 254}, 16)) return address_class::link_local;
  if (in_prefix(a, {10}, 8) || in_prefix(a, {172, 16}, 12) || in_prefix(a, {192, 168}, 16) ||
      in_prefix(a, {100, 64}, 10))
    return address_class::private_network;
  if (in_prefix(a, {224}, 4)) return address_class::multicast;
  if (in_prefix(a, {255, 255, 255, 255}, 32)) return address_class::broadcast;
  if (in_prefix(a, {240}, 4)) return address_class::reserved;
  return address_class::public_network;
}

bool is_v4_mapped(const std::array<std::uint8_t, 16>& ip) noexcept {
  return std::all_of(ip.begin(), ip.begin() + 10, [](std::uint8_t b) { return b == 0; }) && ip[10] == 0xff &&
         ip[11] == 0xff;
}

address_class classify_v6(const std::array<std::uint8_t, 16>& ip) noexcept {
  if (is_v4_mapped(ip)) return classify_v4(ip.data() + 12);
  const bool zero15 = std::all_of(ip.begin(), ip.begin() + 15, [](std::uint8_t b) { return b == 0; });
  if (zero15 && ip[15] == 0) return address_class::unspecified;
  if (zero15 && ip[15] == 1) return address_class::loopback;
  const std::uint8_t* a = ip.data();
  if (in_prefix(a, {0xff}, 8)) return address_class::multicast;
  if (in_prefix(a, {0xfe, 0x80}, 10)) return address_class::link_local;
  if (in_prefix(a, {0xfc}, 7) || in_prefix(a, {0xfe, 0xc0}, 10)) return address_class::private_network;
  return address_class::public_network;
}

}  // namespace

address_class classify(const endpoint& e) noexcept {
  return e.is_v4() ? classify_v4(e.ip.data()) : classify_v6(e.ip);
}

std::optional<address_range> range_of(const endpoint& e, bool include_local) noexcept {
  switch (classify(e)) {
    case address_class::public_network: break;
    case address_class::loopback:
    case address_class::link_local:
    case address_class::private_network:
      if (!include_local) return std::nullopt;
      break;
    default: return std::nullopt;
  }
  address_range r{};
  const bool v4 = e.is_v4() || is_v4_mapped(e.ip);
  if (v4) {
    const std::uint8_t* a = e.is_v4() ? e.ip.data() : e.ip.data() + 12;
    r[10] = r[11] = 0xff;
    std::copy(a, a + 3, r.begin() + 12);  // /24
  } else {
    std::copy(e.ip.begin(), e.ip.begin() + 6, r.begin());  // /48
  }
  return r;
}

std::string_view to_string(address_class c) noexcept {
  switch (c) {
    case address_class::unspecified: return "unspecified";
    case address_class::loopback: return "loopback";
    case address_class::link_local: return "link-local";
    case address_class::private_network: return "private";
    case address_class::public_network: return "public";
    case address_class::multicast: return "multicast";
    case address_class::broadcast: return "broadcast";
    case address_class::reserved: return "reserved";
  }
  return "unknown";
}

address_scope scope_of(std::span<const endpoint> own) noexcept {
  address_scope s;
  for (const auto& e : own) {
    switch (classify(e)) {
      case address_class::loopback: s.loopback = true; break;
      case address_class::link_local:
      case address_class::private_network: s.local_network = true; break;
      default: break;  // public: always dialled; unspecified & co: say nothing about our networks
    }
  }
  return s;
}

address_policy::address_policy(std::span<const endpoint> own, overrides o) noexcept {
  const auto s = scope_of(own);
  // A loopback-only node (a testnet) is not on any LAN: it does not dial
  // private addresses, which would leave the machine.
  loopback_ = o.loopback.value_or(s.loopback);
  private_ = o.private_networks.value_or(s.local_network);
}

bool address_policy::allows(const endpoint& e) const noexcept {
  if (e.port == 0) return false;  // nobody listens on port 0
  switch (classify(e)) {
    case address_class::public_network: return true;
    case address_class::loopback: return loopback_;
    case address_class::link_local:
    case address_class::private_network: return private_;
    case address_class::unspecified:
    case address_class::multicast:
    case address_class::broadcast:
    case address_class::reserved: return false;
  }
  return false;
}

}  // namespace topicswarm::core
