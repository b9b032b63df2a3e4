// Fuzz target: the hello decoder (net/hello.hpp), the first bytes a peer
// sends after TLS. The input is a hello body (the payload after the kind
// byte). Any input must yield a hello or an error; a hello must list at most
// max_hello_kinds kinds and re-encode to exactly the input (one encoding per
// hello, so no two readings of the same bytes).
#include "net/hello.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace topicswarm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const byte_span body(reinterpret_cast<const std::byte*>(data), size);
  auto h = net::decode_hello(body);
  if (!h) return 0;
  if (h->kinds.size() > net::max_hello_kinds) std::abort();
  bytes frame;
  net::append_hello(frame, *h);
  const byte_span again = byte_span(frame).subspan(net::frame_header_size + 1);
  if (!std::equal(again.begin(), again.end(), body.begin(), body.end())) std::abort();
  return 0;
}
