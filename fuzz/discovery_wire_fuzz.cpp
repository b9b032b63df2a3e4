// Fuzz target: the discovery wire codec (src/discovery/wire.hpp), what a
// network member sends on the discovery frame kind and as announces on the
// network topic. The first input byte picks the decoder (low bit 0: frame
// body, 1: announce); the rest is its input. Any input must yield a value or
// an error without crashing, reading out of bounds or allocating from an
// unchecked count; a decoded value must be valid(), within the documented
// size bound, and re-encode to exactly the input (the format is canonical).
#include "discovery/wire.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace topicswarm;
namespace wire = topicswarm::discovery::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool is_announce = (data[0] & 1) != 0;
  const byte_span in(reinterpret_cast<const std::byte*>(data + 1), size - 1);

  if (is_announce) {
    auto a = wire::decode_announce(in);
    if (!a) return 0;
    if (!wire::valid(*a) || in.size() > wire::limits::max_announce_bytes) std::abort();
    const bytes again = wire::encode_announce(*a);
    if (!std::equal(again.begin(), again.end(), in.begin(), in.end())) std::abort();
    return 0;
  }

  auto m = wire::decode(in);
  if (!m) return 0;
  if (!wire::valid(*m) || in.size() > wire::limits::max_frame_body) std::abort();
  const bytes again = wire::encode(*m);
  if (!std::equal(again.begin(), again.end(), in.begin(), in.end())) std::abort();
  // Appending to a non-empty buffer writes the same bytes after it.
  bytes out(3, std::byte{0x7e});
  if (!wire::encode_to(out, *m) || !std::equal(out.begin() + 3, out.end(), in.begin(), in.end())) std::abort();
  return 0;
}
