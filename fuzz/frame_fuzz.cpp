// Fuzz target: the stream framing of TLS connections (net/frame.hpp) and the
// gossip decoder behind it, as a connection's reader runs them.
//  - The first input byte picks a read size; the rest is the byte stream,
//    delivered in reads of that size (as a socket might) and, separately, all
//    at once. Both must yield the same frames and the same final error:
//    framing must not depend on how the stream was split.
//  - Every frame is non-empty and within the maximum; gossip and hello frames
//    go through their decoders (which must not crash on any of them).
#include "gossip/codec.hpp"
#include "net/frame.hpp"
#include "net/hello.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace topicswarm;

namespace {

constexpr std::size_t max_message = 4096;

struct outcome {
  std::vector<bytes> frames;
  bool failed = false;
};

outcome run(byte_span stream, std::size_t read_size) {
  net::frame_reader reader(1 + gossip::max_encoded_size(max_message));
  outcome o;
  std::size_t pos = 0;
  while (pos < stream.size() && !o.failed) {
    const std::size_t n = std::min(read_size, stream.size() - pos);
    auto buf = reader.prepare(n);
    std::memcpy(buf.data(), stream.data() + pos, n);
    reader.commit(n);
    pos += n;
    for (;;) {
      auto f = reader.next();
      if (!f) {
        o.failed = true;
        break;
      }
      if (!*f) break;
      const byte_span payload = **f;
      if (payload.empty() || payload.size() > reader.max_payload()) std::abort();
      o.frames.emplace_back(payload.begin(), payload.end());
      if (static_cast<net::frame_kind>(payload[0]) == net::frame_kind::gossip)
        (void)gossip::decode(payload.subspan(1), max_message);
      else if (static_cast<net::frame_kind>(payload[0]) == net::frame_kind::hello)
        (void)net::decode_hello(payload.subspan(1));
    }
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t read_size = 1 + data[0] % 64;
  const byte_span stream(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  const auto chunked = run(stream, read_size);
  const auto whole = run(stream, stream.size() + 1);
  if (chunked.frames != whole.frames || chunked.failed != whole.failed) std::abort();
  return 0;
}
