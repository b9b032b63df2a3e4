#include "net/local_address.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace topicswarm::net {

bool address_is_local(const endpoint& e) {
  if (std::all_of(e.ip.begin(), e.ip.end(), [](std::uint8_t b) { return b == 0; })) return true;
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (e.fam == endpoint::family::v4) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    std::memcpy(&a->sin_addr, e.ip.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    std::memcpy(&a->sin6_addr, e.ip.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  const int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  const bool gone = ::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0 && errno == EADDRNOTAVAIL;
  ::close(fd);
  return !gone;
}

}  // namespace topicswarm::net
