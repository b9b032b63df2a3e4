#include "net/hello.hpp"

#include <cassert>
#include <string>

namespace topicswarm::net {

void append_hello(bytes& out, const hello& h) {
  assert(h.kinds.size() <= max_hello_kinds);
  const std::size_t start = begin_frame(out, frame_kind::hello);
  out.push_back(static_cast<std::byte>(h.version.major));
  out.push_back(static_cast<std::byte>(h.version.minor));
  out.push_back(static_cast<std::byte>(h.kinds.size()));
  // Ascending by construction: the set is walked in kind order.
  for (unsigned k = 0; k < 256; ++k)
    if (h.kinds.contains(static_cast<frame_kind>(k))) out.push_back(static_cast<std::byte>(k));
  end_frame(out, start);
}

result<hello> decode_hello(byte_span body) {
  if (body.size() < hello_header_size)
    return {errc::malformed_message, "hello of " + std::to_string(body.size()) + " bytes is shorter than its " +
                                         std::to_string(hello_header_size) + "-byte header"};
  hello h;
  h.version.major = std::to_integer<std::uint8_t>(body[0]);
  h.version.minor = std::to_integer<std::uint8_t>(body[1]);
  const std::size_t count = std::to_integer<std::size_t>(body[2]);
  // The count is checked before the kinds are read, so a hostile count
  // costs nothing.
  if (count > max_hello_kinds)
    return {errc::malformed_message, "hello lists " + std::to_string(count) + " frame kinds, more than the " +
                                         std::to_string(max_hello_kinds) + " allowed"};
  if (body.size() != hello_header_size + count)
    return {errc::malformed_message, "hello of " + std::to_string(body.size()) + " bytes, but its count of " +
                                         std::to_string(count) + " kinds needs exactly " +
                                         std::to_string(hello_header_size + count)};
  int previous = -1;
  for (std::size_t i = 0; i < count; ++i) {
    const int k = std::to_integer<int>(body[hello_header_size + i]);
    if (k <= previous)
      return {errc::malformed_message,
              "hello kinds are not strictly ascending: " + std::to_string(k) + " follows " + std::to_string(previous)};
    h.kinds.insert(static_cast<frame_kind>(k));
    previous = k;
  }
  return h;
}

}  // namespace topicswarm::net
