// Fuzz target: the server's ALPN choice (net/alpn.hpp), run by OpenSSL's
// select callback on the ProtocolNameList of an untrusted ClientHello. The
// input is that list. The choice must agree with a second, independent
// reading of RFC 7301 §3.1 (well-formed: every entry 1..255 bytes and inside
// the list; chosen: well-formed and one entry is our protocol), and what it
// returns must be the matching entry itself, inside the input. The input's
// first entry, asked for by name, must be found at its own place; and the
// wire form of any valid name must select that name.
#include "net/alpn.hpp"

#include <cstdint>
#include <string>
#include <string_view>

using namespace topicswarm;

namespace {

struct reading {
  bool well_formed = true;
  std::size_t ours = 0;  // offset of the first entry that is our protocol's name (0: none)
  std::size_t first_len = 0;
};

// RFC 7301 read again, differently: entry by entry from a cursor that
// either lands exactly on the end or the list is bad.
reading read_list(const std::uint8_t* data, std::size_t size) {
  reading r;
  const std::uint8_t* p = data;
  const std::uint8_t* end = data + size;
  while (p != end) {
    const std::size_t len = *p;
    if (len == 0 || static_cast<std::size_t>(end - p) < len + 1) {
      r.well_formed = false;
      return r;
    }
    if (p == data) r.first_len = len;
    if (r.ours == 0 && std::string_view(reinterpret_cast<const char*>(p + 1), len) == net::alpn_protocol)
      r.ours = static_cast<std::size_t>(p + 1 - data);
    p += len + 1;
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const unsigned char> offered(data, size);
  const reading r = read_list(data, size);

  const auto chosen = net::select_alpn(offered, net::alpn_protocol);
  if (chosen.has_value() != (r.well_formed && r.ours != 0)) __builtin_trap();
  if (chosen) {
    if (chosen->data() != data + r.ours || chosen->size() != net::alpn_protocol.size()) __builtin_trap();
    if (!net::alpn_matches(*chosen, net::alpn_protocol)) __builtin_trap();
  }

  // Asking for the first entry by its own name finds that very entry.
  if (r.well_formed && size > 0) {
    const std::string first(reinterpret_cast<const char*>(data + 1), r.first_len);
    const auto again = net::select_alpn(offered, first);
    if (!again || again->data() != data + 1 || again->size() != r.first_len) __builtin_trap();
  }

  // Any 1..255-byte name, put in wire form, selects itself; others have none.
  const std::string_view name(reinterpret_cast<const char*>(data), size);
  const std::string wire = net::alpn_wire(name);
  if (wire.empty() != (size == 0 || size > net::max_alpn_name)) __builtin_trap();
  if (!wire.empty()) {
    const std::span<const unsigned char> w(reinterpret_cast<const unsigned char*>(wire.data()), wire.size());
    const auto self = net::select_alpn(w, name);
    if (!self || self->data() != w.data() + 1 || self->size() != size) __builtin_trap();
  }
  return 0;
}
