// Fuzz target: catalog entries and departures (discovery/entry.hpp), what
// any member of a network can put in an announce or a sync page. The first
// byte picks the decoder (even: entry, odd: departure), the rest is the
// value. Any input must yield a verified value or an error. A decoded entry
// must respect every bound of peer_entry_limits, and its body must re-encode
// to exactly the bytes before the signature (one encoding per entry), so the
// signature covers what the reader understood. The fuzzer cannot forge
// signatures, so in practice only the error paths and the checks before the
// signature run; a seed corpus of valid values keeps the layout reachable.
#include "discovery/entry.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace topicswarm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const byte_span in(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    auto e = discovery::open_entry(in);
    if (!e) return 0;
    using limits = peer_entry_limits;
    const auto& en = e->entry;
    if (en.addresses.size() > limits::max_addresses || en.tags.size() > limits::max_tags ||
        en.topics.size() > limits::max_topics || in.size() > limits::max_encoded_bytes)
      std::abort();
    const bytes body = discovery::encode_entry_body(en);
    if (body.size() + 64 != in.size() || !std::equal(body.begin(), body.end(), in.begin())) std::abort();
    if (!std::equal(e->encoded.begin(), e->encoded.end(), in.begin(), in.end())) std::abort();
  } else {
    auto d = discovery::open_departure(in);
    if (!d) return 0;
    if (in.size() != discovery::departure_bytes) std::abort();
  }
  return 0;
}
