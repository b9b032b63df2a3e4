// Fuzz target: the admission frame decoder (admission/admission.hpp), what a
// peer sends on frame kind 6 before any topic frame. Any input must yield a
// message or an error; a message must re-encode to exactly the input (one
// encoding per message). Decoded messages are also fed to an admission
// state that is in one topic: whatever they say, it must not admit the
// sender (no input can carry a valid proof for a key the fuzzer lacks),
// and it must close the peer once its failures pass the bound.
#include "admission/admission.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace topicswarm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const byte_span body(reinterpret_cast<const std::byte*>(data), size);
  auto m = admission::wire::decode(body);
  if (!m) return 0;
  const bytes again = admission::wire::encode(*m);
  if (!std::equal(again.begin(), again.end(), body.begin(), body.end())) std::abort();

  static const node_id me = *node_id::from_span(bytes(32, std::byte{1}));
  static const node_id peer = *node_id::from_span(bytes(32, std::byte{2}));
  static const secret_hash key = *secret_hash::from_span(bytes(32, std::byte{3}));
  admission::config cfg;
  cfg.max_failures = 2;
  admission::state st(me, cfg);
  // The topic the fuzzer's input most likely names: the one in the message.
  const topic_id topic = std::visit([](const auto& v) { return v.topic; }, *m);
  st.add_topic(topic, key);
  std::vector<admission::out::output> out;
  admission::link l;
  l.id = 1;
  st.handle(admission::in::link_up{peer, l}, core::instant{}, out);
  for (int i = 0; i < 4; ++i) st.handle(admission::in::received{peer, l, *m}, core::instant{}, out);
  if (st.admitted(peer, topic)) std::abort();
  std::size_t closes = 0;
  for (const auto& o : out) closes += std::holds_alternative<admission::out::close>(o) ? 1 : 0;
  const bool is_proof = std::holds_alternative<admission::wire::proof>(*m);
  if (closes != (is_proof ? 1u : 0u)) std::abort();  // 4 bad proofs > 2 allowed: closed exactly once
  return 0;
}
