#include <topicswarm/endpoint.hpp>

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace topicswarm {

endpoint endpoint::v4(std::array<std::uint8_t, 4> a, std::uint16_t port) {
  endpoint e;
  e.fam = family::v4;
  std::copy(a.begin(), a.end(), e.ip.begin());
  e.port = port;
  return e;
}

endpoint endpoint::v6(const std::array<std::uint8_t, 16>& a, std::uint16_t port) {
  endpoint e;
  e.fam = family::v6;
  e.ip = a;
  e.port = port;
  return e;
}

bool endpoint::is_loopback() const noexcept {
  if (is_v4()) return ip[0] == 127;
  for (int i = 0; i < 15; ++i)
    if (ip[i] != 0) return false;
  return ip[15] == 1;
}

std::string endpoint::address_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(is_v4() ? AF_INET : AF_INET6, ip.data(), buf, sizeof buf);
  return buf;
}

std::string endpoint::to_string() const {
  auto a = address_string();
  if (is_v6()) a = "[" + a + "]";
  return a + ":" + std::to_string(port);
}

result<endpoint> endpoint::parse(std::string_view text) {
  auto fail = [&](const std::string& why) {
    return error{errc::invalid_endpoint, "'" + std::string(text) + "': " + why};
  };
  std::string_view host, port_text;
  const bool bracketed = !text.empty() && text.front() == '[';
  if (bracketed) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']' after IPv6 address");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') return fail("expected ':PORT' after ']'");
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("expected HOST:PORT");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return fail("IPv6 addresses must be written as [ADDR]:PORT");
  }
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || p != port_text.data() + port_text.size() || port > 65535)
    return fail("port must be a number from 0 to 65535");

  // inet_pton reads a C string: a NUL inside the host would end it early and
  // let "127.0.0.1\0anything:80" pass as 127.0.0.1:80 (found by fuzz/endpoint_fuzz.cpp).
  if (host.find('\0') != std::string_view::npos) return fail("the address contains a NUL byte");

  endpoint e;
  e.port = static_cast<std::uint16_t>(port);
  std::string h(host);
  // Brackets hold an IPv6 address only (RFC 3986 §3.2.2), so every endpoint
  // has one written form: "[1.2.3.4]:80" is refused, not read as 1.2.3.4:80
  // (found by fuzz/endpoint_fuzz.cpp). An unbracketed host has no ':', so
  // it can only be IPv4.
  if (!bracketed && ::inet_pton(AF_INET, h.c_str(), e.ip.data()) == 1) {
    e.fam = family::v4;
    return e;
  }
  if (bracketed && ::inet_pton(AF_INET6, h.c_str(), e.ip.data()) == 1) {
    e.fam = family::v6;
    return e;
  }
  if (bracketed) return fail("'" + h + "' inside [] is not an IPv6 address");
  return fail("'" + h + "' is not an IPv4 or IPv6 address (host names are not resolved here)");
}

}  // namespace topicswarm
