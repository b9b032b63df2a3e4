// Fuzz target: topic record decoding (format 2), at both depths.
//  1. The input as a stored DHT value with an attacker-chosen seq (the
//     format checks, the seq bound, HPKE open).
//  2. The input as a plaintext sealed under the real key of the slot read,
//     so the body decoder, the signature check and the timestamp and seq
//     checks see attacker-chosen bytes behind valid encryption.
// Neither may crash, leak or accept a record that does not re-encode to the
// same body.
#include <topicswarm/record.hpp>

#include "crypto/record_format.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

using namespace topicswarm;
namespace rf = topicswarm::crypto::record_format;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const topic_id topic = topic_id_from_name("fuzz");
  static const secret_hash secret = *secret_hash_from_key(std::array<std::byte, 32>{std::byte{0xf2}});
  static const record_codec codec(topic, secret);
  static const std::uint64_t window = 1000;
  static const unsigned slot = 2;
  static const window_secret ws = default_secret_rotation(topic, window, secret);
  static const std::int64_t window_start = static_cast<std::int64_t>(window * 60'000);

  byte_span in(reinterpret_cast<const std::byte*>(data), size);
  // Depth 1: the seq comes from the input's last 8 bytes when there are
  // enough of them (so the fuzzer explores both sides of the window's range).
  std::int64_t seq = window_start;
  if (size >= 8) std::memcpy(&seq, data + size - 8, 8);
  (void)codec.open(in, window, slot, seq);
  (void)codec.open(in, window, slot, window_start + static_cast<std::int64_t>(size));

  if (size <= 900) {
    auto sealed = rf::seal_plain(in, topic, window, slot, ws);
    if (sealed) {
      // Depth 2: read with the seq an honest publisher would have stored
      // (the body's timestamp when it has one), so the checks after the
      // signature are reachable.
      std::int64_t honest = window_start;
      if (size >= 64)
        if (auto b = rf::decode_body(in.first(size - 64))) honest = static_cast<std::int64_t>(b->timestamp_ms);
      auto r = codec.open(*sealed, window, slot, honest);
      if (r) {
        // Accepted: the body must be exactly the canonical encoding, of
        // this window, with a timestamp in its range equal to the seq.
        auto body = rf::encode_body(*r);
        if (body.size() != size - 64 || !std::equal(body.begin(), body.end(), in.begin())) std::abort();
        if (r->window != window || !rf::window_range(window).contains(r->timestamp_ms)) std::abort();
        if (static_cast<std::int64_t>(r->timestamp_ms) != honest) std::abort();
      }
      // The same envelope read as another slot never opens.
      if (codec.open(*sealed, window, slot + 1, honest)) std::abort();
    }
    if (auto b = rf::decode_body(in)) {
      auto again = rf::encode_body(*b);
      if (again.size() != size || !std::equal(again.begin(), again.end(), in.begin())) std::abort();
    }
  }
  return 0;
}
