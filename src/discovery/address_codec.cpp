#include "discovery/address_codec.hpp"

#include <algorithm>
#include <array>

namespace topicswarm::discovery {

namespace {
bool unspecified(const endpoint& e) noexcept {
  const std::size_t n = e.is_v4() ? 4 : 16;
  return std::all_of(e.ip.begin(), e.ip.begin() + static_cast<std::ptrdiff_t>(n),
                     [](std::uint8_t b) { return b == 0; });
}
}  // namespace

bool encodable(const endpoint& e) noexcept { return e.port != 0 && (e.is_v4() || e.is_v6()) && !unspecified(e); }

void encode_endpoint(core::byte_writer& w, const endpoint& e) {
  w.put_u8(static_cast<std::uint8_t>(e.fam));
  const std::size_t n = e.is_v4() ? 4 : 16;
  w.put(std::as_bytes(std::span(e.ip.data(), n)));
  w.put_u16(e.port);
}

std::optional<endpoint> decode_endpoint(core::byte_reader& r) {
  const auto fam = r.get_u8();
  if (!r.ok() || (fam != 4 && fam != 6)) return std::nullopt;
  endpoint e;
  e.fam = fam == 4 ? endpoint::family::v4 : endpoint::family::v6;
  const std::size_t n = fam == 4 ? 4 : 16;
  r.get(std::as_writable_bytes(std::span(e.ip.data(), n)));
  e.port = r.get_u16();
  if (!r.ok() || !encodable(e)) return std::nullopt;
  return e;
}

}  // namespace topicswarm::discovery
