// Fuzz target: the LAN beacon decoder (lan/beacon.hpp), what anyone on the
// link can send to the beacon port. Any input must yield a beacon or an
// error; a beacon must re-encode to exactly the input. Each input is then
// fed to a beacon state with two topics, from one source several times:
// whatever it says, nothing is found unless one of its tags is that topic's
// own tag for the sender, port and minute; a found address is the source IP
// with the beacon's port; the source's budget holds; nothing is sent (only
// our timer sends).
#include "lan/beacon.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace topicswarm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const byte_span body(reinterpret_cast<const std::byte*>(data), size);
  auto b = lan::decode(body);
  if (b) {
    const bytes again = lan::encode(*b);
    if (!std::equal(again.begin(), again.end(), body.begin(), body.end())) std::abort();
  }
  static const node_id self = *node_id::from_span(bytes(32, std::byte{1}));
  static const topic_id t1 = *topic_id::from_span(bytes(32, std::byte{0x11}));
  static const topic_id t2 = *topic_id::from_span(bytes(32, std::byte{0x12}));
  static const secret_hash sec = *secret_hash::from_span(bytes(32, std::byte{0x21}));
  static const auto k1 = lan::key_for(t1, sec), k2 = lan::key_for(t2, sec);
  static const endpoint source = endpoint::v4({192, 168, 1, 50}, 48654);
  constexpr std::uint32_t minute = 29'000'000;
  const lan::config cfg{};
  lan::state st(cfg, self);
  std::vector<lan::out::output> out;
  core::instant now{};
  st.handle(lan::in::add_topic{t1, k1}, now, minute, out);
  st.handle(lan::in::add_topic{t2, k2}, now, minute, out);
  out.clear();
  for (std::size_t i = 0; i < cfg.source_burst + 4; ++i)
    st.handle(lan::in::datagram{source, bytes(body.begin(), body.end())}, now, minute, out);
  const bool checked = b && b->from != self && (b->minute > minute ? b->minute - minute : minute - b->minute) <= cfg.window_slack;
  if (checked && st.stats().rate_limited != 4) std::abort();  // the source's burst, then nothing
  if (!checked && st.stats().rate_limited != 0) std::abort();
  for (const auto& o : out) {
    if (std::holds_alternative<lan::out::send>(o)) std::abort();
    const auto* f = std::get_if<lan::out::found>(&o);
    if (!f) continue;
    if (!b) std::abort();
    if (f->address.ip != source.ip || f->address.port != b->port || f->peer != b->from) std::abort();
    const auto want = lan::tag_for(f->topic == t1 ? k1 : k2, b->from, b->port, b->minute);
    if (std::none_of(b->tags.begin(), b->tags.end(), [&](const lan::tag& t) { return t == want; })) std::abort();
  }
  return 0;
}
