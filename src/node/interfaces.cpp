#include "node/interfaces.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace topicswarm::detail {

std::vector<endpoint> interface_addresses(endpoint::family fam, std::uint16_t port) {
  std::vector<endpoint> found, loopback;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return found;
  for (const ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    endpoint e;
    if (fam == endpoint::family::v4 && i->ifa_addr->sa_family == AF_INET) {
      std::array<std::uint8_t, 4> a{};
      std::memcpy(a.data(), &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
      e = endpoint::v4(a, port);
    } else if (fam == endpoint::family::v6 && i->ifa_addr->sa_family == AF_INET6) {
      std::array<std::uint8_t, 16> a{};
      std::memcpy(a.data(), &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
      if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) continue;  // link-local: needs a scope id
      e = endpoint::v6(a, port);
    } else {
      continue;
    }
    (e.is_loopback() ? loopback : found).push_back(e);
  }
  ::freeifaddrs(list);
  auto& out = found.empty() ? loopback : found;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace topicswarm::detail
