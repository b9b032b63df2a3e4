#include "discovery/address_codec.hpp"

#include <algorithm>
#include <cstddef>

namespace topicswarm::discovery {

namespace {

std::size_t ip_size(endpoint::family f) noexcept { return f == endpoint::family::v4 ? 4 : 16; }

bool is_unspecified(const endpoint& e) noexcept {
  auto n = static_cast<std::ptrdiff_t>(ip_size(e.fam));
  return std::all_of(e.ip.begin(), e.ip.begin() + n, [](std::uint8_t b) { return b == 0; });
}

}  // namespace

bool encodable(const endpoint& e) noexcept {
  if (!e.is_v4() && !e.is_v6()) return false;  // an enum value cast from garbage
  return e.port != 0 && !is_unspecified(e);
}

void encode_endpoint(core::byte_writer& w, const endpoint& e) {
  w.put_u8(static_cast<std::uint8_t>(e.fam));
  w.put(std::as_bytes(std::span(e.ip.data(), ip_size(e.fam))));
  w.put_u16(e.port);
}

std::optional<endpoint> decode_endpoint(core::byte_reader& r) {
  auto fam = r.get_u8();
  if (!r.ok()) return std::nullopt;
  endpoint e;
  if (fam == 4)
    e.fam = endpoint::family::v4;
  else if (fam == 6)
    e.fam = endpoint::family::v6;
  else
    return std::nullopt;
  r.get(std::as_writable_bytes(std::span(e.ip.data(), ip_size(e.fam))));
  e.port = r.get_u16();
  if (!r.ok() || !encodable(e)) return std::nullopt;
  return e;
}

}  // namespace topicswarm::discovery
