// Fuzz target: topic record decoding, at both depths.
//  1. The input as a stored DHT value (envelope checks, HPKE open).
//  2. The input as a plaintext sealed under the real key, so the body decoder
//     and signature check see attacker-chosen bytes behind valid encryption.
// Neither may crash, leak or accept a record that does not re-encode to the
// same body.
#include <topicswarm/record.hpp>

#include "crypto/record_format.hpp"

#include <cstdint>
#include <cstdlib>

using namespace topicswarm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const topic_id topic = topic_id_from_name("fuzz");
  static const secret_hash secret = secret_hash_from(std::string_view("fuzz-secret"));
  static const record_codec codec(topic, secret);
  static const std::uint64_t window = 1000;
  static const window_secret ws = default_secret_rotation(topic, window, secret);

  byte_span in(reinterpret_cast<const std::byte*>(data), size);
  (void)codec.open(in, window);

  if (size <= 900) {
    auto sealed = crypto::record_format::seal_plain(in, topic, window, ws);
    if (sealed) {
      auto r = codec.open(*sealed, window);
      if (r && size >= 64) {
        // Accepted: the body must be exactly the canonical encoding.
        auto body = crypto::record_format::encode_body(*r);
        if (body.size() != size - 64 || !std::equal(body.begin(), body.end(), in.begin())) std::abort();
      }
    }
    if (auto b = crypto::record_format::decode_body(in)) {
      auto again = crypto::record_format::encode_body(*b);
      if (again.size() != size || !std::equal(again.begin(), again.end(), in.begin())) std::abort();
    }
  }
  return 0;
}
